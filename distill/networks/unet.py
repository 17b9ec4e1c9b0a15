"""A U-Net family with an optional temporal block: the fast student and the bundled teacher.

Both take what the paper's student takes, grey frames as raw 0–255 floats, (B, T, 1, H, W), and
return one logit per pixel, (B, T, 1, H, W); a fixed affine scaling is the first layer, so an
exported model needs no preprocessing beyond the 112×112 model view.

* The **fast student** (``fast``) starts with a stride-2 stem and predicts at half resolution (the
  logits are upsampled bilinearly): the LV is a large smooth shape, and half resolution quarters
  the cost of the widest layers. A temporal block, a residual (k, 1, 1) convolution over time at
  the bottleneck, lets each frame see its neighbours, which steadies the area curve; it is not
  causal, so the model is run over a whole clip at once.
* The **wide student** (``wide``, 0.25 M parameters, the bundled ``student-camus``'s): the fast
  student with each level about 1.4× as wide; more capacity for the varied synthetic data of the
  labelled chain (on CAMUS ``val``, Dice about 0.01 higher than ``fast`` trained the same way), at
  about 0.85× its frames per second.
* The **bundled teacher** (``teacher``) is per-frame, twice as wide and one level deeper
  (2.5 M parameters against 0.11 M): capacity to learn the simulator's truth under strong
  domain randomisation, at a cost a 2-core CPU can train in about 20 minutes.
"""

from __future__ import annotations

from typing import TypedDict

import torch
from torch import nn
from torch.nn import functional as F

# Grey levels of echo frames: mostly dark blood and background, bright tissue. Scaling (x - 32) / 50
# (EchoNet's mean and std, roughly) gives inputs of order one.
GREY_MEAN, GREY_STD = 32.0, 50.0


class _Architecture(TypedDict):
    widths: tuple[int, ...]
    stem_stride: int
    temporal_kernel: int  # 0: no temporal block


ARCHITECTURES: dict[str, _Architecture] = {
    "fast": {"widths": (12, 16, 32, 64), "stem_stride": 2, "temporal_kernel": 5},
    "wide": {"widths": (16, 24, 48, 96), "stem_stride": 2, "temporal_kernel": 5},
    "teacher": {"widths": (32, 64, 128, 192, 256), "stem_stride": 2, "temporal_kernel": 0},
}


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Down(nn.Sequential):
    """Halve the size (strided conv), then one more conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(_conv_bn_relu(cin, cout, stride=2), _conv_bn_relu(cout, cout))


class _Up(nn.Module):
    """Project to the skip's width with a 1×1 conv, upsample ×2, add the skip, then a 3×3 conv.

    Adding instead of concatenating keeps the 3×3 conv at the narrow width (half the cost).
    Projecting before upsampling is the same function as after (a bias-free 1×1 conv mixes
    channels, bilinear interpolation mixes pixels; both are linear, so they commute) at a quarter of
    the projection's cost and half the upsampling's: about 10 % of the student's time in onnxruntime."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(cin, cout, 1, bias=False)
        self.fuse = _conv_bn_relu(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.project(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(x + skip)


class _Temporal(nn.Module):
    """Residual convolution over time at every bottleneck pixel: (B·T, C, h, w) → same."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (kernel, 1, 1), padding=(kernel // 2, 0, 0), bias=False)
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, x: torch.Tensor, batch: int) -> torch.Tensor:
        bt, c, h, w = x.shape
        clip = x.reshape(batch, bt // batch, c, h, w).transpose(1, 2)  # (B, C, T, h, w)
        clip = clip + F.relu(self.bn(self.conv(clip)))
        return clip.transpose(1, 2).reshape(bt, c, h, w)


class TemporalUNet(nn.Module):
    """U-Net over frames; see the module docstring. ``arch`` names an entry of ARCHITECTURES."""

    temporal = "clip"

    def __init__(self, arch: str = "fast") -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown U-Net architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}")
        spec = ARCHITECTURES[arch]
        self.arch = arch
        widths = spec["widths"]
        self.stem = _conv_bn_relu(1, widths[0], stride=spec["stem_stride"])
        self.stem_refine = _conv_bn_relu(widths[0], widths[0])
        self.down = nn.ModuleList(_Down(a, b) for a, b in zip(widths[:-1], widths[1:]))
        kernel = spec["temporal_kernel"]
        self.temporal_block = _Temporal(widths[-1], kernel) if kernel else None
        self.up = nn.ModuleList(_Up(b, a) for a, b in zip(widths[:-1][::-1], widths[1:][::-1]))
        self.head = nn.Conv2d(widths[0], 1, 1)
        self.temporal = "clip" if kernel else "frame"

    def config(self) -> dict:
        return {"name": "unet", "arch": self.arch}

    @classmethod
    def from_config(cls, config: dict) -> TemporalUNet:
        return cls(config["arch"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _, h, w = x.shape
        frames = (x.reshape(b * t, 1, h, w) - GREY_MEAN) / GREY_STD
        skips = [self.stem_refine(self.stem(frames))]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        if self.temporal_block is not None:
            y = self.temporal_block(y, b)
        for up in self.up:
            y = up(y, skips.pop())
        logits = self.head(y)
        if logits.shape[-2:] != (h, w):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        return logits.reshape(b, t, 1, h, w)
