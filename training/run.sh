#!/usr/bin/env bash
# Run the whole model factory (or one stage: ./run.sh cv). Log: training/work/train.log
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p work
PYTHONUNBUFFERED=1 exec .venv/bin/python -m mkt "$@" 2>&1 | tee -a work/train.log
