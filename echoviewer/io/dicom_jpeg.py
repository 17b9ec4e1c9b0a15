"""Fast path for JPEG Baseline cines: OpenCV decodes each encapsulated frame.

Written by hand because it is ~20× faster than pydicom's ``pixel_array`` (with gdcm) on a
120-frame 640×480 cine: libjpeg-turbo decodes only the luma plane for the grey frames, in threads
that release the GIL, and colour frames are decoded on demand (``ColourFrames``).
``bench/load.py`` measures it; tests check it matches pydicom's pixels.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from pydicom.encaps import generate_frames

from echoviewer.io.libjpeg_warnings import LibjpegWarnings
from echoviewer.io.pixels import ColourFrames, has_colour, sample_indices

# Photometric interpretations whose JPEG streams libjpeg decodes the way DICOM means them:
# YCbCr converted to RGB, or a single grey component. RGB-labelled streams are ambiguous
# (JFIF vs Adobe markers) and go through pydicom.
_FAST_PHOTOMETRICS = {"YBR_FULL_422", "YBR_FULL", "MONOCHROME2"}
_EOI = b"\xff\xd9"


def eligible(photometric: str, bits_allocated: int) -> bool:
    return photometric in _FAST_PHOTOMETRICS and bits_allocated == 8


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _imdecode(encoded: bytes, flag: int) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(encoded, np.uint8), flag)


def quiet_imdecode(encoded: bytes, flag: int) -> np.ndarray | None:
    """One frame through OpenCV, libjpeg's warnings kept off stderr."""
    with LibjpegWarnings():
        return _imdecode(encoded, flag)


def decode(ds: Any, n_frames: int, rows: int, cols: int, samples: int
           ) -> tuple[np.ndarray, ColourFrames | None, tuple[int, ...]] | None:
    """(grey frames, colour frames or None, the frames libjpeg found damaged), or None when OpenCV
    cannot decode every frame (the caller then checks the stream and falls back to pydicom).
    A damaged frame is kept as libjpeg decoded it: the part before the damage is the image."""
    try:
        encoded = list(generate_frames(ds.PixelData, number_of_frames=n_frames))
    except Exception:  # a damaged fragment table: the fallback gives the diagnosis
        return None
    if len(encoded) != n_frames:
        return None
    grey = np.empty((n_frames, rows, cols), np.uint8)
    truncated: list[int] = []

    def decode_grey(indices: range) -> bool:
        for index in indices:
            # For a YCbCr stream libjpeg returns the Y plane: the same luma pydicom's RGB gives.
            image = _imdecode(encoded[index], cv2.IMREAD_GRAYSCALE)
            if image is None and _EOI not in encoded[index][-4:]:
                # OpenCV refuses a stream without its end marker, where libjpeg alone would end it
                # ("Premature end of JPEG file") and keep what is there: end it so.
                encoded[index] += _EOI
                truncated.append(index)
                image = _imdecode(encoded[index], cv2.IMREAD_GRAYSCALE)
            if image is None or image.shape != (rows, cols):
                return False
            grey[index] = image
        return True

    # One interleaved share of the frames per thread: a task per frame costs more than it saves.
    workers = _workers()
    damaged: list[int] = []
    rgb_of_damaged: dict[int, np.ndarray] = {}
    with LibjpegWarnings() as warnings, ThreadPoolExecutor(workers) as pool:
        if not all(pool.map(decode_grey, [range(k, n_frames, workers) for k in range(workers)])):
            return None
        remaining = warnings.damaged()
        # The threads' warnings say how many frames are damaged, not which: decode again one at a
        # time until each warning is placed (only for a damaged file), and keep the colour of
        # those frames now, so showing them later prints nothing either.
        for index in range(n_frames):
            if not remaining:
                break
            _imdecode(encoded[index], cv2.IMREAD_GRAYSCALE)
            if warnings.damaged():
                damaged.append(index)
                remaining -= 1
        damaged = sorted({*damaged, *truncated})
        if samples == 3:
            rgb_of_damaged = {index: _rgb(encoded[index], grey[index], rows, cols) for index in damaged}
    if samples == 1:
        return grey, None, tuple(damaged)

    def decode_rgb(index: int) -> np.ndarray:
        if index in rgb_of_damaged:
            return rgb_of_damaged[index].copy()
        return _rgb(encoded[index], grey[index], rows, cols)

    if not has_colour(decode_rgb(int(i)) for i in sample_indices(n_frames)):
        return grey, None, tuple(damaged)
    return grey, ColourFrames(n_frames, decode_rgb), tuple(damaged)


def _rgb(encoded: bytes, grey: np.ndarray, rows: int, cols: int) -> np.ndarray:
    image = _imdecode(encoded, cv2.IMREAD_COLOR)
    if image is None or image.shape != (rows, cols, 3):
        return np.repeat(grey[..., None], 3, axis=-1)  # decoded as grey at load
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
