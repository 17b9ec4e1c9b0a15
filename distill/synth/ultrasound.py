"""B-mode image formation on a sector probe: beam grid, speckle, point-spread function, display.

Work happens on the beam grid (rows = depth samples, columns = beams), as a scanner does:
echogenicity maps are rasterised there directly (polygons are dense enough that straight edges in
beam space are indistinguishable from straight edges in the image), complex scatterers are
multiplied by the square root of the echogenicity, blurred by a Gaussian point-spread function
that is fixed in depth samples and in beam angle (so lateral speckle grows with depth, as it does
in a sector scan), envelope detected, log compressed, and finally scan-converted to pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from distill.synth.params import CaseParams

SHIFT = 3  # fixed-point bits for cv2.fillPoly vertices (1/8 cell precision)
_ONE = float(1 << SHIFT)


class Transducer:
    """The sector transducer's geometry: the beam grid in cm, the map from beams to pixels and back."""

    def __init__(self, params: CaseParams, oversample: int) -> None:
        p = params
        self.oversample = oversample
        self.alpha = np.deg2rad(p.half_angle_deg)
        self.r0, self.depth = p.footprint_cm, p.depth_cm
        self.cm_per_px = p.depth_cm / p.sector_radius_px
        self.apex_px = np.array([p.apex_x_px, p.apex_y_px])
        tilt = np.deg2rad(p.tilt_deg)
        self.rotation = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
        n_r = int(np.ceil(p.sector_radius_px * oversample))
        n_b = int(np.ceil(2.0 * self.alpha * p.sector_radius_px * oversample * 0.75))
        self.shape = (n_r, n_b)
        self.dr = (self.depth - self.r0) / (n_r - 1)
        self.dtheta = 2.0 * self.alpha / (n_b - 1)
        r = self.r0 + self.dr * np.arange(n_r)
        theta = -self.alpha + self.dtheta * np.arange(n_b)
        self.r = r.astype(np.float32)
        self.x = (r[:, None] * np.sin(theta)[None, :]).astype(np.float32)
        self.y = (r[:, None] * np.cos(theta)[None, :]).astype(np.float32)
        self._scan_maps = self._scan_conversion_maps(p.height, p.width)

    def _scan_conversion_maps(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.oversample
        ys, xs = np.mgrid[: height * k, : width * k].astype(np.float64)
        pixels = np.stack([(xs + 0.5) / k - 0.5, (ys + 0.5) / k - 0.5], axis=-1) - self.apex_px
        probe = pixels @ self.rotation * self.cm_per_px  # rotation.T applied to row vectors
        r = np.hypot(probe[..., 0], probe[..., 1])
        theta = np.arctan2(probe[..., 0], probe[..., 1])
        map_r = (r - self.r0) / self.dr
        map_b = (theta + self.alpha) / self.dtheta
        outside = (map_r < 0) | (map_r > self.shape[0] - 1) | (map_b < 0) | (map_b > self.shape[1] - 1)
        map_r[outside] = map_b[outside] = -10.0
        return map_b.astype(np.float32), map_r.astype(np.float32)

    def to_beam_grid(self, points: np.ndarray) -> np.ndarray:
        """Points in cm (the transducer's frame) → fixed-point (beam, depth-sample) vertices for cv2.fillPoly."""
        r = np.hypot(points[:, 0], points[:, 1])
        theta = np.arctan2(points[:, 0], points[:, 1])
        grid = np.stack([(theta + self.alpha) / self.dtheta, (r - self.r0) / self.dr], axis=1)
        return np.round(np.clip(grid, -1e5, 1e5) * _ONE).astype(np.int32)

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Points in cm (the transducer's frame) → output pixel coordinates (x, y)."""
        return points @ self.rotation.T / self.cm_per_px + self.apex_px

    def scan_convert(self, beams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        canvas = cv2.remap(beams, *self._scan_maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
        if self.oversample == 1:
            return canvas
        return cv2.resize(canvas, (size[1], size[0]), interpolation=cv2.INTER_AREA)

    def sector_pixels(self, size: tuple[int, int]) -> np.ndarray:
        """Boolean mask of the output pixels inside the sector."""
        return self.scan_convert(np.ones(self.shape, np.float32), size) > 0.5


def densify(points: np.ndarray, step: float, closed: bool = True) -> np.ndarray:
    """Insert vertices so no edge is longer than ``step`` (cm)."""
    ends = np.roll(points, -1, axis=0) if closed else points[1:]
    starts = points if closed else points[:-1]
    counts = np.maximum(1, np.ceil(np.linalg.norm(ends - starts, axis=1) / step).astype(int))
    edge = np.repeat(np.arange(len(starts)), counts)
    fraction = (np.arange(len(edge)) - np.repeat(np.cumsum(counts) - counts, counts)) / counts[edge]
    dense = starts[edge] + fraction[:, None] * (ends - starts)[edge]
    return dense if closed else np.concatenate([dense, points[-1:]])


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """Zero-mean, unit-SD Gaussian random field with the given correlation lengths (cells)."""
    field = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0),
                             sigmaX=max(sigma[1], 0.3), sigmaY=max(sigma[0], 0.3),
                             borderType=cv2.BORDER_REFLECT)
    return field / max(float(field.std()), 1e-6)


def psf_blur(field: np.ndarray, sigma_rows: float, sigma_cols: float) -> np.ndarray:
    """Gaussian PSF on a complex (…, 2) field, scaled so white scatterers keep unit power."""
    k_rows = cv2.getGaussianKernel(int(2 * np.ceil(3 * sigma_rows) + 1), sigma_rows, cv2.CV_32F)
    k_cols = cv2.getGaussianKernel(int(2 * np.ceil(3 * sigma_cols) + 1), sigma_cols, cv2.CV_32F)
    gain = float(1.0 / np.sqrt(np.sum(k_rows ** 2) * np.sum(k_cols ** 2)))
    return cv2.sepFilter2D(field, -1, k_cols * gain, k_rows, borderType=cv2.BORDER_REFLECT)


def log_compress(field: np.ndarray, black_db: float, dynamic_range_db: float) -> np.ndarray:
    """Envelope of a complex (…, 2) field → display level in [0, 1] over the dynamic range."""
    power = cv2.magnitude(field[..., 0], field[..., 1])
    cv2.multiply(power, power, dst=power)
    # natural log; 10·log10(x) = 4.343·ln(x)
    cv2.log(np.maximum(power, 1e-12, out=power), dst=power)
    level = (power * (10.0 / np.log(10.0)) - black_db) / dynamic_range_db
    return np.clip(level, 0.0, 1.0, out=level)
