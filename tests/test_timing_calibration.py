"""Frame-time precedence and ultrasound-region calibration rules, attribute by attribute."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from echoviewer.io.calibration import dicom_calibration
from echoviewer.io.timing import ASSUMED_FPS, dicom_timing


def _ds(**attributes) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_frame_time_vector_wins_and_gives_irregular_times() -> None:
    ds = _ds(FrameTimeVector=[0, 20, 20, 25], FrameTime="33.3", FrameIncrementPointer=(0x0018, 0x1065))
    timing = dicom_timing(ds, 4)
    assert timing.source == "FrameTimeVector"
    assert np.allclose(timing.times_ms, [0, 20, 40, 65])


def test_frame_time_vector_with_wrong_length_falls_back_with_a_note() -> None:
    timing = dicom_timing(_ds(FrameTimeVector=[0, 20], FrameTime="40"), 5)
    assert timing.source == "FrameTime" and "FrameTimeVector" in timing.note
    assert timing.fps == pytest.approx(25.0)


def test_frame_time_gives_uniform_times() -> None:
    timing = dicom_timing(_ds(FrameTime="33.333"), 120)
    assert timing.source == "FrameTime" and timing.times_ms[-1] == pytest.approx(119 * 33.333)


@pytest.mark.parametrize("keyword", ["CineRate", "RecommendedDisplayFrameRate"])
def test_display_rates_are_used_and_flagged_as_display_rates(keyword) -> None:
    timing = dicom_timing(_ds(**{keyword: 50}), 10)
    assert timing.source == keyword and timing.fps == pytest.approx(50.0)
    assert "display rate" in timing.note and not timing.assumed


def test_cine_rate_comes_before_recommended_display_rate() -> None:
    assert dicom_timing(_ds(CineRate=25, RecommendedDisplayFrameRate=60), 3).source == "CineRate"


def test_effective_duration_spreads_frames_over_the_clip() -> None:
    timing = dicom_timing(_ds(EffectiveDuration=2.0), 101)
    assert timing.source == "EffectiveDuration" and timing.fps == pytest.approx(50.0)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
@pytest.mark.parametrize("bad", ["0", "-5", "nan", "abc"])
def test_nothing_usable_means_an_assumed_flagged_rate(bad) -> None:
    timing = dicom_timing(_ds(FrameTime=bad) if bad != "abc" else _ds(), 10)
    assert timing.assumed and timing.source == "assumed" and timing.fps == pytest.approx(ASSUMED_FPS)
    assert "assumed" in timing.note


@pytest.mark.parametrize(("attributes", "named"), [
    ({"FrameTime": "1e-300"}, "FrameTime 1e-300 ms"), ({"FrameTime": "1e6"}, "FrameTime 1e+06 ms"),
    ({"CineRate": 1e9}, "CineRate 1e+09 fps"), ({"EffectiveDuration": "1e-12"}, "EffectiveDuration 1e-12 s"),
    ({"FrameTimeVector": ["0"] + ["1e-300"] * 9}, "FrameTimeVector has steps outside")])
def test_an_implausible_rate_is_ignored_like_a_missing_one_and_said(attributes, named) -> None:
    """Issue 20 (3): FrameTime=1e-300 gave an infinite frame rate that ended a whole batch."""
    timing = dicom_timing(_ds(**attributes), 10)
    assert timing.assumed and timing.fps == pytest.approx(ASSUMED_FPS)
    assert named in timing.note and "outside 0.5-1000 fps" in timing.note


def _region(fmt=1, dtype=1, box=(0, 0, 99, 99), units=(3, 3), delta=(0.05, 0.05)) -> Dataset:
    return _ds(RegionSpatialFormat=fmt, RegionDataType=dtype,
               RegionLocationMinX0=box[0], RegionLocationMinY0=box[1],
               RegionLocationMaxX1=box[2], RegionLocationMaxY1=box[3],
               PhysicalUnitsXDirection=units[0], PhysicalUnitsYDirection=units[1],
               PhysicalDeltaX=delta[0], PhysicalDeltaY=delta[1])


def _calibrate(*regions: Dataset, **extra):
    return dicom_calibration(_ds(SequenceOfUltrasoundRegions=Sequence(list(regions)), **extra), 640, 480)


def test_tissue_region_is_chosen_even_when_a_doppler_region_comes_first() -> None:
    doppler = _region(fmt=3, dtype=3, box=(0, 300, 639, 479), units=(4, 7), delta=(0.01, 2.0))
    tissue = _region(box=(100, 20, 500, 290), delta=(0.04, 0.045))
    calibration, note, region = _calibrate(doppler, tissue)
    assert (calibration.cm_per_px_x, calibration.cm_per_px_y) == (0.04, 0.045)
    assert calibration.source == "US region 2 of 2 (2D tissue)"
    assert (region.x0, region.y0, region.x1, region.y1) == (100, 20, 500, 290)


def test_region_not_in_cm_leaves_the_cine_uncalibrated_but_keeps_the_rectangle() -> None:
    calibration, note, region = _calibrate(_region(units=(0, 0)))
    assert calibration is None and "not in cm" in note and region is not None


def test_colour_box_inside_the_tissue_region_does_not_compete() -> None:
    outer = _region(box=(50, 20, 600, 450), delta=(0.05, 0.05))
    inner = _region(box=(200, 100, 300, 200), delta=(0.02, 0.02))
    calibration, _, _ = _calibrate(inner, outer)
    assert calibration.cm_per_px_x == 0.05


def test_dual_display_with_different_scales_is_ambiguous() -> None:
    left = _region(box=(0, 0, 319, 479), delta=(0.05, 0.05))
    right = _region(box=(320, 0, 639, 479), delta=(0.08, 0.08))
    calibration, note, _ = _calibrate(left, right)
    assert calibration is None and "ambiguous" in note


def test_dual_display_with_the_same_scale_is_calibrated() -> None:
    left = _region(box=(0, 0, 319, 479), delta=(0.05, 0.05))
    right = _region(box=(320, 0, 639, 479), delta=(0.05, 0.05))
    calibration, note, _ = _calibrate(left, right)
    assert calibration.cm_per_px_x == 0.05 and "largest of 2" in note


def test_no_tissue_region_means_uncalibrated_with_the_reason() -> None:
    calibration, note, region = _calibrate(_region(fmt=4, dtype=10))  # an ECG trace
    assert calibration is None and region is None and "no 2D tissue region" in note


def test_pixel_spacing_is_the_fallback_without_regions() -> None:
    calibration, note, _ = dicom_calibration(_ds(PixelSpacing=[0.4, 0.5]), 640, 480)
    assert (calibration.cm_per_px_x, calibration.cm_per_px_y) == (0.05, 0.04)
    assert "PixelSpacing" in note


def test_nothing_at_all_says_so() -> None:
    calibration, note, _ = dicom_calibration(_ds(), 640, 480)
    assert calibration is None and "no Sequence of Ultrasound Regions" in note
