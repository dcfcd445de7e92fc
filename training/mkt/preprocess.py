"""The one preprocessing spec shared by training (here) and inference (Rust, `src/preprocess.rs`).

Spec (also written in `models/MODEL_CARD.md`):

1. Gray: 8-bit luma ``(19595 R + 38470 G + 7471 B + 32768) >> 16`` (ITU-R 601, as PIL's ``convert("L")``).
2. Crop (camera frames only): the detector's box is widened by ``margin`` of its larger side on every
   side, made square around its centre, rounded to whole pixels; pixels outside the frame repeat the
   nearest edge pixel.
3. Resize to 96x96: separable triangle filter with PIL-style support ``max(1, in/out)`` and pixel
   centres at ``i + 0.5``; weights computed in float64, normalised to sum 1; applied in float32 to
   the 8-bit values; no intermediate rounding.
4. Scale: divide by 255 -> float32 in [0, 1], tensor layout [1, 1, 96, 96].
"""

from __future__ import annotations

import numpy as np

SIZE = 96


def gray_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> uint8 HxW with PIL's integer ITU-R 601 luma."""
    rgb = rgb.astype(np.uint32)
    y = (19595 * rgb[..., 0] + 38470 * rgb[..., 1] + 7471 * rgb[..., 2] + 32768) >> 16
    return y.astype(np.uint8)


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """n_out x n_in matrix of the triangle filter; rows sum to 1."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    w = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(np.floor(center - support)), 0)
        hi = min(int(np.ceil(center + support)), n_in)
        for j in range(lo, hi):
            t = 1.0 - abs((j + 0.5 - center) / support)
            if t > 0:
                w[i, j] = t
        w[i] /= w[i].sum()
    return w.astype(np.float32)


def resize_gray(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 HxW -> float32 size x size with values 0..255 (not yet scaled)."""
    h, w = img.shape
    wy = resize_weights(h, size)
    wx = resize_weights(w, size)
    # Horizontal pass first, then vertical, both in float32 (as the Rust side does).
    tmp = img.astype(np.float32) @ wx.T
    return wy @ tmp


def resize_batch(imgs: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 NxHxW (all the same size) -> float32 N x size x size in [0, 1]."""
    n, h, w = imgs.shape
    wy = resize_weights(h, size)
    wx = resize_weights(w, size)
    tmp = imgs.astype(np.float32) @ wx.T
    out = np.einsum("ij,njk->nik", wy, tmp, optimize=True)
    return (out / np.float32(255.0)).astype(np.float32)


def crop_square(gray: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    """Crop the widened square around ``box`` = (x, y, w, h), repeating edge pixels outside the frame."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(np.floor(cx - side / 2.0 + 0.5))
    y0 = int(np.floor(cy - side / 2.0 + 0.5))
    s = max(int(np.floor(side + 0.5)), 1)
    ys = np.clip(np.arange(y0, y0 + s), 0, gray.shape[0] - 1)
    xs = np.clip(np.arange(x0, x0 + s), 0, gray.shape[1] - 1)
    return gray[np.ix_(ys, xs)]


def preprocess(gray: np.ndarray) -> np.ndarray:
    """uint8 HxW face image -> float32 [1, 1, 96, 96] in [0, 1]."""
    out = resize_gray(gray) / np.float32(255.0)
    return out.astype(np.float32)[None, None]


# ONNX metadata_props key: how many views of a photo's face the daemon averages (1, or 2: the
# face and its mirror image, mirrored after this preprocessing); `src/classifier.rs` reads it.
# Camera frames always take one.
PHOTO_VIEWS_KEY = "moodkiosk.photo_views"
