"""Parity helper: print `name,p_happy` for every image in a folder, using the training
preprocessing (mkt/preprocess.py) and onnxruntime. Used by tests/parity.rs.

    python training/parity.py models/moodkiosk-fp32.onnx <folder>
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mkt import preprocess  # noqa: E402


def main() -> None:
    model, folder = sys.argv[1], Path(sys.argv[2])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    for f in sorted(folder.iterdir()):
        with Image.open(f) as im:
            if im.mode == "L":
                g = np.asarray(im)
            else:
                g = preprocess.gray_from_rgb(np.asarray(im.convert("RGB")))
        p = sess.run(["probs"], {"input": preprocess.preprocess(g)})[0][0, 1]
        print(f"{f.name},{p:.7f}")


if __name__ == "__main__":
    main()
