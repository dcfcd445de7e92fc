#!/usr/bin/env bash
# Speed figures, all on one camera frame (the sample photo scaled to 384x384 on a gray 640x480
# canvas, baseline JPEG quality 85, written by training/bench_peer.py):
#   1. moodkiosk per frame (decode + detect + crop + classify) with each detector, and per face,
#      through tract (`moodkiosk bench --frame`);
#   2. the peer a user would pick instead: OpenCV's FaceDetectorYN (YuNet, from ../shared) +
#      onnxruntime on our classifier, one thread, and moodkiosk/peer per frame;
#   3. the classifier through onnxruntime beside tract (training/bench_ort.py).
#   scripts/bench.sh [MODEL...]      default: models/moodkiosk-fp32.onnx models/moodkiosk-int8.onnx
#   RUNS=100 scripts/bench.sh        fewer timed runs (default 300, after 30 warm-up runs)
# Figures only: machines are shared and noisy, so nothing here is asserted by a test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then models=("$@"); else models=(models/moodkiosk-fp32.onnx models/moodkiosk-int8.onnx); fi
cargo build --release --locked -q
mkdir -p target
runs=${RUNS:-300}
py=training/.venv/bin/python
yunet=${YUNET:-../shared/models/facedet/yunet/yunet_n_320_320.onnx}
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); $(nproc) cores;" \
  "flags: $(grep -m1 -o -w -E 'avx512_vnni|avx512f|avx2|fma|avx_vnni|asimddp|asimd' /proc/cpuinfo | sort -u | xargs || true)" \
  "($(grep -m1 -o -w -E 'avx512_vnni|avx_vnni|asimddp' /proc/cpuinfo >/dev/null && echo "integer dot-product kernels available" || echo "no integer dot-product instructions: tract's int8 kernels are slower here"))"
frame=target/bench-frame.jpg
if [ -x "$py" ] && $py -c "import cv2" 2>/dev/null; then
  $py training/bench_peer.py --make-frame "$frame"
else
  echo "(opencv-python-headless missing in training/.venv: scripts/deps.sh --test; bench frame made from the photo by moodkiosk)" >&2
  frame=""
fi
frame_args=()
[ -n "$frame" ] && frame_args=(--frame "$frame")
: > target/bench-tract.jsonl
for det in blazeface seeta; do
  echo
  target/release/moodkiosk bench --runs "$runs" --detector "$det" "${frame_args[@]}" --save target/bench-$det.jsonl "${models[@]}"
  cat target/bench-$det.jsonl >> target/bench-tract.jsonl
done
if [ -n "$frame" ] && [ -f "$yunet" ]; then
  echo
  $py training/bench_peer.py --frame "$frame" --yunet "$yunet" --model "${models[0]}" --runs "$runs" \
    --moodkiosk target/bench-tract.jsonl 2> >(grep -v -E 'onnxruntime|CleanUnusedInitializers' >&2)
elif [ -n "$frame" ]; then
  echo "(peer skipped: no YuNet model at $yunet; set YUNET=)" >&2
fi
if [ -x "$py" ]; then
  echo
  $py training/bench_ort.py --runs "$runs" --tract target/bench-blazeface.jsonl "${models[@]}"
fi
