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

from echoviewer.io.pixels import ColourFrames, has_colour, sample_indices

# Photometric interpretations whose JPEG streams libjpeg decodes the way DICOM means them:
# YCbCr converted to RGB, or a single grey component. RGB-labelled streams are ambiguous
# (JFIF vs Adobe markers) and go through pydicom.
_FAST_PHOTOMETRICS = {"YBR_FULL_422", "YBR_FULL", "MONOCHROME2"}


def eligible(photometric: str, bits_allocated: int) -> bool:
    return photometric in _FAST_PHOTOMETRICS and bits_allocated == 8


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _imdecode(encoded: bytes, flag: int) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(encoded, np.uint8), flag)


def decode(ds: Any, n_frames: int, rows: int, cols: int, samples: int
           ) -> tuple[np.ndarray, ColourFrames | None] | None:
    """(grey frames, colour frames or None), or None when OpenCV cannot decode every frame
    (the caller then checks the stream and falls back to pydicom)."""
    try:
        encoded = list(generate_frames(ds.PixelData, number_of_frames=n_frames))
    except Exception:  # a damaged fragment table: the fallback gives the diagnosis
        return None
    if len(encoded) != n_frames:
        return None
    grey = np.empty((n_frames, rows, cols), np.uint8)

    def decode_grey(indices: range) -> bool:
        for index in indices:
            # For a YCbCr stream libjpeg returns the Y plane: the same luma pydicom's RGB gives.
            image = _imdecode(encoded[index], cv2.IMREAD_GRAYSCALE)
            if image is None or image.shape != (rows, cols):
                return False
            grey[index] = image
        return True

    # One interleaved share of the frames per thread: a task per frame costs more than it saves.
    workers = _workers()
    with ThreadPoolExecutor(workers) as pool:
        if not all(pool.map(decode_grey, [range(k, n_frames, workers) for k in range(workers)])):
            return None
    if samples == 1:
        return grey, None

    def decode_rgb(index: int) -> np.ndarray:
        image = _imdecode(encoded[index], cv2.IMREAD_COLOR)
        if image is None or image.shape != (rows, cols, 3):
            return np.repeat(grey[index][..., None], 3, axis=-1)  # decoded as grey at load
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    if not has_colour(decode_rgb(int(i)) for i in sample_indices(n_frames)):
        return grey, None
    return grey, ColourFrames(n_frames, decode_rgb)
