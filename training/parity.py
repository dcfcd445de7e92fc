"""Parity helper: print `name,p_happy` for every image in a folder, using the training
preprocessing (mkt/preprocess.py) and onnxruntime, with the model's photo views (as `moodkiosk
classify` does). Used by tests/parity.rs.

    python training/parity.py models/moodkiosk-fp32.onnx <folder>
    python training/parity.py models/moodkiosk-fp32.onnx --faces classify.jsonl --margin 0.15

The second form crops every face box that `moodkiosk classify --json` found with the training
side's crop (``preprocess.crop_square``) and prints `file#k,p_happy` per face.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mkt import preprocess  # noqa: E402


def gray(f: Path) -> np.ndarray:
    with Image.open(f) as im:
        if im.mode == "L":
            return np.asarray(im)
        return preprocess.gray_from_rgb(np.asarray(im.convert("RGB")))


def main() -> None:
    model = sys.argv[1]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    # Photos: the views the model's metadata names (2: the face and its mirror image, averaged).
    views = int(sess.get_modelmeta().custom_metadata_map.get(preprocess.PHOTO_VIEWS_KEY, "1"))
    one = lambda x: sess.run(["probs"], {"input": np.ascontiguousarray(x)})[0][0, 1]  # noqa: E731

    def p_happy(g: np.ndarray) -> float:
        x = preprocess.preprocess(g)
        return (one(x) + one(x[..., ::-1])) / 2 if views == 2 else one(x)
    if sys.argv[2] == "--faces":
        # The daemon holds the margin as f32 (detector.crop_margin); widen exactly as it does.
        margin = float(np.float32(sys.argv[sys.argv.index("--margin") + 1]))
        for line in open(sys.argv[3]):
            r = json.loads(line)
            g = gray(Path(r["file"]))
            for k, face in enumerate(r["faces"]):
                b = face["box"]
                crop = preprocess.crop_square(g, (b["x"], b["y"], b["w"], b["h"]), margin)
                print(f"{Path(r['file']).name}#{k},{p_happy(crop):.7f}")
        return
    for f in sorted(Path(sys.argv[2]).iterdir()):
        print(f"{f.name},{p_happy(gray(f)):.7f}")


if __name__ == "__main__":
    main()
