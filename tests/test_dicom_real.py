"""Every ultrasound file in pydicom-data loads and looks right (real vendor files)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from echoviewer.io import load_cine
from tests.conftest import pydicom_data_dir

ULTRASOUND_FILES = sorted(
    p.name for p in pydicom_data_dir().glob("*.dcm")
    if pydicom.dcmread(p, stop_before_pixels=True, force=True).get("Modality") == "US")


def test_pydicom_data_has_the_ultrasound_files_we_rely_on() -> None:
    for name in ("color3d_jpeg_baseline.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "US1_J2KR.dcm",
                 "US1_J2KI.dcm", "US1_UNCR.dcm", "OBXXXX1A_rle.dcm", "OBXXXX1A_expb_2frame.dcm",
                 "gdcm-US-ALOKA-16.dcm", "color-pl.dcm"):
        assert name in ULTRASOUND_FILES


@pytest.mark.parametrize("name", ULTRASOUND_FILES)
def test_every_ultrasound_file_loads_as_a_consistent_cine(pydicom_data, name) -> None:
    cine = load_cine(pydicom_data / name)
    ds = pydicom.dcmread(pydicom_data / name, stop_before_pixels=True)
    assert cine.frames.dtype == np.uint8 and cine.frames.ndim == 3
    assert cine.n_frames == int(ds.get("NumberOfFrames", 1) or 1)
    assert (cine.height, cine.width) == (ds.Rows, ds.Columns)
    assert len(cine.times_ms) == cine.n_frames
    if cine.rgb is not None:
        assert cine.rgb.shape == cine.frames.shape + (3,) and cine.rgb.dtype == np.uint8
    # Something is shown: not a blank or saturated image.
    assert 5 < cine.frames.mean() < 200
    assert cine.sector_mask.any()


def test_color3d_timing_calibration_and_region(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "color3d_jpeg_baseline.dcm")
    assert (cine.n_frames, cine.height, cine.width) == (120, 480, 640)
    assert cine.timing.source == "FrameTime" and not cine.timing.assumed
    assert cine.timing.fps == pytest.approx(30.0, abs=0.01)
    assert cine.times_ms[1] == pytest.approx(33.333)
    assert cine.timing.duration_s == pytest.approx(4.0, abs=0.01)
    assert cine.calibration is not None
    assert cine.calibration.cm_per_px_x == pytest.approx(0.05105, abs=1e-5)
    assert cine.calibration.cm_per_px_y == pytest.approx(0.05105, abs=1e-5)
    region = cine.region
    assert (region.x0, region.y0, region.x1, region.y1) == (84, 31, 595, 414)
    assert cine.metadata.manufacturer.startswith("SonoSite")
    assert cine.metadata.decoder == "opencv"


def test_color3d_is_not_green(pydicom_data) -> None:
    """pydicom 3 already returns RGB for JPEG: converting again would make the image green."""
    cine = load_cine(pydicom_data / "color3d_jpeg_baseline.dcm")
    assert cine.rgb is not None  # the cine has coloured annotations
    sector = cine.rgb[:, cine.sector_mask]
    means = sector.reshape(-1, 3).mean(axis=0)
    assert np.ptp(means) < 3, f"channel means {means} differ: colour conversion is wrong"
    # The grey frames are the luma of the displayed colour.
    luma = cine.rgb[0].astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(luma - cine.frames[0]).mean() < 1.0


def test_sector_mask_covers_the_fan_not_the_annotations(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "color3d_jpeg_baseline.dcm")
    mask = cine.sector_mask
    assert 0.3 < mask.mean() < 0.6
    assert not mask[:, :84].any() and not mask[:, 596:].any()  # side panels with text
    assert mask[200, 340]  # the middle of the sector


@pytest.mark.slow
def test_jpeg_fast_path_matches_pydicom_decoders(pydicom_data) -> None:
    path = pydicom_data / "color3d_jpeg_baseline.dcm"
    fast = load_cine(path)
    reference = pydicom.dcmread(path).pixel_array  # gdcm, through pydicom's handlers
    assert fast.metadata.decoder == "opencv"
    assert reference.shape == fast.rgb.shape
    assert np.abs(fast.rgb.astype(np.int16) - reference).mean() < 2.0


@pytest.mark.parametrize("variant", ["OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm"])
def test_palette_colour_variants_agree(pydicom_data, variant) -> None:
    """The same Philips image stored little endian, big endian and RLE gives the same picture."""
    reference = load_cine(pydicom_data / "OBXXXX1A.dcm")
    cine = load_cine(pydicom_data / variant)
    assert np.abs(cine.frames.astype(int) - reference.frames).mean() < 1.0
    assert (cine.rgb is None) == (reference.rgb is None)


@pytest.mark.parametrize("compressed", ["US1_J2KR.dcm", "US1_UNCR.dcm"])
def test_jpeg2000_matches_uncompressed(pydicom_data, compressed) -> None:
    reference = load_cine(pydicom_data / "US1_UNCR.dcm")
    cine = load_cine(pydicom_data / compressed)
    assert np.abs(cine.frames.astype(int) - reference.frames).max() == 0  # lossless


def test_jpeg_lossless_ultrasound_is_calibrated(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "JPGLosslessP14SV1_1s_1f_8b.dcm")
    assert cine.n_frames == 1
    assert cine.calibration.cm_per_px_x == pytest.approx(0.0254767, rel=1e-5)
    assert (cine.region.x0, cine.region.y1) == (14, 758)


def test_sixteen_bit_palette_is_scaled_not_clipped(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "gdcm-US-ALOKA-16.dcm")
    assert cine.frames.max() > 200 and cine.frames[0][cine.sector_mask].std() > 10
    assert cine.calibration is not None and cine.calibration_note.startswith("US region 1 of 3")


def test_raw_dicom_without_preamble_loads(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "OT-PAL-8-face.dcm")
    assert cine.frames.shape == (1, 480, 640)


def test_colour_frames_decode_on_demand_and_match_the_full_array(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "color3d_jpeg_baseline.dcm")
    shown = [cine.display_frame(i) for i in (0, 57, 119)]
    assert all(frame.shape == (480, 640, 3) for frame in shown)
    assert all(np.array_equal(frame, cine.rgb[i]) for frame, i in zip(shown, (0, 57, 119)))
