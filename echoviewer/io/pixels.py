"""Pixel conversions shared by every loader: any decoded array → uint8 grey frames, plus the
colour frames when the content really has colour; and the memory budget every loader checks a
file's declared size against before it allocates anything."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import cv2
import numpy as np

from echoviewer.io.errors import CorruptDataError, UnsupportedImageError

# A decoded cine larger than this is refused before anything is allocated: it is either a
# corrupt header or more than a desktop should hold at once.
MAX_DECODED_BYTES = 6 * 1024**3
# JPEG chroma subsampling leaves a few grey levels between channels of a grey image; real colour
# (Doppler, coloured ECG traces and labels) differs by far more.
_COLOUR_TOLERANCE = 12
_COLOUR_SAMPLE_FRAMES = 8
# Arrays are converted this many bytes of frames at a time, so the float temporaries of a
# conversion stay small beside the frames themselves.
_CHUNK_BYTES = 16 * 1024**2
# Frames added at a time, at least, when a cine turns out longer than its container declared.
_GROWTH_FRAMES = 64


def check_decoded_size(name: str, claim: str, n_frames: int, rows: int, cols: int, bytes_per_pixel: int) -> None:
    """Refuse, before anything is allocated, a cine that would take more than MAX_DECODED_BYTES:
    ``claim`` says who states the size ("header claims", ...), ``bytes_per_pixel`` what the
    loader holds per pixel (grey, plus the channels it decodes)."""
    decoded = n_frames * rows * cols * bytes_per_pixel
    if decoded > MAX_DECODED_BYTES:
        raise CorruptDataError(
            f"{name}: {claim} {n_frames} frames of {cols}×{rows}, {decoded / 1024**3:.1f} GB decoded, "
            f"over the {MAX_DECODED_BYTES / 1024**3:g} GB a cine may take; the file is damaged, or "
            "the cine is too long to hold at once: export a shorter clip")


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


def uint8_scale(dtype: np.dtype, chunks: Iterable[np.ndarray]) -> tuple[float, float] | None:
    """(low, factor) that map a cine's values to uint8 over the whole cine's range (not per frame,
    so the brightness of one frame never jumps against another), from its frames in ``chunks``
    (not read for uint8 and bool); None for uint8, which stays as it is."""
    if dtype == np.uint8:
        return None
    if dtype == np.bool_:
        return 0.0, 255.0
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise UnsupportedImageError(f"pixel type {dtype} is not an image; save the frames as uint8 or float")
    low, high = math.inf, -math.inf
    for chunk in chunks:
        data = chunk.astype(np.float32, copy=False)
        finite = data[np.isfinite(data)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    if low > high:
        return 0.0, 0.0  # nothing finite: black
    if np.issubdtype(dtype, np.floating) and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0  # a [0, 1] float image keeps its absolute brightness
    return low, (255.0 / (high - low) if high > low else 0.0)


def scaled_uint8(frames: np.ndarray, scale: tuple[float, float] | None) -> np.ndarray:
    """``frames`` mapped to uint8 by :func:`uint8_scale`'s (low, factor), with one float32 temporary."""
    if scale is None:
        return frames
    low, factor = scale
    out = frames.astype(np.float32)  # a copy, changed in place from here
    out -= low
    out *= factor
    np.nan_to_num(out, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    out += 0.5
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def frames_per_chunk(n_frames: int, frame_bytes: int) -> int:
    """How many frames to convert at a time: about _CHUNK_BYTES, and at most a thirty-second of
    the cine, so the temporaries of a conversion stay small beside the frames themselves."""
    return max(1, min(_CHUNK_BYTES // max(1, frame_bytes), n_frames // 32))


def frame_chunks(frames: np.ndarray) -> Iterator[np.ndarray]:
    """Views of a few frames at a time (:func:`frames_per_chunk`)."""
    step = frames_per_chunk(len(frames), frames[:1].nbytes)
    return (frames[start:start + step] for start in range(0, len(frames), step))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Scale any numeric array of frames to uint8 over the whole cine's range, a few frames at a
    time into one new array."""
    scale = uint8_scale(frames.dtype, frame_chunks(frames))
    if scale is None:
        return frames
    out = np.empty(frames.shape, np.uint8)
    start = 0
    for chunk in frame_chunks(frames):
        out[start:start + len(chunk)] = scaled_uint8(chunk, scale)
        start += len(chunk)
    return out


def sample_indices(n_frames: int, count: int = _COLOUR_SAMPLE_FRAMES) -> np.ndarray:
    """Up to ``count`` frame indices spread evenly over a cine."""
    return np.unique(np.linspace(0, n_frames - 1, count).astype(int))


def has_colour(frames: Iterable[np.ndarray]) -> bool:
    """True when some of these (H, W, 3) RGB (or BGR) frames has pixels whose channels really differ."""
    for frame in frames:
        channels = frame.astype(np.int16)
        spread = np.abs(channels[..., 0] - channels[..., 1]) + np.abs(channels[..., 1] - channels[..., 2])
        if np.count_nonzero(spread > _COLOUR_TOLERANCE) > 0.0005 * spread.size:
            return True
    return False


def frame_grey(frame: np.ndarray, bgr: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Luma (ITU-R BT.601, as JPEG's Y) of one (H, W, 3) RGB frame (BGR with ``bgr``), into ``out``
    when given; a grey (H, W) frame as it is."""
    if frame.ndim == 2:
        if out is None:
            return frame
        out[...] = frame
        return out
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY, dst=out)


def grey_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601, as JPEG's Y) of (T, H, W, 3) RGB frames."""
    grey = np.empty(rgb.shape[:3], np.uint8)
    for index, frame in enumerate(rgb):
        frame_grey(frame, out=grey[index])
    return grey


def grey_or_rgb(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) or (T, H, W, C) frames, C in 1, 3 or 4 → (T, H, W) grey or (T, H, W, 3) RGB
    (a single channel squeezed, alpha dropped; views, not copies)."""
    if frames.ndim == 3:
        return frames
    channels = frames.shape[-1]
    if channels == 1:
        return frames[..., 0]
    if channels not in (3, 4):
        raise UnsupportedImageError(f"{channels} channels per pixel; expected 1, 3 or 4")
    return frames[..., :3]


def split_grey_and_colour(frames: np.ndarray) -> tuple[np.ndarray, ColourFrames | None]:
    """(T, H, W) or (T, H, W, C) uint8 → (grey frames, RGB frames or None when grey content)."""
    frames = np.ascontiguousarray(grey_or_rgb(frames))
    if frames.ndim == 3:
        return frames, None
    grey = grey_from_rgb(frames)
    colour = has_colour(frames[sample_indices(len(frames))])
    return grey, (ColourFrames.from_array(frames) if colour else None)


class FrameCollector:
    """uint8 frames added one at a time → one grey (T, H, W) array and, from the first sampled frame
    that shows colour, one RGB (T, H, W, 3) array: memory stays at what the cine keeps.

    Colour is judged as :func:`split_grey_and_colour` judges it, on the frames :func:`sample_indices`
    picks from ``n_frames``. That count may be an estimate (a video container's): the arrays grow
    past it, each step checked against MAX_DECODED_BYTES, and are trimmed to the frames added.
    """

    def __init__(self, name: str, n_frames: int, *, claim: str, bgr: bool = False) -> None:
        """``claim`` says who declared ``n_frames`` ("container declares", ...), for the refusal
        :func:`check_decoded_size` gives before the arrays for them are allocated."""
        self._name, self._claim = name, claim
        self._capacity = max(1, n_frames)
        self._sampled = frozenset(sample_indices(n_frames).tolist()) if n_frames > 0 else frozenset({0})
        self._bgr = bgr
        self._layout: tuple[int, ...] = ()
        self._grey: np.ndarray | None = None
        self._rgb: np.ndarray | None = None
        self._colour_from = 0
        self.count = 0

    def add(self, frame: np.ndarray) -> bool:
        """Keep one frame, (H, W) grey or (H, W, 3) RGB (BGR with ``bgr``); False, keeping nothing,
        when its size differs from the first frame's (a broken tail)."""
        frame = np.ascontiguousarray(frame)
        if self._grey is None:
            self._layout = frame.shape
            check_decoded_size(self._name, self._claim, self._capacity, frame.shape[0], frame.shape[1], 1)
            self._grey = np.empty((self._capacity, *frame.shape[:2]), np.uint8)
        elif frame.shape != self._layout:
            return False
        if self.count == self._capacity:
            self._grow()
        index = self.count
        frame_grey(frame, self._bgr, out=self._grey[index])
        if frame.ndim == 3 and self._rgb is None and index in self._sampled and has_colour([frame]):
            check_decoded_size(self._name, self._claim, self._capacity, frame.shape[0], frame.shape[1], 4)
            self._rgb = np.empty((self._capacity, *frame.shape), np.uint8)
            self._colour_from = index
        if self._rgb is not None:
            self._put_rgb(index, frame)
        self.count += 1
        return True

    def finish(self, replay: Callable[[], Iterable[np.ndarray]]) -> tuple[np.ndarray, ColourFrames | None]:
        """(grey frames, RGB frames or None). Where colour first showed in a later sampled frame,
        ``replay`` gives the frames again from the first, for the RGB of those before it."""
        if self._grey is None:
            raise ValueError("no frame was added")
        if self.count < self._capacity:
            self._resize(self.count)
        if self._rgb is None:
            return self._grey, None
        filled = 0
        for index, frame in zip(range(self._colour_from), replay()):
            self._put_rgb(index, np.ascontiguousarray(frame))
            filled += 1
        if filled < self._colour_from:
            raise CorruptDataError(f"{self._name}: {filled} frames could be read a second time, "
                                   f"{self._colour_from} the first; the file is damaged")
        return self._grey, ColourFrames.from_array(self._rgb)

    def _put_rgb(self, index: int, frame: np.ndarray) -> None:
        if self._rgb is None or frame.shape != self._layout:
            raise CorruptDataError(f"{self._name}: frame {index} reads differently a second time; "
                                   "the file is damaged")
        if self._bgr:
            cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=self._rgb[index])
        else:
            self._rgb[index] = frame

    def _grow(self) -> None:
        capacity = self._capacity + max(_GROWTH_FRAMES, self._capacity // 2)
        rows, cols = self._layout[:2]
        check_decoded_size(self._name, "runs past its declared length, to more than", capacity, rows, cols,
                           4 if len(self._layout) == 3 else 1)
        self._resize(capacity)

    def _resize(self, capacity: int) -> None:
        """In place (realloc): nothing else holds a view of these arrays while frames are added."""
        for array in (self._grey, self._rgb):
            if array is not None:
                array.resize((capacity, *array.shape[1:]), refcheck=False)
        self._capacity = capacity
