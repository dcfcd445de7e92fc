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


def augment(x: torch.Tensor, g: torch.Generator, rotate_deg: float) -> torch.Tensor:
    """Random rotation, horizontal flip, small scale / shift, brightness / contrast / gamma jitter."""
    n = x.shape[0]
    u = lambda lo, hi: torch.rand(n, generator=g) * (hi - lo) + lo  # noqa: E731
    ang = u(-rotate_deg, rotate_deg) * math.pi / 180
    scale = u(0.88, 1.12)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    tx, ty = u(-0.08, 0.08), u(-0.08, 0.08)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = u(0.7, 1.3).view(n, 1, 1, 1)
    bright = u(-0.12, 0.12).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    gamma = torch.exp(u(-0.3, 0.3)).view(n, 1, 1, 1)
    return x.clamp_min(1e-6) ** gamma


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
def predict(model: MoodNet, images: np.ndarray, batch: int = 256) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).unsqueeze(1).contiguous(memory_format=torch.channels_last)
        out.append(torch.softmax(model(x), 1)[:, 1].numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def fit(
    cfg: TrainConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    workdir: Path,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    label: str = "",
) -> tuple[MoodNet, list[dict]]:
    """Train (resuming from ``workdir/ckpt.pt`` when present) and return the model and per-epoch history."""
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
    history: list[dict] = []
    start_epoch = 0
    ckpt = workdir / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state.get("config") == asdict(cfg):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            history = state["history"]
            start_epoch = state["epoch"]
            print(f"[{label}] resuming after epoch {start_epoch}", flush=True)
    wts = class_weights(y_train)
    g = torch.Generator().manual_seed(cfg.seed * 1000 + start_epoch)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        t0 = time.time()
        seen, loss_sum, correct = 0, 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch : (b + 1) * cfg.batch]
            xb = augment(xt[idx].unsqueeze(1), g, cfg.rotate_deg).contiguous(memory_format=torch.channels_last)
            yb = yt[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, weight=wts, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += float(loss) * len(idx)
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
            p = predict(model, x_val)
            m = metrics(y_val, p)
            eps = 1e-7
            rec["val_loss"] = float(-np.mean(np.log(np.where(y_val == 1, p, 1 - p) + eps)))
            rec["val_acc"] = m["accuracy"]
            rec["val_bal_acc"] = m["balanced_accuracy"]
            print(f"[{label}] epoch {epoch + 1} val acc {m['accuracy']:.4f} bal {m['balanced_accuracy']:.4f}", flush=True)
        history.append(rec)
        torch.save(
            {"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(),
             "sched": sched.state_dict(), "history": history, "epoch": epoch + 1},
            ckpt.with_suffix(".tmp"),
        )
        ckpt.with_suffix(".tmp").replace(ckpt)
    (workdir / "history.json").write_text(json.dumps(history, indent=1))
    return model, history
