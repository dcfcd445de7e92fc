#!/usr/bin/env bash
# Install what building and testing moodkiosk needs on Debian/Ubuntu (idempotent).
#   scripts/deps.sh          build dependencies (C compiler, libclang for the v4l bindings)
#   scripts/deps.sh --test   also the Python environments used by the parity and training tests
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
command -v cc >/dev/null || need+=(build-essential)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v python3 >/dev/null || need+=(python3)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v strip >/dev/null || need+=(binutils)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (https://rustup.rs, or: apt-get install cargo) and rerun" >&2
  exit 1
fi
if [ "${1:-}" = "--test" ]; then
  if [ ! -x training/.venv/bin/python ] || ! training/.venv/bin/python -c "import torch, torchvision, onnxruntime, matplotlib" 2>/dev/null; then
    training/setup.sh
  fi
fi
