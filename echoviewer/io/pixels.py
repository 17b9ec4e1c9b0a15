"""Pixel conversions shared by every loader: any decoded array → uint8 grey frames, plus the
colour frames when the content really has colour."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np

from echoviewer.io.errors import UnsupportedImageError

# JPEG chroma subsampling leaves a few grey levels between channels of a grey image; real colour
# (Doppler, coloured ECG traces and labels) differs by far more.
_COLOUR_TOLERANCE = 12
_COLOUR_SAMPLE_FRAMES = 8


class ColourFrames:
    """RGB frames of a colour cine: in memory, or decoded one frame at a time on demand.

    Lazy decoding keeps a JPEG cine's load to its grey frames (what analysis needs) while the
    viewer decodes the colour frame it shows in about a millisecond.
    """

    def __init__(self, n_frames: int, decode: Callable[[int], np.ndarray]) -> None:
        self._n_frames = n_frames
        self._decode = decode
        self._array: np.ndarray | None = None

    @classmethod
    def from_array(cls, rgb: np.ndarray) -> ColourFrames:
        frames = cls(len(rgb), rgb.__getitem__)
        frames._array = rgb
        return frames

    def frame(self, index: int) -> np.ndarray:
        """uint8 (H, W, 3) RGB frame ``index``."""
        return self._array[index] if self._array is not None else self._decode(index)

    def array(self) -> np.ndarray:
        """All frames as uint8 (T, H, W, 3), decoded once and then kept."""
        if self._array is None:
            first = self._decode(0)
            array = np.empty((self._n_frames, *first.shape), np.uint8)
            array[0] = first
            for index in range(1, self._n_frames):
                array[index] = self._decode(index)
            self._array = array
        return self._array


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Scale any numeric array to uint8 over the whole cine's range (not per frame, so the
    brightness of one frame never jumps against another)."""
    if frames.dtype == np.uint8:
        return frames
    if frames.dtype == np.bool_:
        return frames.astype(np.uint8) * 255
    if not np.issubdtype(frames.dtype, np.number) or np.issubdtype(frames.dtype, np.complexfloating):
        raise UnsupportedImageError(f"pixel type {frames.dtype} is not an image; "
                                    "save the frames as uint8 or float")
    data = frames.astype(np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(frames.shape, np.uint8)
    low, high = float(data[finite].min()), float(data[finite].max())
    if np.issubdtype(frames.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0  # a [0, 1] float image keeps its absolute brightness
    scale = 255.0 / (high - low) if high > low else 0.0
    out = np.nan_to_num((data - low) * scale, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def sample_indices(n_frames: int, count: int = _COLOUR_SAMPLE_FRAMES) -> np.ndarray:
    """Up to ``count`` frame indices spread evenly over a cine."""
    return np.unique(np.linspace(0, n_frames - 1, count).astype(int))


def has_colour(frames: Iterable[np.ndarray]) -> bool:
    """True when some of these (H, W, 3) RGB frames has pixels whose channels really differ."""
    for frame in frames:
        channels = frame.astype(np.int16)
        spread = np.abs(channels[..., 0] - channels[..., 1]) + np.abs(channels[..., 1] - channels[..., 2])
        if np.count_nonzero(spread > _COLOUR_TOLERANCE) > 0.0005 * spread.size:
            return True
    return False


def grey_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601, as JPEG's Y) of (T, H, W, 3) RGB frames."""
    grey = np.empty(rgb.shape[:3], np.uint8)
    for index, frame in enumerate(rgb):
        cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY, dst=grey[index])
    return grey


def split_grey_and_colour(frames: np.ndarray) -> tuple[np.ndarray, ColourFrames | None]:
    """(T, H, W) or (T, H, W, C) uint8 → (grey frames, RGB frames or None when grey content)."""
    if frames.ndim == 3:
        return np.ascontiguousarray(frames), None
    channels = frames.shape[-1]
    if channels == 1:
        return np.ascontiguousarray(frames[..., 0]), None
    if channels == 4:
        frames = frames[..., :3]
    elif channels != 3:
        raise UnsupportedImageError(f"{channels} channels per pixel; expected 1, 3 or 4")
    rgb = np.ascontiguousarray(frames)
    grey = grey_from_rgb(rgb)
    colour = has_colour(rgb[sample_indices(len(rgb))])
    return grey, (ColourFrames.from_array(rgb) if colour else None)
