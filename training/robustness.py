"""How classifier models hold up when the crop or the image differs from FER2013's framing, as
faces from a camera and a detector, or photos from another source, do: the held-out test set
(work/data.npz from the prepare stage) as it is and changed one way at a time, each model through
onnxruntime (one thread). Figures only; nothing here is asserted by a test.

    training/.venv/bin/python training/robustness.py models/moodkiosk-fp32.onnx OLD.onnx
    (an older model: git show <commit>:models/moodkiosk-fp32.onnx > OLD.onnx)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F


def _affine(x: np.ndarray, scale: float = 1.0, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    """Zoom by `scale` (> 1: tighter crop) and shift by (tx, ty) of the half side; edges repeated."""
    t = torch.from_numpy(x).unsqueeze(1)
    theta = torch.tensor([[1 / scale, 0, tx], [0, 1 / scale, ty]], dtype=torch.float32).expand(len(x), 2, 3)
    g = F.affine_grid(theta, list(t.shape), align_corners=False)
    return F.grid_sample(t, g, mode="bilinear", padding_mode="border", align_corners=False)[:, 0].numpy()


def _sharpen(x: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Unsharp mask (5x5 box): FER2013's 48 px faces are soft; a camera's 96 px crops are not."""
    t = torch.from_numpy(x).unsqueeze(1)
    blur = F.conv2d(F.pad(t, (2, 2, 2, 2), mode="replicate"), torch.ones(1, 1, 5, 5) / 25)
    return (t + amount * (t - blur)).clamp(0, 1)[:, 0].numpy()


def _contrast(x: np.ndarray, k: float) -> np.ndarray:
    m = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - m) * k + m, 0, 1)


VARIANTS = {
    "as it is": lambda x: x,
    "crop 15% tighter": lambda x: _affine(x, 1 / 0.85),
    "crop 20% looser": lambda x: _affine(x, 1 / 1.2),
    "crop shifted 8% right and down": lambda x: _affine(x, 1.0, 0.16, 0.16),
    "sharpened": _sharpen,
    "contrast x1.4": lambda x: _contrast(x, 1.4),
}


def _p_happy(path: Path, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return np.array([s.run(["probs"], {"input": xi[None, None]})[0][0, 1] for xi in x], dtype=np.float32)


def _scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    pred = (p >= 0.5).astype(np.int64)
    bal = np.mean([((pred == c) & (y == c)).sum() / max((y == c).sum(), 1) for c in (0, 1)])
    return float((pred == y).mean()), float(bal)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / "work")
    args = ap.parse_args()
    d = np.load(args.work / "data.npz", mmap_mode="r")
    x, y = np.asarray(d["x_test"], dtype=np.float32), np.asarray(d["y_test"])
    print(f"{len(x)} held-out test faces; accuracy / balanced accuracy, onnxruntime", flush=True)
    print("| test faces | " + " | ".join(m.name if m.name != "moodkiosk-fp32.onnx" else str(m) for m in args.models) + " |")
    print("|---|" + "---|" * len(args.models))
    for name, f in VARIANTS.items():
        xv = f(x).astype(np.float32)
        cells = [_scores(y, _p_happy(m, xv)) for m in args.models]
        print(f"| {name} | " + " | ".join(f"{100 * a:.2f}% / {100 * b:.2f}%" for a, b in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
