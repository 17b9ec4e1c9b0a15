"""Issue 20 (9): JPEG XL DICOM (1.2.840.10008.1.2.4.110-112, newer than pydicom 3.0) is decoded,
frame by frame with imagecodecs' libjxl in the decode worker."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info

from echoviewer.io import load_cine
from echoviewer.io.preview import first_frame
from tests.helpers import moving_frames, write_dicom

JPEG_XL, JPEG_XL_LOSSLESS = "1.2.840.10008.1.2.4.112", "1.2.840.10008.1.2.4.110"


def _jpeg_xl_dicom(tmp_path: Path, frames: np.ndarray, syntax: str = JPEG_XL,
                   damaged: int | None = None) -> Path:
    """An ultrasound cine whose frames are lossless JPEG XL codestreams (frame ``damaged`` cut short)."""
    ds = pydicom.dcmread(write_dicom(tmp_path / "plain.dcm", frames, compression="none"))
    encoded = [imagecodecs.jpegxl_encode(frame, lossless=True) for frame in frames]
    if damaged is not None:
        encoded[damaged] = encoded[damaged][: len(encoded[damaged]) // 2]
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    path = tmp_path / "jxl.dcm"
    with open(path, "wb") as handle:  # written by parts: pydicom 3.0's save_as refuses a syntax it does not know
        handle.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(handle, ds.file_meta, enforce_standard=True)
        body = DicomFileLike(handle)
        body.is_little_endian, body.is_implicit_VR = True, False
        write_dataset(body, ds)
    return path


@pytest.mark.parametrize("syntax, name", [(JPEG_XL, "JPEG XL"), (JPEG_XL_LOSSLESS, "JPEG XL Lossless")])
def test_grey_jpeg_xl_frames_decode_to_their_pixels(tmp_path, syntax, name) -> None:
    frames = moving_frames(n_frames=6)
    cine = load_cine(_jpeg_xl_dicom(tmp_path, frames, syntax))
    np.testing.assert_array_equal(cine.frames, frames)
    assert cine.colour is None and cine.timing.fps == pytest.approx(50.0)
    assert cine.metadata.decoder == "imagecodecs" and cine.metadata.damaged_frames == ()
    assert cine.describe()["transfer_syntax"] == name and cine.describe()["transfer_syntax_uid"] == syntax


def test_colour_jpeg_xl_frames_decode_to_their_rgb(tmp_path) -> None:
    frames = moving_frames(n_frames=4, colour=True)
    cine = load_cine(_jpeg_xl_dicom(tmp_path, frames))
    assert cine.rgb is not None
    np.testing.assert_array_equal(cine.rgb, frames)


def test_a_damaged_jpeg_xl_frame_costs_that_frame_only(tmp_path) -> None:
    frames = moving_frames(n_frames=5)
    cine = load_cine(_jpeg_xl_dicom(tmp_path, frames, damaged=3))
    assert cine.metadata.damaged_frames == (3,)
    np.testing.assert_array_equal(cine.frames[[0, 1, 2, 4]], frames[[0, 1, 2, 4]])
    np.testing.assert_array_equal(cine.frames[3], frames[2])
    assert first_frame(_jpeg_xl_dicom(tmp_path, frames)) is None  # no preview: libjxl runs in the worker only
