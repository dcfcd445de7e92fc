"""Training loop: batch augmentation, class-weighted cross-entropy, Adam with warm-up + cosine,
per-epoch checkpoints that resume, progress lines with ETA, and evaluation metrics."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .model import MoodNet, find_imagenet_weights, load_imagenet


@dataclass
class TrainConfig:
    width: float = 0.5
    epochs: int = 6
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    label_smoothing: float = 0.05
    rotate_deg: float = 15.0
    seed: int = 0
    pretrained: bool = True
    # FER+ vote fractions as targets (the FER+ paper's probability scheme) instead of 0/1.
    soft_targets: bool = True
    # Crops jittered as detector boxes vary around a face (scale, shift, aspect, rotation).
    crop_jitter: bool = True
    # Camera-like damage: blur, sensor noise, JPEG re-compression, low resolution, low light.
    degrade: bool = True
    # Exponential moving average of the weights (and BatchNorm statistics) per step; the
    # averaged network is the one returned, evaluated and exported. 0: off.
    weight_average: float = 0.999
    # Distillation: the share of each soft target taken from a teacher's P(happy) (the mean of
    # the cross-validation folds' models, face and mirror image) instead of the FER+ votes.
    # 0: the votes alone. The stage that trains computes the mixed targets (stages.fit).
    teacher_weight: float = 0.0


# Settings added to TrainConfig after runs had been recorded without them, with the value that
# those runs were in effect trained with (weight_average is not here: runs recorded before it
# trained without averaging, which is not its default, so they are trained again).
LATER_SETTINGS = {"teacher_weight": 0.0}


def same_config(recorded: dict | None, cfg: TrainConfig) -> bool:
    """Whether a run recorded with settings `recorded` was trained as `cfg` (LATER_SETTINGS fill
    in what a run recorded before them lacks, so that a new setting does not retrain every
    finished fold)."""
    if recorded is None:
        return False
    return {**LATER_SETTINGS, **recorded} == asdict(cfg)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """One 96x96 image through JPEG at `quality` (PIL, as a webcam's MJPEG would)."""
    import io

    from PIL import Image

    a = (x[0].numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    b = np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(b)[None]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.conv2d(F.pad(x[None], (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))[0]


def degrade(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per image, each with its own chance: Gaussian blur (sigma 0.4-1.6 px), low resolution
    (down to 28-60 px and back), low light (gain 0.3-0.75 with a darker gamma), sensor noise
    (sigma 1-5% of full scale), JPEG re-compression (quality 25-90)."""
    n = x.shape[0]
    r = lambda: float(torch.rand(1, generator=g))  # noqa: E731
    out = []
    for i in range(n):
        xi = x[i]
        if r() < 0.25:
            xi = _blur(xi, 0.4 + 1.2 * r())
        if r() < 0.2:
            side = int(28 + 32 * r())
            xi = F.interpolate(xi[None], size=(side, side), mode="area")
            xi = F.interpolate(xi, size=x.shape[-2:], mode="bilinear", align_corners=False)[0]
        if r() < 0.25:
            xi = (xi * (0.3 + 0.45 * r())).clamp_min(1e-6) ** (1.0 + 0.3 * r())
        if r() < 0.3:
            xi = xi + torch.randn(xi.shape, generator=g) * (0.01 + 0.04 * r())
        xi = xi.clamp(0, 1)
        if r() < 0.3:
            xi = _jpeg(xi, int(25 + 65 * r()))
        out.append(xi)
    return torch.stack(out)


def augment(x: torch.Tensor, g: torch.Generator, cfg: "TrainConfig") -> torch.Tensor:
    """Random rotation, horizontal flip, scale / shift (with crop jitter: the spread of detector
    boxes, and a little aspect change), brightness / contrast / gamma jitter; then, with
    `degrade`, camera-like damage."""
    n = x.shape[0]
    u = lambda lo, hi: torch.rand(n, generator=g) * (hi - lo) + lo  # noqa: E731
    ang = u(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    if cfg.crop_jitter:
        # A detector box around the same face varies by about +-15% in side and +-6% in centre
        # (tests/detection.rs measures BlazeFace against FER framing), boxes are not quite
        # square (aspect +-6%).
        scale = u(0.84, 1.18)
        aspect = u(0.94, 1.06)
        tx, ty = u(-0.07, 0.07), u(-0.07, 0.07)
    else:
        scale = u(0.88, 1.12)
        aspect = torch.ones(n)
        tx, ty = u(-0.08, 0.08), u(-0.08, 0.08)
    sx, sy = scale * aspect, scale / aspect
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack(
        [torch.stack([cos / sx * flip, -sin / sy, tx], 1), torch.stack([sin / sx * flip, cos / sy, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = u(0.7, 1.3).view(n, 1, 1, 1)
    bright = u(-0.12, 0.12).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    gamma = torch.exp(u(-0.3, 0.3)).view(n, 1, 1, 1)
    x = x.clamp_min(1e-6) ** gamma
    return degrade(x, g) if cfg.degrade else x


def class_weights(y: np.ndarray) -> torch.Tensor:
    """Square-root inverse class frequency, normalised to mean 1 (mild re-balancing)."""
    counts = np.bincount(y, minlength=2).astype(np.float64)
    w = 1.0 / np.sqrt(counts)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def metrics(y: np.ndarray, p_happy: np.ndarray) -> dict:
    pred = (p_happy >= 0.5).astype(np.int64)
    cm = np.zeros((2, 2), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    out = {"n": int(len(y)), "accuracy": float((pred == y).mean()), "confusion": cm.tolist()}
    recalls = []
    for c, name in enumerate(["not_happy", "happy"]):
        tp = cm[c, c]
        prec = tp / max(cm[:, c].sum(), 1)
        rec = tp / max(cm[c, :].sum(), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-12)
        out[name] = {"precision": float(prec), "recall": float(rec), "f1": float(f1), "support": int(cm[c].sum())}
        recalls.append(rec)
    out["balanced_accuracy"] = float(np.mean(recalls))
    return out


@torch.no_grad()
def logits_of(model: MoodNet, images: np.ndarray, flip: bool = False, batch: int = 256) -> np.ndarray:
    """N x 2 logits; `flip`: of the horizontally mirrored images."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).unsqueeze(1)
        if flip:
            x = torch.flip(x, dims=[3])
        out.append(model(x.contiguous(memory_format=torch.channels_last)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.float32)


def probs_from_logits(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(happy) of N x 2 logits."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e[:, 1] / e.sum(axis=1)).astype(np.float32)


def predict(model: MoodNet, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return probs_from_logits(logits_of(model, images, batch=batch))


def ece(y: np.ndarray, p_happy: np.ndarray, bins: int = 15) -> tuple[float, list[dict]]:
    """Expected calibration error of P(happy) (15 equal-width bins: |observed happy rate - mean
    P(happy)| weighted by the bin's share), and the reliability diagram's bins."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p_happy, edges[1:-1]), 0, bins - 1)
    total, rows = 0.0, []
    for b in range(bins):
        m = idx == b
        if not m.any():
            rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": 0})
            continue
        conf, freq = float(p_happy[m].mean()), float(y[m].mean())
        total += m.mean() * abs(freq - conf)
        rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(m.sum()),
                     "mean_p_happy": conf, "happy_rate": freq})
    return float(total), rows


def fit_temperature(y: np.ndarray, logits: np.ndarray, probs=None) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T), or of
    ``probs(T)`` (P(happy) for temperature T) when given."""
    probs = probs or (lambda t: probs_from_logits(logits, t))
    best_t, best = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.4), np.log(4.0), 400)):
        p = probs(float(t)).astype(np.float64)
        nll = -np.mean(np.log(np.where(y == 1, p, 1 - p) + 1e-12))
        if nll < best:
            best_t, best = float(t), nll
    return best_t


class WeightAverage:
    """An exponential moving average of a model's state (weights and BatchNorm statistics), with
    the usual warm-up of the decay (``min(decay, (1 + n) / (10 + n))`` after n updates) so that
    the first steps' random head does not linger."""

    def __init__(self, model: MoodNet, decay: float):
        self.decay = decay
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: MoodNet) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            e = self.state[k]
            if e.dtype.is_floating_point:
                e.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                e.copy_(v)

    def model(self, width: float) -> MoodNet:
        m = MoodNet(width).to(memory_format=torch.channels_last)
        m.load_state_dict(self.state)
        return m.eval()


def _val_record(model: MoodNet, x_val: np.ndarray, y_val: np.ndarray, prefix: str = "") -> dict:
    p = predict(model, x_val)
    m = metrics(y_val, p)
    eps = 1e-7
    return {f"{prefix}val_loss": float(-np.mean(np.log(np.where(y_val == 1, p, 1 - p) + eps))),
            f"{prefix}val_acc": m["accuracy"], f"{prefix}val_bal_acc": m["balanced_accuracy"]}


def fit(
    cfg: TrainConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    workdir: Path,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    label: str = "",
    s_train: np.ndarray | None = None,
) -> tuple[MoodNet, list[dict]]:
    """Train (resuming from ``workdir/ckpt.pt`` when present) and return the model (the weight
    average when ``cfg.weight_average``) and per-epoch history (with a weight average, the
    validation figures of the plain weights too, as ``raw_val_*``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = MoodNet(cfg.width).to(memory_format=torch.channels_last)
    if cfg.pretrained:
        load_imagenet(model, find_imagenet_weights())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(len(x_train) // cfg.batch, 1)
    total = steps_per_epoch * cfg.epochs
    warm = min(cfg.warmup_steps, total // 4 + 1)

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(total - warm, 1)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    avg = WeightAverage(model, cfg.weight_average) if cfg.weight_average > 0 else None
    history: list[dict] = []
    start_epoch = 0
    ckpt = workdir / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if same_config(state.get("config"), cfg):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            history = state["history"]
            start_epoch = state["epoch"]
            if avg is not None:
                avg.state, avg.updates = state["average"], state["average_updates"]
            print(f"[{label}] resuming after epoch {start_epoch}", flush=True)
    wts = class_weights(y_train)
    g = torch.Generator().manual_seed(cfg.seed * 1000 + start_epoch)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    soft = cfg.soft_targets and s_train is not None
    st = torch.from_numpy(s_train.astype(np.float32)) if soft else None
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        t0 = time.time()
        seen, loss_sum, correct = 0, 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch : (b + 1) * cfg.batch]
            xb = augment(xt[idx].unsqueeze(1), g, cfg).contiguous(memory_format=torch.channels_last)
            yb = yt[idx]
            logits = model(xb)
            if st is not None:
                # Cross-entropy against the vote distribution, each image weighted by its class.
                sb = st[idx]
                target = torch.stack([1 - sb, sb], 1)
                per = -(target * F.log_softmax(logits, 1)).sum(1)
                loss = (per * wts[yb]).sum() / wts[yb].sum()
            else:
                loss = F.cross_entropy(logits, yb, weight=wts, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if avg is not None:
                avg.update(model)
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            if (b + 1) % 50 == 0 or b + 1 == steps_per_epoch:
                el = time.time() - t0
                rate = seen / max(el, 1e-9)
                left = (steps_per_epoch - b - 1) * cfg.batch / rate + (cfg.epochs - epoch - 1) * steps_per_epoch * cfg.batch / rate
                print(
                    f"[{label}] epoch {epoch + 1}/{cfg.epochs} batch {b + 1}/{steps_per_epoch} "
                    f"loss {loss_sum / seen:.4f} acc {correct / seen:.4f} {rate:.0f} img/s ETA {left / 60:.1f} min",
                    flush=True,
                )
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen, "seconds": time.time() - t0}
        if x_val is not None and y_val is not None and len(x_val):
            rec.update(_val_record(avg.model(cfg.width) if avg else model, x_val, y_val))
            msg = f"val acc {rec['val_acc']:.4f} bal {rec['val_bal_acc']:.4f}"
            if avg is not None:
                rec.update(_val_record(model, x_val, y_val, "raw_"))
                msg += f" (plain weights: acc {rec['raw_val_acc']:.4f} bal {rec['raw_val_bal_acc']:.4f})"
            print(f"[{label}] epoch {epoch + 1} {msg}", flush=True)
        history.append(rec)
        torch.save(
            {"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(),
             "sched": sched.state_dict(), "history": history, "epoch": epoch + 1,
             **({"average": avg.state, "average_updates": avg.updates} if avg else {})},
            ckpt.with_suffix(".tmp"),
        )
        ckpt.with_suffix(".tmp").replace(ckpt)
    (workdir / "history.json").write_text(json.dumps(history, indent=1))
    return (avg.model(cfg.width) if avg else model), history
