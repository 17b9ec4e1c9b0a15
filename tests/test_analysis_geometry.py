"""LV geometry and per-beat measurements: known shapes, the simulator's truth, beat pairing."""

from __future__ import annotations

import numpy as np
import pytest

from distill.synth.simulator import simulate
from echoviewer.analysis.geometry import (area_length_volume, biplane_disk_volume, disk_diameters, disk_volume,
                                          long_axis)
from echoviewer.analysis.measurements import measure_beats, pair_beats, summarize
from echoviewer.io import Calibration


def dome(length_cm: float, radius_cm: float, spacing: tuple[float, float], angle_deg: float = 0.0,
         shape: tuple[int, int] = (600, 600)) -> tuple[np.ndarray, tuple[float, float]]:
    """A half-ellipse standing on a flat base (a bullet-shaped LV), apex up, tilted by ``angle``;
    returns the mask and the base centre in pixels (x, y)."""
    dx, dy = spacing
    height, width = shape
    base = (width / 2, height * 0.75)
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    x, y = (xs - base[0]) * dx, (base[1] - ys) * dy
    t = np.deg2rad(angle_deg)
    across, along = x * np.cos(t) - y * np.sin(t), x * np.sin(t) + y * np.cos(t)
    return (along >= 0) & ((across / radius_cm) ** 2 + (along / length_cm) ** 2 <= 1), base


@pytest.mark.parametrize("spacing, angle", [((0.05, 0.05), 0.0), ((0.04, 0.06), 0.0),
                                            ((0.05, 0.05), 20.0), ((0.03, 0.05), -25.0)])
def test_volumes_of_a_half_ellipsoid_match_its_formula(spacing, angle) -> None:
    length, radius = 8.0, 2.5
    mask, base = dome(length, radius, spacing, angle)
    axis = long_axis(mask, spacing)
    exact = 2 / 3 * np.pi * length * radius ** 2  # half a prolate spheroid, 104.7 mL
    area = mask.sum() * spacing[0] * spacing[1]
    assert axis.length == pytest.approx(length, rel=0.01)
    assert np.hypot(axis.base[0] - base[0], axis.base[1] - base[1]) * max(spacing) < 0.15  # cm
    assert axis.apex[1] < base[1]  # the apex is towards the transducer, up the image
    assert disk_volume(mask, axis, spacing) == pytest.approx(exact, rel=0.025)
    # for this shape area-length is exact too: 8(πLR/2)²/(3πL) = 2/3·π·L·R²
    assert area_length_volume(area, axis.length) == pytest.approx(exact, rel=0.025)


@pytest.mark.parametrize("spacing, angle", [((0.05, 0.05), 0.0), ((0.04, 0.06), 15.0)])
def test_biplane_disks_of_a_half_ellipsoid_match_its_formula(spacing, angle) -> None:
    """A half-ellipsoid with semi-axes a (seen in A4C), b (A2C) and L: its two orthogonal
    sections are half-ellipses, and V = 2/3·π·a·b·L."""
    length, a, b = 8.0, 2.6, 1.8
    four, _ = dome(length, a, spacing, angle)
    two, _ = dome(length * 0.97, b, spacing, -angle)  # a slightly foreshortened A2C
    four_axis, two_axis = long_axis(four, spacing), long_axis(two, spacing)
    four_d, two_d = disk_diameters(four, four_axis, spacing), disk_diameters(two, two_axis, spacing)
    assert four_d.shape == two_d.shape == (20,)
    assert four_d[0] == pytest.approx(2 * a, rel=0.03) and four_d[-1] < four_d[0] / 2  # base first
    # L: the longer of the two axes, so the foreshortened view does not shrink the volume
    volume = biplane_disk_volume(four_d, two_d, max(four_axis.length, two_axis.length))
    exact = 2 / 3 * np.pi * a * b * length  # 78.4 mL
    assert volume == pytest.approx(exact, rel=0.03)
    # a view against itself is the single-plane method of disks
    assert biplane_disk_volume(four_d, four_d, four_axis.length) == pytest.approx(
        disk_volume(four, four_axis, spacing), rel=1e-9)
    assert biplane_disk_volume(four_d, two_d[:10], 8.0) == 0.0  # disks that do not match


def test_a_tiny_or_empty_mask_has_no_axis() -> None:
    mask = np.zeros((50, 50), bool)
    assert long_axis(mask) is None
    mask[10:12, 10:13] = True
    assert long_axis(mask) is None


def test_long_axis_uses_the_largest_piece() -> None:
    mask, _ = dome(6.0, 2.0, (0.05, 0.05))
    alone = long_axis(mask, (0.05, 0.05))
    mask[5:15, 5:15] = True  # a speck far away
    assert long_axis(mask, (0.05, 0.05)) == alone


@pytest.fixture(scope="module")
def simulated():
    return simulate(565, height=240, width=320, n_frames=12, fps=30.0)


def test_landmarks_and_volumes_match_the_simulators_truth(simulated) -> None:
    spacing = (simulated.cm_per_px, simulated.cm_per_px)
    for frame in range(0, 12, 3):
        mask = simulated.masks[frame]
        axis = long_axis(mask, spacing)
        apex, septal, lateral = simulated.landmarks[frame]
        base = (septal + lateral) / 2
        assert np.hypot(*(np.asarray(axis.base) - base)) < 1.5  # pixels
        true_length = np.hypot(*(apex - base)) * simulated.cm_per_px
        assert axis.length == pytest.approx(true_length, rel=0.02)
        # the mask's pixels overreach the truth polygon by ~half a pixel all round: +4 % area here
        assert disk_volume(mask, axis, spacing) == pytest.approx(simulated.volumes_ml[frame], rel=0.10)


def test_beats_pair_each_ed_with_the_next_es_before_the_next_ed() -> None:
    assert pair_beats([10, 40, 70], [2, 20, 50, 55]) == [(10, 20), (40, 50)]  # 70 has no ES after it
    assert pair_beats([30, 5], [12, 44]) == [(5, 12), (30, 44)]
    assert pair_beats([], [3]) == [] and pair_beats([3], []) == []


def test_measurements_per_beat_with_calibration_and_irregular_frame_times() -> None:
    big, _ = dome(8.0, 2.5, (0.05, 0.05), shape=(400, 300))
    small, _ = dome(7.0, 2.0, (0.05, 0.05), shape=(400, 300))
    masks = {0: big, 3: small, 6: big, 9: small}
    area = np.array([masks.get(i, big).sum() * 0.0025 for i in range(10)], float)
    times = np.array([0, 100, 200, 300, 400, 500, 650, 750, 850, 950], float)  # one slow interval
    beats = measure_beats(masks.get, area, times, [0, 6], [3, 9], Calibration(0.05, 0.05, "test"))
    assert [(b.ed_frame, b.es_frame) for b in beats] == [(0, 3), (6, 9)]
    first = beats[0]
    assert first.heart_rate_bpm == pytest.approx(60000 / 650)
    assert beats[1].heart_rate_bpm is None  # no later ED: no interval
    assert first.ed_length == pytest.approx(8.0, rel=0.01) and first.es_length == pytest.approx(7.0, rel=0.01)
    edv, esv = 2 / 3 * np.pi * 8.0 * 2.5 ** 2, 2 / 3 * np.pi * 7.0 * 2.0 ** 2
    assert first.edv_disks == pytest.approx(edv, rel=0.03) and first.esv_disks == pytest.approx(esv, rel=0.03)
    assert first.ef_disks_percent == pytest.approx(100 * (edv - esv) / edv, abs=1.5)
    assert first.fac_percent == pytest.approx(100 * (area[0] - area[3]) / area[0])
    summary = summarize(beats)
    assert summary["ed_area"]["n"] == 2 and summary["ed_area"]["sd"] == pytest.approx(0.0)
    assert summary["heart_rate_bpm"] == {"mean": pytest.approx(60000 / 650), "sd": None, "n": 1}


def test_an_empty_mask_at_es_gives_no_volume_but_keeps_the_beat() -> None:
    big, _ = dome(8.0, 2.5, (0.05, 0.05), shape=(400, 300))
    masks = {0: big, 2: np.zeros_like(big)}
    area = np.array([big.sum(), 500.0, 0.0])
    beats = measure_beats(masks.get, area, np.arange(3) * 33.3, [0], [2], None)
    assert len(beats) == 1 and beats[0].esv_disks is None and beats[0].ef_disks_percent is None
    assert beats[0].fac_percent == pytest.approx(100.0)
