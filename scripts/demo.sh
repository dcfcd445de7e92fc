#!/usr/bin/env bash
# The demo: builds moodkiosk and runs the daemon on config/demo.toml (replayed sample photo,
# simulated LEDs, journal in ./demo-journal). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
exec cargo run --release --locked -- run --config config/demo.toml
