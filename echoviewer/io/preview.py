"""Frame 0 of a cine in milliseconds, so the viewer shows a picture while the whole cine loads.

Only what the viewer process may decode itself is previewed: JPEG Baseline 8-bit DICOM (OpenCV,
as :mod:`.dicom_jpeg`), uncompressed 8-bit DICOM (pydicom reads frame 0 alone) and videos (one
frame through OpenCV's FFmpeg). Other compressed DICOMs, whose codecs run only in the decode
worker, NumPy files and anything that fails give None: the full load reports the errors.

The result is ``load_cine(path).display_frame(0)``, except that colour is judged on frame 0 alone
(the loader samples the whole cine): a cine whose colour starts later previews in grey.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import pydicom
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import JPEGBaseline8Bit, UID

from echoviewer.io import dicom_jpeg
from echoviewer.io.dicom import checked_geometry, int_attr, palette_to_rgb, text_attr, transfer_syntax
from echoviewer.io.loader import sniff
from echoviewer.io.pixels import has_colour
from echoviewer.io.video import open_capture

_PIXEL_DATA = (0x7FE0, 0x0010)
_ITEM, _SEQUENCE_DELIMITER = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)
_UNDEFINED_LENGTH = 0xFFFFFFFF


def first_frame(path: str | os.PathLike[str]) -> np.ndarray | None:
    """Display frame 0: uint8 RGB (H, W, 3) when it has colour, else grey (H, W); None when no
    fast preview is possible or the file is damaged (never raises for a bad file)."""
    path = Path(path)
    try:
        if not path.is_file():  # a folder, or a FIFO that would block the open
            return None
        with open(path, "rb") as handle:
            kind = sniff(handle.read(132), path.suffix.lower())
            if kind in ("dicom", "raw-dicom"):
                handle.seek(0)
                with warnings.catch_warnings():  # pydicom's warnings quote element values
                    warnings.simplefilter("ignore")
                    return _dicom_frame(path, handle, force=kind == "raw-dicom")
        return _video_frame(path) if kind == "video" else None
    except Exception:  # untrusted bytes: any failure only means no preview
        return None


def _display(frame: np.ndarray) -> np.ndarray:
    """An RGB frame stays RGB only when its channels really differ, as the loaders decide."""
    if frame.ndim == 2 or has_colour([frame]):
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _dicom_frame(path: Path, handle: BinaryIO, force: bool) -> np.ndarray | None:
    ds = pydicom.dcmread(handle, stop_before_pixels=True, force=force)
    syntax = transfer_syntax(ds)
    rows, cols, n_frames, samples = checked_geometry(path, ds)  # refuses what the loader refuses
    photometric = text_attr(ds, "PhotometricInterpretation")
    bits = int_attr(ds, "BitsAllocated", 0)
    if not syntax.is_transfer_syntax:
        return None  # one pydicom does not know (JPEG XL: its codec runs in the decode worker only)
    length = _pixel_data_length(handle, syntax)  # ``handle`` now stands at the value
    remaining = os.fstat(handle.fileno()).st_size - handle.tell()
    if syntax == JPEGBaseline8Bit and dicom_jpeg.eligible(photometric, bits):
        if length != _UNDEFINED_LENGTH or not _items_complete(handle, remaining):
            return None
        return _jpeg_frame(get_frame(handle, 0, number_of_frames=n_frames), rows, cols, samples)
    if syntax.is_compressed or syntax.is_deflated or bits != 8 \
            or int_attr(ds, "PixelRepresentation", 0) != 0:
        return None  # signed or wider samples are scaled over the whole cine by the loader
    if length is None or not rows * cols * samples * n_frames <= length <= remaining:
        return None  # truncated, or a damaged length
    frame = pixel_array(handle, index=0, transfer_syntax_uid=syntax)
    if photometric == "PALETTE COLOR":
        frame = palette_to_rgb(frame, ds)
    elif photometric == "MONOCHROME1":
        frame = 255 - frame  # 0 is white
    return _display(frame)


def _pixel_data_length(handle: BinaryIO, syntax: UID) -> int | None:
    """The length of the Pixel Data element whose header is read from ``handle``, or None when
    something else stands there."""
    order = "<" if syntax.is_little_endian else ">"
    if syntax.is_implicit_VR:
        group, element, length = struct.unpack(order + "HHL", handle.read(8))
    else:
        group, element, vr, _, length = struct.unpack(order + "HH2sHL", handle.read(12))
        if vr not in (b"OB", b"OW"):
            return None
    return length if (group, element) == _PIXEL_DATA else None


def _items_complete(handle: BinaryIO, remaining: int) -> bool:
    """True when the encapsulated items at ``handle`` all lie within the next ``remaining`` bytes
    and end with the sequence delimiter, as a whole file's do (``handle`` is put back)."""
    start = handle.tell()
    try:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return False
            group, element, length = struct.unpack("<HHL", header)
            if (group, element) == _SEQUENCE_DELIMITER:
                return True
            if (group, element) != _ITEM or handle.tell() - start + length > remaining:
                return False
            handle.seek(length, os.SEEK_CUR)
    finally:
        handle.seek(start)


def _jpeg_frame(encoded: bytes, rows: int, cols: int, samples: int) -> np.ndarray | None:
    if samples == 3:
        bgr = dicom_jpeg.quiet_imdecode(encoded, cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape != (rows, cols, 3):
            return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if has_colour([rgb]):
            return rgb
    grey = dicom_jpeg.quiet_imdecode(encoded, cv2.IMREAD_GRAYSCALE)  # the Y plane, as the loader's grey frames
    return grey if grey is not None and grey.shape == (rows, cols) else None


def _video_frame(path: Path) -> np.ndarray | None:
    capture = open_capture(path)
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
    finally:
        capture.release()
    if not ok or frame is None:
        return None
    return _display(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else frame)
