#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, clippy and the module graph,
# then runs every test (unit, integration with the
# real binary, Python/Rust preprocessing parity, model-factory smoke test, packaging) in release
# mode, the Debian package installed and driven under systemd in a Debian container (cross/vm/),
# then builds for aarch64, runs the unit tests and `classify` under qemu (cross/) and the arm64
# package in an arm64 container.
# Tests that need ../shared, the training venv, Chromium or Debian tools are #[ignore = "needs ..."]
# in plain `cargo test`; this runs them all and they fail, naming the fix, when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
# Lint gates first: formatting, clippy (warnings are errors), no cycle between top-level modules.
cargo fmt --check
cargo clippy --release --locked --all-targets -- -D warnings
python3 scripts/module-cycles.py
cargo test --release --locked -- --include-ignored --test-threads 2
# The package as deployed: the amd64 .deb in Debian bookworm with systemd as PID 1 (cross/vm/).
cross/vm/test.sh amd64 target/release/moodkiosk
if [ -x /usr/bin/qemu-aarch64-static ] && [ -x /usr/bin/aarch64-linux-gnu-gcc ] && [ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu ]; then
  cross/build-aarch64.sh
else
  cross/build-aarch64.sh --deps
fi
cross/test-aarch64.sh
# The arm64 .deb in an arm64 Debian guest under qemu: the same scenarios.
cross/vm/test.sh arm64 target/aarch64-unknown-linux-gnu/dist/moodkiosk
