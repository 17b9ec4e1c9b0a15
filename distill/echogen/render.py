"""Frames from label maps: the network's mean and spread, with speckle-like grain.

The grain is Gaussian noise with the spatial correlation of the network's own residuals on the
images it learned from (measured when it is trained, stored in its card): a fine, anisotropic
speckle scale plus a coarse one for the clutter and haze the label map cannot explain. Over time
the grain is an AR(1) process, so it decorrelates from frame to frame as speckle does while the
tissue moves, without flickering white noise. Each cine also draws its own display: gain, gamma
and grain strength (0.4-0.8 of the fitted spread: at full strength the grain drowns the cavity's
contrast, as the images showed).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from distill.echogen.network import LabelToEcho

_FINE_SIGMAS = np.linspace(0.4, 3.0, 14)
_COARSE_SIGMAS = np.linspace(3.0, 14.0, 12)
_WEIGHTS = np.linspace(0.0, 0.9, 19)
LAGS = (1, 2, 3, 4, 6, 8, 12)
# The coarse part of the residual is structure the labels do not explain (walls of the right heart,
# valves, shadows); drawn as noise at its full share (about half) it makes bright and dark blobs that
# bury the LV, so at most this share of the grain is coarse.
COARSE_SHARE_MAX = 0.2


@dataclass(frozen=True)
class Grain:
    """Correlation of the residual grain: fine scale along x and y, coarse scale and its share."""

    fine_x: float
    fine_y: float
    coarse: float
    coarse_share: float

    def as_dict(self) -> dict[str, float]:
        return {"fine_x": self.fine_x, "fine_y": self.fine_y, "coarse": self.coarse, "coarse_share": self.coarse_share}


def _model_correlation(lags: np.ndarray, fine: np.ndarray, coarse: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Autocorrelation at ``lags`` of white noise blurred by a Gaussian (σ), mixed over two scales."""
    return ((1 - share) * np.exp(-lags ** 2 / (4 * fine ** 2)) + share * np.exp(-lags ** 2 / (4 * coarse ** 2)))


def residual_correlation(residuals: np.ndarray, valid: np.ndarray, axis: int) -> np.ndarray:
    """Autocorrelation of standardised residuals (N, H, W) along ``axis`` (1 rows, 2 columns) at LAGS,
    over pixel pairs that are both ``valid``."""
    out = []
    for lag in LAGS:
        a = np.take(residuals, range(0, residuals.shape[axis] - lag), axis=axis)
        b = np.take(residuals, range(lag, residuals.shape[axis]), axis=axis)
        both = np.take(valid, range(0, valid.shape[axis] - lag), axis=axis) & np.take(valid, range(lag, valid.shape[axis]), axis=axis)
        x, y = a[both], b[both]
        out.append(float(np.corrcoef(x, y)[0, 1]))
    return np.asarray(out)


def fit_grain(rho_x: np.ndarray, rho_y: np.ndarray) -> Grain:
    """The two-scale Grain whose correlations best match the measured ones (least squares, grid)."""
    lags = np.asarray(LAGS, float)[:, None, None, None]
    f, c, s = np.meshgrid(_FINE_SIGMAS, _COARSE_SIGMAS, _WEIGHTS, indexing="ij")
    best: dict[str, float] = {}
    for name, rho in (("x", rho_x), ("y", rho_y)):
        error = ((_model_correlation(lags, f, c, s) - np.asarray(rho)[:, None, None, None]) ** 2).sum(0)
        i, j, k = np.unravel_index(int(np.argmin(error)), error.shape)
        best.update({f"fine_{name}": float(_FINE_SIGMAS[i]), f"coarse_{name}": float(_COARSE_SIGMAS[j]),
                     f"share_{name}": float(_WEIGHTS[k])})
    return Grain(best["fine_x"], best["fine_y"], (best["coarse_x"] + best["coarse_y"]) / 2,
                 (best["share_x"] + best["share_y"]) / 2)


def _field(rng: np.random.Generator, shape: tuple[int, int], grain: Grain) -> np.ndarray:
    def blurred(sx: float, sy: float) -> np.ndarray:
        field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=sx, sigmaY=sy)
        return field / max(float(field.std()), 1e-6)
    fine = blurred(grain.fine_x, grain.fine_y)
    coarse = blurred(grain.coarse, grain.coarse)
    share = min(grain.coarse_share, COARSE_SHARE_MAX)
    return np.sqrt(1 - share) * fine + np.sqrt(share) * coarse


def render(network: LabelToEcho, labels: np.ndarray, grain: Grain, rng: np.random.Generator) -> np.ndarray:
    """uint8 (T, H, W) frames for label maps (T, H, W)."""
    with torch.no_grad():
        mean, log_std = network(torch.from_numpy(labels.astype(np.int64)))
    mean_np, std = mean.numpy(), np.exp(log_std.numpy())
    gain, gamma, strength = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.25), rng.uniform(0.4, 0.8)
    memory = rng.uniform(0.3, 0.8)
    shape = labels.shape[1:]
    noise = _field(rng, shape, grain)
    frames = np.empty(labels.shape, np.uint8)
    for index in range(len(labels)):
        if index:
            noise = memory * noise + np.sqrt(1 - memory ** 2) * _field(rng, shape, grain)
        image = np.clip(mean_np[index] + strength * std[index] * noise, 0.0, 1.0)
        frames[index] = np.clip(255.0 * gain * image ** gamma + 0.5, 0, 255).astype(np.uint8)
    return frames
