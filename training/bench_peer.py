"""The pipeline a user would pick instead of moodkiosk, timed on the same camera frame.

    training/.venv/bin/python training/bench_peer.py --make-frame FRAME.jpg   # writes the frame
    training/.venv/bin/python training/bench_peer.py --frame FRAME.jpg --yunet YUNET.onnx \
        --model models/moodkiosk-fp32.onnx [--moodkiosk bench.jsonl]

The frame: the sample photo (assets/astronaut.png) scaled to 384x384 on a gray 640x480 canvas,
baseline JPEG quality 85. The peer: OpenCV's `cv2.FaceDetectorYN` (YuNet) at the frame's full
size, then onnxruntime running our own classifier on the largest face (square crop 1.2x the
box, gray, resized to 96x96, in [0, 1]); one thread each (`cv2.setNumThreads(1)`, ORT intra and
inter 1). Per frame: decode (cv2.imdecode, colour as a user would) + detect + crop + classify.
With --moodkiosk (written by `moodkiosk bench --frame FRAME.jpg --save`), prints the ratio of
moodkiosk's per-frame median to the peer's. Figures only; nothing here is asserted by a test.
"""

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort


def make_frame(out: Path) -> None:
    photo = cv2.imread(str(Path(__file__).resolve().parent.parent / "assets" / "astronaut.png"))
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[48:432, 128:512] = cv2.resize(photo, (384, 384), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    out.write_bytes(buf.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-frame", type=Path)
    ap.add_argument("--frame", type=Path)
    ap.add_argument("--yunet", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--moodkiosk", type=Path, help="moodkiosk bench --save output for the same frame")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    a = ap.parse_args()
    if a.make_frame:
        make_frame(a.make_frame)
        return
    if not (a.frame and a.yunet and a.model):
        ap.error("--frame, --yunet and --model are needed")
    cv2.setNumThreads(1)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(a.model), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    data = np.frombuffer(a.frame.read_bytes(), np.uint8)
    first = cv2.imdecode(data, cv2.IMREAD_COLOR)
    h, w = first.shape[:2]
    det = cv2.FaceDetectorYN.create(str(a.yunet), "", (w, h), 0.6, 0.3, 50)
    stages = {"decode": [], "detect": [], "classify": [], "frame": []}
    faces_found = 0
    for i in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        t1 = time.perf_counter()
        _, faces = det.detect(img)
        t2 = time.perf_counter()
        faces_found = 0 if faces is None else len(faces)
        if faces_found:
            x, y, bw, bh = faces[np.argmax(faces[:, 2] * faces[:, 3])][:4]
            side = 1.2 * max(bw, bh)
            cx, cy = x + bw / 2, y + bh / 2
            x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
            crop = cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
            inp = cv2.resize(crop, (96, 96), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            sess.run(None, {name: inp[None, None]})
        t3 = time.perf_counter()
        if i >= a.warmup:
            for k, v in (("decode", t1 - t0), ("detect", t2 - t1), ("classify", t3 - t2), ("frame", t3 - t0)):
                stages[k].append(v * 1e3)
    med = {k: float(np.median(v)) for k, v in stages.items()}
    p90 = float(np.percentile(stages["frame"], 90))
    print(f"peer: OpenCV {cv2.__version__} FaceDetectorYN ({a.yunet.name}, {w}x{h}) + onnxruntime "
          f"{ort.__version__} ({a.model.name}); one thread; {a.runs} timed runs after {a.warmup}; faces found: {faces_found}")
    print(f"peer per frame: median {med['frame']:.3f} ms, p90 {p90:.3f} ms "
          f"(decode {med['decode']:.3f}, detect {med['detect']:.3f}, crop+classify {med['classify']:.3f})")
    if a.moodkiosk:
        rows = [json.loads(l) for l in a.moodkiosk.read_text().splitlines() if l.strip()]
        for r in rows:
            m = r["pipeline"]["median_ms"]
            print(f"moodkiosk ({r.get('detector', '?')}, {Path(r['model']).name}) per frame: median {m:.3f} ms; "
                  f"moodkiosk/peer = {m / med['frame']:.2f}")


if __name__ == "__main__":
    main()
