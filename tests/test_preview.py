"""first_frame: the display frame 0 of load_cine, fast, or None when no safe fast preview exists."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.pixels.decoders.base import Decoder
from pydicom.uid import JPEG2000Lossless, RLELossless

from echoviewer.io import load_cine
from echoviewer.io.preview import first_frame
from echoviewer.resources import SAMPLE_CINE
from tests.helpers import moving_frames, recompress, write_dicom


def assert_is_display_frame_0(path) -> np.ndarray:
    preview = first_frame(path)
    expected = load_cine(path).display_frame(0)
    assert preview is not None
    assert preview.dtype == np.uint8 and preview.shape == expected.shape
    assert np.array_equal(preview, expected)
    return preview


def test_bundled_sample() -> None:
    assert assert_is_display_frame_0(SAMPLE_CINE).ndim == 2


@pytest.mark.parametrize("name", [
    "color3d_jpeg_baseline.dcm",    # JPEG Baseline YBR_FULL_422, 120 frames, real colour
    "OBXXXX1A_2frame.dcm",          # uncompressed palette colour, 2 frames
    "OBXXXX1A_expb_2frame.dcm",     # ... big endian
    "SC_rgb_2frame.dcm",            # uncompressed RGB, 2 frames
    "US1_UNCR.dcm",                 # uncompressed ultrasound RGB
    "OT-PAL-8-face.dcm",            # raw dataset: no preamble, no file meta
])
def test_real_vendor_files(pydicom_data, name) -> None:
    assert assert_is_display_frame_0(pydicom_data / name).ndim == 3


def test_jpeg_colour_stream_with_grey_content_is_its_luma(tmp_path) -> None:
    tinted = np.repeat(moving_frames()[..., None], 3, axis=-1).astype(np.int16)
    tinted[..., 0] += 6  # a faint tint, below what counts as colour
    tinted[..., 2] -= 4
    path = write_dicom(tmp_path / "grey.dcm", np.clip(tinted, 0, 255).astype(np.uint8), compression="jpeg")
    assert pydicom.dcmread(path).PhotometricInterpretation == "YBR_FULL_422"
    assert assert_is_display_frame_0(path).ndim == 2


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_long_uncompressed_cine(tmp_path, photometric) -> None:
    path = write_dicom(tmp_path / "plain.dcm", moving_frames(n_frames=200), compression="none")
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = photometric
    ds.save_as(path)
    assert assert_is_display_frame_0(path).ndim == 2


def _write_video(path, frames: np.ndarray, fourcc: str) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0,
                             (frames.shape[2], frames.shape[1]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame[..., ::-1].copy())
    writer.release()


@pytest.mark.parametrize("name, colour, fourcc", [
    ("grey.avi", False, "MJPG"), ("colour.avi", True, "MJPG"), ("colour.mp4", True, "mp4v"),
])
def test_videos(tmp_path, name, colour, fourcc) -> None:
    path = tmp_path / name
    _write_video(path, moving_frames(n_frames=12, rows=96, cols=128, colour=colour), fourcc)
    assert assert_is_display_frame_0(path).ndim == (3 if colour else 2)


@pytest.mark.parametrize("cut", [300, 0.5, -9])
def test_truncated_files_give_none(tmp_path, cut) -> None:
    data = SAMPLE_CINE.read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:int(len(data) * cut) if isinstance(cut, float) else cut])
    assert first_frame(path) is None


def test_truncated_uncompressed_gives_none(tmp_path) -> None:
    data = write_dicom(tmp_path / "plain.dcm", moving_frames(n_frames=20), compression="none").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:-1])
    assert first_frame(tmp_path / "cut.dcm") is None


@pytest.mark.parametrize("name, content", [
    ("notes.txt", b"not a cine\n"), ("notes.dcm", b"not a cine either\n" * 20), ("empty.avi", b""),
    ("garbage.mp4", bytes(range(256)) * 8),
])
def test_other_files_give_none(tmp_path, name, content) -> None:
    (tmp_path / name).write_bytes(content)
    assert first_frame(tmp_path / name) is None


def test_numpy_missing_and_folder_give_none(tmp_path) -> None:
    np.save(tmp_path / "cine.npy", moving_frames())
    assert first_frame(tmp_path / "cine.npy") is None
    assert first_frame(tmp_path / "missing.dcm") is None
    assert first_frame(tmp_path) is None


def test_16_bit_dicom_gives_none(pydicom_data) -> None:
    assert first_frame(pydicom_data / "emri_small.dcm") is None  # scaled over the whole cine


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_other_compression_gives_none_without_decoding_in_process(tmp_path, monkeypatch, syntax) -> None:
    plain = write_dicom(tmp_path / "plain.dcm", moving_frames(), compression="none")
    packed = recompress(plain, tmp_path / "packed.dcm", syntax)
    decoded = []

    def spy(original):
        def recording(self, *args, **kwargs):
            decoded.append(self.UID)
            return original(self, *args, **kwargs)
        return recording

    for method in ("as_array", "iter_array", "as_buffer", "iter_buffer"):
        monkeypatch.setattr(Decoder, method, spy(getattr(Decoder, method)))
    assert first_frame(packed) is None
    assert decoded == []
    assert first_frame(plain) is not None and decoded  # the spy does see in-process decoding
