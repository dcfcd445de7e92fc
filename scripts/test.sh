#!/usr/bin/env bash
# The test command: installs what is missing, then runs every test (unit, integration with the
# real binary, Python/Rust preprocessing parity, model-factory smoke test) in release mode.
# Tests that need ../shared fail in CI (CI=true) and are skipped with a message elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
exec cargo test --release --locked -- --test-threads 2
