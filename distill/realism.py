"""How far the synthetic echoes are from a real one: the same statistics on both, side by side.

Every cine is first mapped to the 112×112 view the models see (:func:`model_view`); then
:func:`cine_statistics` measures grey levels, contrast, speckle, spatial and temporal
correlation inside its imaging sector. :func:`realism_report` prints them for one real cine next
to the spread over a synthetic set (what ``python -m distill realism`` shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from echoviewer.analysis.preprocess import MODEL_SIZE, SquareCrop, model_view
from echoviewer.io import Cine, load_cine

_EDGE_PX = 3            # sector erosion, keeps the fan's edge out of every statistic
_CONTRAST_SIGMA = 2.0   # smoothing of the temporal mean image that picks the dark and bright classes
_HIGH_PASS_SIGMA = 3.0  # the Gaussian subtracted to leave the speckle
_PATCH = 7              # speckle patch side
_RING_PX = (2, 5)       # myocardium = ring this far outside the LV cavity
_NEAR_BLACK = 10
_HIST_BINS = 8

# (key, label, gap): gap is "diff" (synthetic − real) or "ratio" (synthetic / real)
ROWS: tuple[tuple[str, str, str], ...] = (
    ("fps", "frame rate (fps)", "ratio"),
    ("grey_mean", "grey mean", "diff"),
    ("grey_sd", "grey SD", "diff"),
    ("grey_p5", "grey p5", "diff"),
    ("grey_p25", "grey p25", "diff"),
    ("grey_p50", "grey median", "diff"),
    ("grey_p75", "grey p75", "diff"),
    ("grey_p95", "grey p95", "diff"),
    ("near_black_fraction", "near-black fraction (<10)", "diff"),
    ("contrast_db", "tissue/blood contrast, label-free (dB)", "diff"),
    ("truth_contrast_db", "myocardium/LV contrast, truth (dB)", "diff"),
    ("speckle_snr", "speckle SNR (median 7x7)", "ratio"),
    ("nakagami_m", "Nakagami m (median 7x7)", "ratio"),
    ("tissue_skewness", "tissue grey skewness", "diff"),
    ("tissue_kurtosis", "tissue grey excess kurtosis", "diff"),
    ("axial_corr_px", "axial autocorrelation length (px)", "ratio"),
    ("lateral_corr_px", "lateral autocorrelation length (px)", "ratio"),
    ("temporal_corr_raw", "frame-to-frame correlation, raw", "diff"),
    ("temporal_corr_speckle", "frame-to-frame correlation, speckle", "diff"),
)
HIST_KEYS = tuple(f"hist_{i}" for i in range(_HIST_BINS))


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _blur(stack: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigma) for image in stack])


def _db(numerator: float, denominator: float) -> float:
    """20·log10 of a ratio of mean grey levels, each floored at one grey level (no log of zero)."""
    return float(20 * np.log10(max(numerator, 1.0) / max(denominator, 1.0)))


def _grey_levels(pixels: np.ndarray) -> dict[str, float]:
    percentiles = np.percentile(pixels, (5, 25, 50, 75, 95))
    hist = np.bincount(pixels.ravel() // (256 // _HIST_BINS), minlength=_HIST_BINS) / pixels.size
    return {"grey_mean": float(pixels.mean()), "grey_sd": float(pixels.std()),
            **{f"grey_p{p}": float(v) for p, v in zip((5, 25, 50, 75, 95), percentiles)},
            "near_black_fraction": float(np.mean(pixels < _NEAR_BLACK)),
            **{key: float(v) for key, v in zip(HIST_KEYS, hist)}}


def _truth_contrast(frames: np.ndarray, inner: np.ndarray, lv_masks: np.ndarray) -> float:
    near, far = _disc(_RING_PX[0]), _disc(_RING_PX[1])
    cavity_sum = ring_sum = 0.0
    cavity_n = ring_n = 0
    for frame, mask in zip(frames, lv_masks.astype(np.uint8)):
        cavity = (mask > 0) & inner
        ring = (cv2.dilate(mask, far) > 0) & (cv2.dilate(mask, near) == 0) & inner
        cavity_sum, cavity_n = cavity_sum + frame[cavity].sum(), cavity_n + int(cavity.sum())
        ring_sum, ring_n = ring_sum + frame[ring].sum(), ring_n + int(ring.sum())
    if not cavity_n or not ring_n:
        return float("nan")
    return _db(ring_sum / ring_n, cavity_sum / cavity_n)


def _speckle(frames: np.ndarray, tissue: np.ndarray) -> dict[str, float]:
    """Median SNR and Nakagami m of the 7×7 patches centred on tissue pixels; moments of tissue grey."""
    x = frames.astype(np.float64)
    pad = _PATCH // 2
    centres = np.zeros_like(tissue)
    centres[pad:-pad, pad:-pad] = tissue[pad:-pad, pad:-pad]  # patches wholly inside the frame
    mean, power, power2 = (np.stack([cv2.blur(image, (_PATCH, _PATCH)) for image in x ** k])[:, centres]
                           for k in (1, 2, 4))
    sd = np.sqrt(np.maximum(power - mean ** 2, 0.0))
    power_var = power2 - power ** 2
    usable = (sd > 1e-6) & (power_var > 1e-6 * power ** 2)
    values = x[:, tissue]
    spread = values.std()
    z = (values - values.mean()) / spread if spread > 0 else np.full(1, np.nan)
    return {"speckle_snr": _median(mean[usable] / sd[usable]),
            "nakagami_m": _median(power[usable] ** 2 / power_var[usable]),
            "tissue_skewness": float(np.mean(z ** 3)), "tissue_kurtosis": float(np.mean(z ** 4) - 3)}


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else float("nan")


def _half_length(profile: np.ndarray) -> float:
    """First lag where the normalised autocorrelation drops to 0.5, linearly interpolated (NaN if never)."""
    below = np.nonzero(profile <= 0.5)[0]
    if not below.size or below[0] == 0:
        return float("nan")
    k = int(below[0])
    return float(k - 1 + (profile[k - 1] - 0.5) / (profile[k - 1] - profile[k]))


def _correlation_lengths(speckle: np.ndarray, inner: np.ndarray) -> dict[str, float]:
    """Axial and lateral autocorrelation lengths of the speckle in the sector's central window.

    The window holds the middle third of the sector's width and depth; pixels outside the sector
    are zero and every lag is divided by its number of overlapping sector pixel pairs.
    """
    ys, xs = np.nonzero(inner)
    if not ys.size:
        return {"axial_corr_px": float("nan"), "lateral_corr_px": float("nan")}
    y0, y1 = np.linspace(ys.min(), ys.max() + 1, 4)[1:3].astype(int)
    x0, x1 = np.linspace(xs.min(), xs.max() + 1, 4)[1:3].astype(int)
    window = inner[y0:y1, x0:x1].astype(np.float64)
    shape = (2 * window.shape[0], 2 * window.shape[1])
    spectra = np.fft.rfft2(speckle[:, y0:y1, x0:x1] * window, shape)
    numerator = np.fft.irfft2((np.abs(spectra) ** 2).sum(0), shape)
    pairs = np.fft.irfft2(np.abs(np.fft.rfft2(window, shape)) ** 2, shape) * speckle.shape[0]
    rows, cols = window.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = numerator[:rows, :cols] / np.where(pairs[:rows, :cols] > 0.5, pairs[:rows, :cols], np.nan)
        acf /= acf[0, 0]
    return {"axial_corr_px": _half_length(acf[:, 0]), "lateral_corr_px": _half_length(acf[0, :])}


def _temporal_correlation(pixels: np.ndarray) -> float:
    """Mean Pearson correlation of consecutive frames; ``pixels`` is (T, N)."""
    if pixels.shape[0] < 2:
        return float("nan")
    centred = pixels - pixels.mean(1, keepdims=True)
    a, b = centred[:-1], centred[1:]
    norms = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    valid = norms > 0
    return float(np.mean((a * b).sum(1)[valid] / norms[valid])) if valid.any() else float("nan")


def cine_statistics(frames: np.ndarray, sector: np.ndarray, fps: float,
                    lv_masks: np.ndarray | None = None) -> dict[str, float]:
    """Realism statistics of a uint8 (T, H, W) cine inside its sector (eroded by 3 px); keys as :data:`ROWS`.

    * grey levels: mean, SD, percentiles, fraction < 10 and an 8-bin histogram (``hist_0``..).
    * ``contrast_db``, label-free and the same for real and synthetic cines: the temporal mean image
      is smoothed (Gaussian σ = 2 px); sector pixels under its 20th percentile are the dark class
      (blood), those above its 80th the bright class (tissue); contrast = 20·log10(mean bright /
      mean dark grey level over the raw frames), each mean floored at 1.
      ``truth_contrast_db`` (NaN without ``lv_masks``): ring 2–5 px outside the LV cavity vs cavity.
    * speckle, in 7×7 patches centred on bright-class pixels: median SNR (mean/SD) and Nakagami
      m = E[x²]²/Var(x²) of the grey levels; skewness and excess kurtosis of the bright-class grey.
    * spatial: speckle = frames minus their Gaussian blur (σ = 3 px); lags (px, interpolated) where
      its autocorrelation, averaged over frames, falls to 0.5 downwards (axial) and across (lateral).
    * temporal: mean Pearson correlation of consecutive frames, raw and speckle, at the cine's fps.
    """
    inner = cv2.erode(sector.astype(np.uint8), _disc(_EDGE_PX)) > 0
    stats: dict[str, float] = {"fps": float(fps)}
    if not inner.any():
        stats.update({key: float("nan") for key, _, _ in ROWS[1:]})
        stats.update({key: float("nan") for key in HIST_KEYS})
        return stats
    x = frames.astype(np.float32)
    pixels = frames[:, inner]
    stats.update(_grey_levels(pixels))
    smooth_mean = cv2.GaussianBlur(x.mean(0), (0, 0), _CONTRAST_SIGMA)
    low, high = np.percentile(smooth_mean[inner], (20, 80))
    dark, bright = inner & (smooth_mean <= low), inner & (smooth_mean >= high)
    stats["contrast_db"] = _db(float(x[:, bright].mean()), float(x[:, dark].mean()))
    stats["truth_contrast_db"] = (float("nan") if lv_masks is None
                                  else _truth_contrast(frames, inner, lv_masks))
    stats.update(_speckle(frames, bright))
    speckle = x - _blur(x, _HIGH_PASS_SIGMA)
    stats.update(_correlation_lengths(speckle, inner))
    stats["temporal_corr_raw"] = _temporal_correlation(pixels.astype(np.float64))
    stats["temporal_corr_speckle"] = _temporal_correlation(speckle[:, inner].astype(np.float64))
    return stats


def _synthetic_paths(synth_dir: Path, max_cines: int, seed: int) -> list[Path]:
    if not synth_dir.is_dir():
        raise ValueError(f"{synth_dir}: no such folder of synthetic cines")
    visible = [p for p in synth_dir.rglob("*") if not p.name.startswith(".") and p.is_file()]  # hidden: unfinished
    paths = sorted(p for p in visible if p.parent == synth_dir / "Videos" and p.suffix.lower() == ".avi") or sorted(
        p for p in visible if p.suffix.lower() in (".avi", ".dcm"))
    if not paths:
        raise ValueError(f"{synth_dir}: no synthetic cines (Videos/*.avi, *.avi or *.dcm) in it")
    if len(paths) > max_cines:
        chosen = np.random.default_rng(seed).choice(len(paths), max_cines, replace=False)
        paths = [paths[i] for i in sorted(chosen)]
    return paths


def _truth_masks(cine: Cine, mask_path: Path) -> np.ndarray | None:
    """LV truth from ``Masks/<stem>.npz`` in the model view: cropped like the frames when it has
    their size, else resized with nearest neighbour; None when there is no such file."""
    if not mask_path.is_file():
        return None
    with np.load(mask_path) as data:
        masks = data["masks"].astype(np.uint8)
    if masks.shape[0] != cine.n_frames:
        raise ValueError(f"{mask_path.name}: {masks.shape[0]} masks for {cine.n_frames} frames")
    if masks.shape[1:] == (MODEL_SIZE, MODEL_SIZE):
        return masks
    if masks.shape[1:] == cine.frames.shape[1:]:
        return SquareCrop.of_sector(cine.sector_mask).to_model(masks, interpolation=cv2.INTER_NEAREST)
    return np.stack([cv2.resize(m, (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_NEAREST)
                     for m in masks])


def _statistics(cine: Cine, lv_masks: np.ndarray | None = None) -> dict[str, float]:
    frames, sector, _ = model_view(cine)
    return cine_statistics(frames, sector, cine.timing.fps, lv_masks)


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"


@dataclass(frozen=True)
class RealismComparison:
    """Statistics of one real cine and of each synthetic cine compared with it."""

    real_name: str
    real: dict[str, float]
    synthetic: list[dict[str, float]]
    synth_dir_name: str

    def quantile(self, key: str, q: float) -> float:
        """Quantile ``q`` (0–1) of a statistic over the synthetic cines, NaN where none has it."""
        values = np.array([s[key] for s in self.synthetic], np.float64)
        values = values[np.isfinite(values)]
        return float(np.quantile(values, q)) if values.size else float("nan")

    def gap(self, key: str, kind: str) -> str:
        real, synth = self.real[key], self.quantile(key, 0.5)
        if kind == "ratio":
            return f"x{_fmt(synth / real)}" if np.isfinite(real) and real != 0 else "n/a"
        return f"{synth - real:+.3g}" if np.isfinite(synth - real) else "n/a"

    def format(self) -> str:
        """Plain-text table: one row per statistic, then the 8-bin histograms."""
        header = (f"Realism: real {self.real_name} ({_fmt(self.real['fps'])} fps) vs "
                  f"{len(self.synthetic)} synthetic cines in {self.synth_dir_name} "
                  f"(median {_fmt(self.quantile('fps', 0.5))} fps); model view {MODEL_SIZE}x{MODEL_SIZE}")
        width = max(len(label) for _, label, _ in ROWS)
        lines = [header, "",
                 f"{'statistic':<{width}}  {'real':>9}  {'synthetic median':>16}  "
                 f"{'synthetic IQR (p25–p75)':>23}  {'gap':>8}"]
        for key, label, kind in ROWS:
            iqr = f"{_fmt(self.quantile(key, 0.25))} – {_fmt(self.quantile(key, 0.75))}"
            lines.append(f"{label:<{width}}  {_fmt(self.real[key]):>9}  {_fmt(self.quantile(key, 0.5)):>16}  "
                         f"{iqr:>23}  {self.gap(key, kind):>8}")
        lines += ["", "grey-level histogram (fraction of sector pixels)",
                  f"{'bin':<9}  {'real':>6}  {'synthetic median':>16}"]
        step = 256 // _HIST_BINS
        for i, key in enumerate(HIST_KEYS):
            lines.append(f"{f'{i * step}–{(i + 1) * step - 1}':<9}  {self.real[key]:>6.3f}  "
                         f"{self.quantile(key, 0.5):>16.3f}")
        return "\n".join(lines)


def compare_realism(real_path: Path, synth_dir: Path, *, max_cines: int = 40,
                    seed: int = 0) -> RealismComparison:
    """Statistics of the real cine and of at most ``max_cines`` synthetic cines (a seeded sample).

    Synthetic cines are ``synth_dir/Videos/*.avi``, else every ``*.avi`` and ``*.dcm`` below
    ``synth_dir``; LV truth comes from ``synth_dir/Masks/<stem>.npz`` where present.
    Raises ValueError when ``synth_dir`` is missing or holds no cine.
    """
    real_path, synth_dir = Path(real_path), Path(synth_dir)
    paths = _synthetic_paths(synth_dir, max_cines, seed)
    synthetic = []
    for path in paths:
        cine = load_cine(path)
        synthetic.append(_statistics(cine, _truth_masks(cine, synth_dir / "Masks" / f"{path.stem}.npz")))
    return RealismComparison(real_path.name, _statistics(load_cine(real_path)), synthetic, synth_dir.name)


def realism_report(real_path: Path, synth_dir: Path, *, max_cines: int = 40, seed: int = 0) -> str:
    """The printed comparison of :func:`compare_realism` (``python -m distill realism``)."""
    return compare_realism(real_path, synth_dir, max_cines=max_cines, seed=seed).format()
