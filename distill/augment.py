"""Domain randomisation of training batches, in torch (no per-sample Python image code).

Geometry (one random affine per clip, applied alike to frames and targets): rotation, scale,
shift; never a left-right flip, since "the LV is on the right" is a real cue of the A4C view.
Appearance (frames only): gain, gamma, blur, speckle-like multiplicative noise, additive noise,
a dark band over part of the sector (a rib shadow or dropout). ``strength`` scales every range.

Near-field clutter (``clutter``, the share of clips that get it; frames only): a grainy haze that
fills the first 10–35 % of the depth from the sector's apex, still over the clip as reverberation
is (it stays with the probe while the heart moves under it). It lies over the LV apex, as it does in
real apical views, while the targets keep the apex the teacher drew on the clean frame, so a
student learns to draw the apex through it instead of stopping where the haze begins.
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


def near_field_clutter(unit: torch.Tensor, share: float, g: torch.Generator) -> torch.Tensor:
    """``unit`` (B, T, 1, H, W; 0–1, the sector's apex at the top centre) with near-field haze over a
    ``share`` of its clips: brightness added as a screen blend (dark blood brightens most, bright
    tissue little), a grain of 1–2 px that is the same in every frame but for a tenth that flickers,
    and a soft edge at 10–35 % of the height measured as range from the apex."""
    b, t, _, h, w = unit.shape
    present = torch.rand((b,), generator=g) < share
    if not bool(present.any()):
        return unit
    yy, xx = torch.meshgrid(torch.arange(h, dtype=unit.dtype), torch.arange(w, dtype=unit.dtype), indexing="ij")
    radius = torch.hypot(yy, xx - (w - 1) / 2) / h  # range from the sector's apex, in heights
    depth = _uniform((b, 1, 1), 0.10, 0.35, g)
    edge = _uniform((b, 1, 1), 0.02, 0.06, g)
    amplitude = _uniform((b, 1, 1), 0.2, 0.55, g) * present[:, None, None]
    envelope = amplitude * torch.sigmoid((depth - radius) / edge)  # (B, H, W)
    still = torch.randn((b, 1, 1, h, w), generator=g)
    flicker = torch.randn((b, t, 1, h, w), generator=g)
    grain = _blur(0.95 * still + 0.31 * flicker, _uniform((b,), 0.6, 1.2, g)).abs()
    grain = 0.7 + 0.3 * grain / grain.mean(dim=(-2, -1), keepdim=True).clamp_min(1e-6)  # mean 1
    # Only inside the sector: where the clip ever shows an echo, its dark pools filled (a closing).
    echo = (unit.amax(dim=1) > 0.02).to(unit.dtype)  # (B, 1, H, W)
    grown = F.max_pool2d(F.pad(echo, (7, 7, 7, 7)), 15, 1)  # zeros beyond the image: nothing grows in
    sector = -F.max_pool2d(F.pad(-grown, (7, 7, 7, 7), value=-1.0), 15, 1)
    sector = sector[:, None]
    haze = (envelope[:, None, None] * grain * sector).clamp(0, 1)
    return 1 - (1 - unit) * (1 - haze)


def augment(x: torch.Tensor, y: torch.Tensor, strength: float, generator: torch.Generator,
            clutter: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomised copies of frames ``x`` (B, T, 1, H, W; 0–255) and targets ``y`` (same shape, 0–1);
    ``clutter`` is the share of clips with near-field clutter (:func:`near_field_clutter`)."""
    if clutter > 0:
        x = near_field_clutter(x / 255.0, clutter, generator) * 255.0
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
