"""Realism statistics: known answers on constructed cines, the model view of a real cine, the report."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from distill.realism import HIST_KEYS, ROWS, cine_statistics, compare_realism, realism_report
from echoviewer.analysis.preprocess import model_view
from echoviewer.io import load_cine

SIZE = 112
FULL = np.ones((SIZE, SIZE), bool)


@pytest.fixture(scope="module")
def real_path(pydicom_data: Path) -> Path:
    return pydicom_data / "color3d_jpeg_baseline.dcm"


def _noise(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, SIZE, SIZE), dtype=np.uint8)


def _disc(radius: int, centre: tuple[int, int] = (SIZE // 2, SIZE // 2)) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    return mask


def test_model_view_of_a_real_cine_puts_the_apex_at_the_top_centre(real_path: Path) -> None:
    cine = load_cine(real_path)
    frames, sector, _ = model_view(cine)
    assert frames.shape == (cine.n_frames, SIZE, SIZE) and frames.dtype == np.uint8
    assert sector.shape == (SIZE, SIZE) and sector.dtype == bool
    top = np.nonzero(sector.any(1))[0][0]
    apex_columns = np.nonzero(sector[top])[0]
    assert top <= 1
    assert abs(apex_columns.mean() - SIZE / 2) < 4
    assert frames[:, sector].mean() > 5 * frames[:, ~sector].mean()


def test_white_noise_has_sub_pixel_correlation_and_no_temporal_correlation() -> None:
    stats = cine_statistics(_noise(10), FULL, 30.0)
    assert stats["axial_corr_px"] < 1 and stats["lateral_corr_px"] < 1
    assert abs(stats["temporal_corr_raw"]) < 0.05 and abs(stats["temporal_corr_speckle"]) < 0.05
    assert stats["grey_p50"] == pytest.approx(127.5, abs=4)
    assert sum(stats[key] for key in HIST_KEYS) == pytest.approx(1.0)
    assert all(stats[key] == pytest.approx(1 / 8, abs=0.01) for key in HIST_KEYS)


def test_a_repeated_frame_has_temporal_correlation_one() -> None:
    stats = cine_statistics(np.repeat(_noise(1), 5, axis=0), FULL, 50.0)
    assert stats["temporal_corr_raw"] == pytest.approx(1.0)
    assert stats["temporal_corr_speckle"] == pytest.approx(1.0)
    assert stats["fps"] == 50.0


def test_vertical_blur_makes_the_axial_length_longer_than_the_lateral() -> None:
    noise = _noise(6).astype(np.float32)
    blurred = np.stack([cv2.GaussianBlur(f, (1, 13), sigmaX=0.1, sigmaY=2.0) for f in noise])
    frames = np.clip((blurred - blurred.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    stats = cine_statistics(frames, FULL, 30.0)
    assert stats["axial_corr_px"] > stats["lateral_corr_px"] + 1
    assert stats["lateral_corr_px"] < 1


def test_rayleigh_speckle_gives_the_rayleigh_snr_and_nakagami_m_near_one() -> None:
    rng = np.random.default_rng(1)
    frames = np.clip(rng.rayleigh(40.0, (8, SIZE, SIZE)), 0, 255).astype(np.uint8)
    stats = cine_statistics(frames, FULL, 30.0)
    assert stats["speckle_snr"] == pytest.approx(math.sqrt(math.pi / (4 - math.pi)), rel=0.05)
    assert 0.9 < stats["nakagami_m"] < 1.25


def test_dark_disc_in_bright_tissue_has_the_analytic_contrast() -> None:
    disc = _disc(35)
    rng = np.random.default_rng(2)
    image = np.where(disc > 0, 40.0, 160.0)
    frames = np.clip(image + rng.normal(0, 8, (4, SIZE, SIZE)), 0, 255).astype(np.uint8)
    expected = 20 * math.log10(160 / 40)
    stats = cine_statistics(frames, FULL, 30.0, lv_masks=np.repeat(disc[None], 4, axis=0))
    assert stats["contrast_db"] == pytest.approx(expected, abs=0.3)
    assert stats["truth_contrast_db"] == pytest.approx(expected, abs=0.3)
    assert math.isnan(cine_statistics(frames, FULL, 30.0)["truth_contrast_db"])


def test_tiny_and_empty_inputs_give_numbers_or_nan_without_errors() -> None:
    one = cine_statistics(_noise(1), FULL, 30.0)
    assert math.isnan(one["temporal_corr_raw"]) and math.isfinite(one["contrast_db"])
    two = cine_statistics(_noise(2)[:, :6, :6], FULL[:6, :6], 30.0)
    assert math.isnan(two["speckle_snr"]) and math.isfinite(two["temporal_corr_raw"])
    empty = cine_statistics(_noise(2), np.zeros((SIZE, SIZE), bool), 30.0)
    assert empty["fps"] == 30.0 and all(math.isnan(v) for k, v in empty.items() if k != "fps")


def _write_synthetic_set(root: Path, count: int, frames: int = 12) -> None:
    """EchoNet-style folder: fans of speckle with a beating dark LV, and its truth masks."""
    (root / "Videos").mkdir(parents=True)
    (root / "Masks").mkdir()
    rng = np.random.default_rng(3)
    fan = np.zeros((SIZE, SIZE), np.uint8)
    cv2.ellipse(fan, (SIZE // 2, 0), (SIZE - 4, SIZE - 4), 0, 45, 135, 1, -1)
    for index in range(count):
        writer = cv2.VideoWriter(str(root / "Videos" / f"synth_{index}.avi"),
                                 cv2.VideoWriter_fourcc(*"MJPG"), 30, (SIZE, SIZE))
        masks = []
        for t in range(frames):
            lv = _disc(16 + int(4 * math.sin(2 * math.pi * t / frames)), (SIZE // 2, 60))
            image = np.clip(rng.rayleigh(30.0, (SIZE, SIZE)) * np.where(lv > 0, 0.2, 1.0), 0, 255)
            grey = (image * fan).astype(np.uint8)
            writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
            masks.append(lv)
        writer.release()
        np.savez_compressed(root / "Masks" / f"synth_{index}.npz", masks=np.stack(masks))


@pytest.mark.slow
def test_report_compares_the_real_cine_with_every_statistic(real_path: Path, tmp_path: Path) -> None:
    _write_synthetic_set(tmp_path / "synth", 3)
    avi = load_cine(tmp_path / "synth" / "Videos" / "synth_0.avi")
    assert model_view(avi)[0] is avi.frames

    comparison = compare_realism(real_path, tmp_path / "synth", max_cines=2, seed=1)
    assert len(comparison.synthetic) == 2
    real = load_cine(real_path)
    assert comparison.real == pytest.approx(cine_statistics(*model_view(real)[:2], real.timing.fps), nan_ok=True)
    assert math.isnan(comparison.real["truth_contrast_db"])
    assert comparison.quantile("truth_contrast_db", 0.5) > 6

    report = realism_report(real_path, tmp_path / "synth")
    assert "color3d_jpeg_baseline.dcm" in report and "3 synthetic cines" in report
    for _, label, _ in ROWS:
        assert label in report
    assert "synthetic IQR (p25–p75)" in report and "0–31" in report and "224–255" in report


def test_report_refuses_a_missing_or_empty_synthetic_folder(real_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no synthetic cines"):
        realism_report(real_path, tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        realism_report(real_path, tmp_path / "absent")
