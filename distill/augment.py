"""Domain randomisation of training batches, in torch (no per-sample Python image code).

Geometry (one random affine per clip, applied alike to frames and targets): rotation, scale,
shift; never a left-right flip, since "the LV is on the right" is a real cue of the A4C view.
Appearance (frames only): gain, gamma, blur, speckle-like multiplicative noise, additive noise,
a dark band over part of the sector (a rib shadow or dropout). ``strength`` scales every range.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _affine(x: torch.Tensor, y: torch.Tensor, strength: float, g: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]:
    b, t, c, h, w = x.shape
    angle = _uniform((b,), -1, 1, g) * math.radians(15 * strength)
    scale = 1 + _uniform((b,), -1, 1, g) * 0.15 * strength
    shift = _uniform((b, 2), -1, 1, g) * 0.12 * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    theta = theta.repeat_interleave(t, dim=0)
    grid = F.affine_grid(theta, [b * t, c, h, w], align_corners=False)

    def warp(v: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(v.reshape(b * t, c, h, w), grid, align_corners=False).reshape(b, t, c, h, w)

    return warp(x), warp(y)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per clip (pixels); sigma 0 leaves the clip as is."""
    b, t, c, h, w = x.shape
    offsets = torch.arange(-3, 4, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, 7)
    planes = x.reshape(1, b * t * c, h, w)
    k = kernel.repeat_interleave(t * c, dim=0)
    planes = F.conv2d(F.pad(planes, (3, 3, 0, 0), mode="replicate"), k[:, None, None, :], groups=b * t * c)
    planes = F.conv2d(F.pad(planes, (0, 0, 3, 3), mode="replicate"), k[:, None, :, None], groups=b * t * c)
    return planes.reshape(b, t, c, h, w)


def augment(x: torch.Tensor, y: torch.Tensor, strength: float, generator: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomised copies of frames ``x`` (B, T, 1, H, W; 0–255) and targets ``y`` (same shape, 0–1)."""
    if strength <= 0:
        return x, y
    g = generator
    b = x.shape[0]
    x, y = _affine(x, y, strength, g)

    def per_clip(low: float, high: float) -> torch.Tensor:
        return _uniform((b, 1, 1, 1, 1), low, high, g)

    x = _blur(x, (_uniform((b,), -0.6, 1.2, g) * strength).clamp_min(0))
    unit = (x / 255.0).clamp(0, 1)
    unit = unit ** torch.exp(per_clip(-1, 1) * 0.45 * strength)
    speckle = torch.exp(torch.randn(x.shape, generator=g) * 0.25 * strength * per_clip(0, 1))
    unit = unit * speckle * torch.exp(per_clip(-1, 1) * 0.45 * strength)
    unit = unit + torch.randn(x.shape, generator=g) * 0.03 * strength * per_clip(0, 1)
    # A dark band across a random direction: rib shadow or dropout on a part of the sector.
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    direction = _uniform((b,), 0, math.pi, g)
    distance = xx * torch.cos(direction)[:, None, None] + yy * torch.sin(direction)[:, None, None]
    centre, width = _uniform((b, 1, 1), -1, 1, g), _uniform((b, 1, 1), 0.05, 0.25, g)
    present = (torch.rand((b, 1, 1), generator=g) < 0.3 * strength).float()
    shadow = 1 - present * 0.8 * torch.exp(-0.5 * ((distance - centre) / width) ** 2)
    unit = unit * shadow[:, None, None]
    return (unit.clamp(0, 1) * 255.0), y
