#!/usr/bin/env bash
# Classifier speed through tract (`moodkiosk bench`: per face and per 640x480 frame) and through
# onnxruntime on the same model files, with the int8/fp32 and tract/onnxruntime ratios.
#   scripts/bench.sh [MODEL...]      default: models/moodkiosk-fp32.onnx models/moodkiosk-int8.onnx
#   RUNS=100 scripts/bench.sh        fewer timed runs (default 300, after 30 warm-up runs)
# Figures only: machines are shared and noisy, so nothing here is asserted by a test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then models=("$@"); else models=(models/moodkiosk-fp32.onnx models/moodkiosk-int8.onnx); fi
cargo build --release --locked -q
mkdir -p target
runs=${RUNS:-300}
target/release/moodkiosk bench --runs "$runs" --save target/bench-tract.jsonl "${models[@]}"
if [ -x training/.venv/bin/python ]; then
  echo
  training/.venv/bin/python training/bench_ort.py --runs "$runs" --tract target/bench-tract.jsonl "${models[@]}"
else
  echo "(onnxruntime side skipped: run training/setup.sh for training/.venv)" >&2
fi
