"""The JPEG header check that stands between damaged files and gdcm (which can crash on them)."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from echoviewer.io.jpeg_markers import JpegStructureError, check_jpeg_header


def _frames(path, n=None):
    ds = pydicom.dcmread(path)
    return list(generate_frames(ds.PixelData, number_of_frames=n or int(ds.get("NumberOfFrames", 1))))


def _baseline() -> bytes:
    image = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) % 251).astype(np.uint8)
    return cv2.imencode(".jpg", cv2.merge([image, image // 2, 255 - image]))[1].tobytes()


def _find(data: bytes, marker: int) -> int:
    return data.index(bytes([0xFF, marker]))


@pytest.mark.parametrize("name", ["color3d_jpeg_baseline.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                                  "emri_small_jpeg_ls_lossless.dcm"])
def test_real_vendor_streams_pass(pydicom_data, name) -> None:
    for frame in _frames(pydicom_data / name):
        check_jpeg_header(frame)


def test_opencv_stream_passes() -> None:
    check_jpeg_header(_baseline())


def _damaged(kind: str) -> bytes:
    data = bytearray(_baseline())
    if kind == "precision":
        data[_find(data, 0xC0) + 4] = 79
    elif kind == "no soi":
        data[1] = 0x00
    elif kind == "segment length":
        at = _find(data, 0xDB)
        data[at + 2: at + 4] = (60000).to_bytes(2, "big")
    elif kind == "dqt table id":
        data[_find(data, 0xDB) + 4] = 0x17
    elif kind == "huffman counts":
        at = _find(data, 0xC4)
        data[at + 5: at + 21] = bytes([255] * 16)
    elif kind == "deleted byte":
        del data[30]
    elif kind == "sampling":
        data[_find(data, 0xC0) + 11] = 0x00
    elif kind == "truncated":
        data = data[: _find(data, 0xDA)]
    return bytes(data)


@pytest.mark.parametrize("kind", ["precision", "no soi", "segment length", "dqt table id",
                                  "huffman counts", "deleted byte", "sampling", "truncated"])
def test_damaged_headers_are_refused(kind) -> None:
    with pytest.raises(JpegStructureError):
        check_jpeg_header(_damaged(kind))
