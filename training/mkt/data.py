"""Data sources -> one table of usable 48x48-or-larger gray faces with a happy / not-happy target.

Three input formats:

* the FER2013 folder layout with ``index.csv`` (``../shared/data/fer2013``),
* Kaggle's ``fer2013.csv`` (emotion, pixels, Usage) with an optional FER+ ``fer2013new.csv``,
* a plain image folder: ``happy/`` + ``not_happy/``, or the seven FER emotion folders.

Every loader returns a :class:`Dataset` whose images are already resized to 96x96 by the shared
preprocessing spec (``preprocess.py``), plus the counts of rows each cleaning rule removed.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from . import preprocess

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FP_COLS = [
    "fp_neutral", "fp_happiness", "fp_surprise", "fp_sadness", "fp_anger",
    "fp_disgust", "fp_fear", "fp_contempt", "fp_unknown", "fp_NF",
]
EMOTION_VOTES = FP_COLS[:8]
# The same list as the daemon's (src/photo.rs IMAGE_EXT: the formats it decodes); tests/parity.rs checks.
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}


@dataclass
class Dataset:
    images: np.ndarray  # float32 N x 96 x 96 in [0, 1]
    target: np.ndarray  # int64 N, 1 = happy
    usage: np.ndarray  # str N: Training / PublicTest / PrivateTest
    group: np.ndarray  # int64 N: duplicate group; unique images get their own id
    ids: np.ndarray  # str N: path or row id, for reports
    removed: dict[str, int] = field(default_factory=dict)
    labels: str = "ferplus"
    # float32 N: P(happy) from the FER+ votes (happiness votes / emotion votes), the FER+ paper's
    # soft target; the hard target where there are no votes.
    soft: np.ndarray | None = None

    def soft_target(self) -> np.ndarray:
        return self.target.astype(np.float32) if self.soft is None else self.soft


def happy_fraction(votes: list[int]) -> float | None:
    """Happiness votes over the eight emotion votes (FER+ order), or None without votes."""
    emo = votes[:8]
    total = sum(emo)
    return None if total == 0 else emo[1] / total


def _happy_from_votes(votes: list[int], threshold: float = 0.5) -> int | None:
    f = happy_fraction(votes)
    return None if f is None else int(f >= threshold)


def select_fer_rows(root: Path, labels: str = "ferplus") -> tuple[list[tuple[dict, int]], dict[str, int]]:
    """The usable rows of ``index.csv`` with their happy target (1/0), and what each rule removed.

    The one place of the FER2013 selection rules: JPEG-only rows, blank images, rows whose FER+
    votes say "not a face", and the happy rule (FER+ votes, or the original label).
    """
    rows = list(csv.DictReader(open(root / "index.csv", newline="")))
    removed = {"jpeg_only": 0, "blank": 0, "not_a_face": 0, "no_ferplus_votes": 0}
    keep = []
    for r in rows:
        if r["source"] == "jpeg_q95_decoded":
            removed["jpeg_only"] += 1
            continue
        if r["blank"] == "1":
            removed["blank"] += 1
            continue
        votes = [int(float(r[c] or 0)) for c in FP_COLS]
        if votes[9] > 0 and votes[9] >= max(votes[:9]):
            removed["not_a_face"] += 1
            continue
        if labels == "ferplus":
            y = _happy_from_votes(votes)
            if y is None:
                removed["no_ferplus_votes"] += 1
                continue
        else:
            y = int(r["fer_class"] == "happy")
        keep.append((r, y))
    return keep, removed


def fer_groups(keep: list[tuple[dict, int]]) -> np.ndarray:
    """Duplicate group per kept row (``dup_group``); rows without one get a group of their own."""
    next_group = 10_000_000
    groups = []
    for r, _ in keep:
        if r["dup_group"]:
            groups.append(int(float(r["dup_group"])))
        else:
            groups.append(next_group)
            next_group += 1
    return np.array(groups, dtype=np.int64)


def load_fer_dir(root: Path, labels: str = "ferplus") -> Dataset:
    """The ``../shared/data/fer2013`` layout (index.csv + PNG files)."""
    keep, removed = select_fer_rows(root, labels)
    n = len(keep)
    raw = np.zeros((n, 48, 48), dtype=np.uint8)
    soft = np.zeros(n, dtype=np.float32)
    for i, (r, y) in enumerate(keep):
        raw[i] = _read_gray(root / r["path"])
        f = happy_fraction([int(float(r[c] or 0)) for c in FP_COLS]) if labels == "ferplus" else None
        soft[i] = y if f is None else f
    return Dataset(
        soft=soft,
        images=preprocess.resize_batch(raw),
        target=np.array([y for _, y in keep], dtype=np.int64),
        usage=np.array([r["usage"] for r, _ in keep]),
        group=fer_groups(keep),
        ids=np.array([r["path"] for r, _ in keep]),
        removed=removed,
        labels=labels,
    )


def write_manifest(path: Path, root: Path, ids: np.ndarray, target: np.ndarray, group: np.ndarray) -> int:
    """The test-set manifest ``moodkiosk eval --manifest`` scores: ``path,label,group`` with paths
    relative to the manifest's folder. Returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        for i, y, g in zip(ids, target, group):
            p = os.path.relpath((Path(root) / str(i)).resolve(), base)
            w.writerow([p, "happy" if int(y) == 1 else "not_happy", int(g)])
    return len(ids)


def load_kaggle_csv(path: Path, ferplus: Path | None = None, labels: str = "ferplus") -> Dataset:
    """Kaggle ``fer2013.csv``; FER+ votes from ``fer2013new.csv`` (same row order) when given."""
    rows = list(csv.DictReader(open(path, newline="")))
    plus = list(csv.DictReader(open(ferplus, newline=""))) if ferplus else None
    if labels == "ferplus" and plus is None:
        labels = "fer"
    removed = {"blank": 0, "not_a_face": 0, "no_ferplus_votes": 0}
    raw, target, usage, ids, md5, soft = [], [], [], [], [], []
    plus_cols = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
    for i, r in enumerate(rows):
        px = np.array(r["pixels"].split(), dtype=np.uint8)
        if px.size != 48 * 48:
            removed["blank"] += 1
            continue
        if px.min() == px.max():
            removed["blank"] += 1
            continue
        y = int(r["emotion"]) == 3
        frac = None
        if plus is not None:
            votes = [int(plus[i].get(c) or 0) for c in plus_cols]
            if votes[9] > 0 and votes[9] >= max(votes[:9]):
                removed["not_a_face"] += 1
                continue
            if labels == "ferplus":
                yv = _happy_from_votes(votes)
                if yv is None:
                    removed["no_ferplus_votes"] += 1
                    continue
                y = yv
                frac = happy_fraction(votes)
        raw.append(px.reshape(48, 48))
        target.append(int(y))
        soft.append(float(y) if frac is None else frac)
        usage.append(r["Usage"])
        ids.append(f"row{i}")
        md5.append(px.tobytes())
    groups = _groups_from_pixels(md5)
    return Dataset(
        soft=np.array(soft, dtype=np.float32),
        images=preprocess.resize_batch(np.stack(raw)),
        target=np.array(target, dtype=np.int64),
        usage=np.array(usage),
        group=groups,
        ids=np.array(ids),
        removed=removed,
        labels=labels,
    )


def load_image_folder(root: Path) -> Dataset:
    """``happy/`` + ``not_happy/`` or seven emotion folders; optional ``Training/`` etc. split folders."""
    items = []
    splits = [d for d in ("Training", "PublicTest", "PrivateTest") if (root / d).is_dir()]
    bases = [(root / s, s) for s in splits] or [(root, "Training")]
    for base, usage in bases:
        for cls_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            name = cls_dir.name.lower()
            if name in ("happy",):
                y = 1
            elif name in ("not_happy", "nothappy", "not-happy") or name in EMOTIONS:
                y = 0
            else:
                continue
            for f in sorted(cls_dir.rglob("*")):
                if f.suffix.lower() in IMAGE_EXT:
                    items.append((f, y, usage))
    removed = {"unreadable": 0, "blank": 0}
    imgs, target, usage, ids, keys = [], [], [], [], []
    for f, y, u in items:
        try:
            g = _read_gray(f)
        except Exception:
            removed["unreadable"] += 1
            continue
        if g.min() == g.max():
            removed["blank"] += 1
            continue
        imgs.append(preprocess.resize_gray(g) / np.float32(255.0))
        target.append(y)
        usage.append(u)
        ids.append(str(f.relative_to(root)))
        keys.append(g.tobytes())
    return Dataset(
        images=np.stack(imgs).astype(np.float32),
        target=np.array(target, dtype=np.int64),
        usage=np.array(usage),
        group=_groups_from_pixels(keys),
        ids=np.array(ids),
        removed=removed,
        labels="folder",
    )


def load(source: Path, labels: str = "ferplus", ferplus: Path | None = None) -> Dataset:
    source = Path(source)
    if source.is_dir() and (source / "index.csv").exists():
        return load_fer_dir(source, labels)
    if source.is_file() and source.suffix == ".csv":
        if ferplus is None and (source.parent / "fer2013new.csv").exists():
            ferplus = source.parent / "fer2013new.csv"
        return load_kaggle_csv(source, ferplus, labels)
    if source.is_dir():
        return load_image_folder(source)
    raise SystemExit(
        f"data source {source} not found: pass ../shared/data/fer2013, a fer2013.csv or an image folder"
    )


def _read_gray(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode in ("L", "I;16", "I"):
            return np.asarray(im.convert("L"))
        return preprocess.gray_from_rgb(np.asarray(im.convert("RGB")))


def _groups_from_pixels(keys: list[bytes]) -> np.ndarray:
    seen: dict[bytes, int] = {}
    out = np.zeros(len(keys), dtype=np.int64)
    for i, k in enumerate(keys):
        out[i] = seen.setdefault(k, len(seen))
    return out


def test_mask(ds: Dataset, test_usage: str = "PrivateTest") -> tuple[np.ndarray, np.ndarray, int]:
    """(train-pool mask, test mask, removed-from-test count): test minus groups seen in training."""
    return test_mask_of(ds.usage, ds.group, test_usage)


def test_mask_of(usage: np.ndarray, group: np.ndarray, test_usage: str = "PrivateTest") -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`test_mask` on the usage and group columns alone."""
    is_test = usage == test_usage
    train_groups = set(group[~is_test].tolist())
    leak = np.array([g in train_groups for g in group]) & is_test
    return ~is_test, is_test & ~leak, int(leak.sum())


def stratified_group_folds(target: np.ndarray, group: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold id per sample; whole duplicate groups stay together, class ratio kept per fold."""
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(group, return_inverse=True)
    g_pos = np.bincount(inv, weights=target, minlength=len(uniq))
    g_n = np.bincount(inv, minlength=len(uniq))
    order = rng.permutation(len(uniq))
    # Largest groups first, then greedily to the fold whose class counts are furthest below target.
    order = order[np.argsort(-g_n[order], kind="stable")]
    fold_pos = np.zeros(k)
    fold_n = np.zeros(k)
    g_fold = np.zeros(len(uniq), dtype=np.int64)
    for g in order:
        p = g_pos[g] / g_n[g]
        # prefer the fold where this group's majority class is most under-represented
        if p >= 0.5:
            cost = fold_pos * 4 + fold_n * 0.01
        else:
            cost = (fold_n - fold_pos) * 4 + fold_n * 0.01
        f = int(np.argmin(cost))
        g_fold[g] = f
        fold_pos[f] += g_pos[g]
        fold_n[f] += g_n[g]
    return g_fold[inv]
