"""NumPy cines for research pipelines.

``.npy``: one array (T, H, W), (T, H, W, C) with C in {1, 3, 4}, or one frame (H, W).
``.npz``: the frames under ``frames`` (else ``arr_0``, else the only array), with optional
``frame_times_ms`` (T,), ``fps`` (scalar) and ``cm_per_px`` ((x, y) or a scalar).
Never unpickled: object arrays are refused.

The frames are read a few at a time, never as one array of their stored type: a ``.npy`` through a
memory map, an ``.npz`` member as a stream out of the zip (decompressed twice for a non-uint8
array: once for the value range, once for the uint8 frames). Their declared shape is checked
against the memory budget before anything is allocated, and peak memory stays near the uint8
frames the cine keeps (a compressed float32 cine in memory at once would take 4× that).
"""

from __future__ import annotations

import math
import zipfile
from itertools import islice
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from echoviewer.io.cine import Calibration, Cine, CineMetadata, FrameTiming, description
from echoviewer.io.errors import CorruptDataError, UnsupportedImageError
from echoviewer.io.pixels import (FrameCollector, check_decoded_size, frame_chunks, frames_per_chunk, grey_or_rgb,
                                  scaled_uint8, uint8_scale)
from echoviewer.io.sector import content_region, look_samples, sampled_look
from echoviewer.io.timing import ASSUMED_FPS, PLAUSIBLE_FPS, assumed_timing, plausible_fps, plausible_steps

_FRAME_KEYS = ("frames", "arr_0")
_METADATA_KEYS = ("frame_times_ms", "fps", "cm_per_px")
# A metadata array larger than this is not metadata: it is refused before it is read.
_MAX_METADATA_BYTES = 8 * 1024**2


@dataclass(frozen=True)
class StoredArray:
    """What a ``.npy`` header (or an ``.npz`` member's) declares, and how to read its frames."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: Callable[[], Iterator[np.ndarray]]  # the frames again, a few at a time, each call


def _checked_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """(T, H, W[, C]) from a stored shape, after the shape and budget checks."""
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) not in (3, 4) or 0 in shape:
        raise UnsupportedImageError(f"{name}: array of shape {shape} is not a cine; "
                                    "expected (T, H, W) or (T, H, W, C)")
    if len(shape) == 4 and shape[3] not in (1, 3, 4):
        raise UnsupportedImageError(f"{name}: {shape[3]} channels per pixel; expected 1, 3 or 4")
    check_decoded_size(name, "the array declares", shape[0], shape[1], shape[2], 4 if len(shape) == 4 and shape[3] > 1 else 1)
    return shape


def _refuse_objects(name: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise UnsupportedImageError(f"{name}: holds Python objects, which are never loaded; "
                                    "save plain numeric arrays")


def _read_header(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the stream's .npy header; the stream then stands at the data."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)  # 2.0 and 3.0 (a UTF-8 header) alike


def _npy(path: Path) -> StoredArray:
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "object" in str(exc).lower():
            _refuse_objects(path.name, np.dtype(object))
        raise
    _refuse_objects(path.name, mapped.dtype)
    shape = _checked_shape(path.name, tuple(mapped.shape))
    frames = mapped.reshape(shape)
    return StoredArray(path.name, shape, frames.dtype, lambda: frame_chunks(frames))


def _member_chunks(archive: zipfile.ZipFile, member: str, shape: tuple[int, ...], dtype: np.dtype
                   ) -> Iterator[np.ndarray]:
    """The member's frames, a few at a time, from the zip stream (C order)."""
    frame_bytes = math.prod(shape[1:]) * dtype.itemsize
    step = frames_per_chunk(shape[0], frame_bytes)
    with archive.open(member) as stream:
        _read_header(stream)
        for start in range(0, shape[0], step):
            count = min(step, shape[0] - start)
            data = stream.read(count * frame_bytes)
            if len(data) < count * frame_bytes:
                raise CorruptDataError(f"{member}: the array ends after {start + len(data) // frame_bytes} "
                                       f"of {shape[0]} frames; the file is truncated")
            yield np.frombuffer(data, dtype).reshape(count, *shape[1:])


def _member_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    with archive.open(member) as stream:
        shape, fortran, dtype = _read_header(stream)
    _refuse_objects(member, dtype)
    return tuple(shape), fortran, dtype


def _npz_frames(path: Path, archive: zipfile.ZipFile) -> StoredArray:
    members = {name.removesuffix(".npy"): name for name in archive.namelist() if name.endswith(".npy")}
    key = next((k for k in _FRAME_KEYS if k in members), None)
    if key is None and len(members) == 1:
        key = next(iter(members))
    if key is None:
        raise UnsupportedImageError(f"{path.name}: no 'frames' array among {sorted(members)}; "
                                    "save the frames under the key 'frames'")
    stored, fortran, dtype = _member_header(archive, members[key])
    shape = _checked_shape(path.name, stored)
    if fortran and len(stored) > 1:
        # Column-major data cannot be read a frame at a time; rare, so read once, as NumPy does.
        with archive.open(members[key]) as stream:
            frames = np.lib.format.read_array(stream, allow_pickle=False).reshape(shape)
        return StoredArray(path.name, shape, dtype, lambda: frame_chunks(frames))
    return StoredArray(path.name, shape, dtype, lambda: _member_chunks(archive, members[key], shape, dtype))


def _npz_metadata(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """The small metadata arrays present, each refused unread when it is not small."""
    values = {}
    for key in _METADATA_KEYS:
        member = f"{key}.npy"
        if member not in archive.namelist():
            continue
        shape, _, dtype = _member_header(archive, member)
        if math.prod(shape) * dtype.itemsize > _MAX_METADATA_BYTES:
            raise UnsupportedImageError(f"{member.removesuffix('.npy')}: an array of shape {shape} is not "
                                        "metadata; store it as a scalar or one value per frame")
        with archive.open(member) as stream:
            values[key] = np.lib.format.read_array(stream, allow_pickle=False)
    return values


def _timing(path: Path, metadata: dict[str, np.ndarray], n_frames: int) -> FrameTiming:
    if "frame_times_ms" in metadata:
        times = np.asarray(metadata["frame_times_ms"], dtype=np.float64).ravel()
        if n_frames > 1 and len(times) == n_frames and plausible_steps(np.diff(times)):
            return FrameTiming.from_times(times, "file")
    if "fps" in metadata and metadata["fps"].size:
        fps = float(np.asarray(metadata["fps"], dtype=np.float64).ravel()[0])
        if plausible_fps(fps):
            return FrameTiming.uniform(n_frames, 1000.0 / fps, "file")
        return assumed_timing(n_frames, f"the stored fps {fps:g} is outside {PLAUSIBLE_FPS[0]:g}-"
                                        f"{PLAUSIBLE_FPS[1]:g} fps; {ASSUMED_FPS:g} fps assumed")
    return assumed_timing(n_frames, f"{path.suffix} file stores no frame rate")


def _calibration(metadata: dict[str, np.ndarray]) -> tuple[Calibration | None, str]:
    if "cm_per_px" not in metadata or not metadata["cm_per_px"].size:
        return None, "no cm_per_px stored with the array"
    values = np.asarray(metadata["cm_per_px"], dtype=np.float64).ravel()
    x, y = (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
    if not (math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0):
        return None, "cm_per_px stored with the array is not positive"
    return Calibration(float(x), float(y), "cm_per_px in the file"), "cm_per_px in the file"


@contextmanager
def stored_cine(path: Path) -> Iterator[tuple[StoredArray, dict[str, np.ndarray]]]:
    """The frames array a ``.npy`` / ``.npz`` declares and its metadata arrays, readable while open."""
    if not zipfile.is_zipfile(path):
        yield _npy(path), {}
        return
    with zipfile.ZipFile(path) as archive:
        yield _npz_frames(path, archive), _npz_metadata(archive)


def uint8_frames(stored: StoredArray) -> Iterator[np.ndarray]:
    """The stored frames as uint8 (T, H, W) grey or (T, H, W, 3) RGB, one at a time, scaled over the
    whole cine's range (a first pass over the data for a non-uint8 array)."""
    scale = uint8_scale(stored.dtype, stored.chunks())

    def frames() -> Iterator[np.ndarray]:
        for chunk in stored.chunks():
            yield from grey_or_rgb(scaled_uint8(chunk, scale))
    return frames()


def load_array(path: Path) -> Cine:
    """Load a ``.npy`` / ``.npz`` cine; any other exception is wrapped by :func:`load_cine`."""
    with stored_cine(path) as (stored, metadata):
        collector = FrameCollector(path.name, stored.shape[0], claim="the array declares")
        for frame in uint8_frames(stored):
            collector.add(frame)
        if collector.count < stored.shape[0]:
            raise CorruptDataError(f"{path.name}: frames of different sizes in one array")
        grey, colour = collector.finish(lambda: uint8_frames(stored))
        timing = _timing(path, metadata, grey.shape[0])
        calibration, note = _calibration(metadata)
    return Cine(path=path, frames=grey, colour=colour, timing=timing, calibration=calibration,
                calibration_note=note, region=content_region(grey),
                metadata=CineMetadata(format="numpy", decoder="numpy"))


def describe_array(path: Path) -> dict[str, Any]:
    """What :meth:`Cine.describe` says of this file, from its header and sampled frames, holding one
    frame at a time (``echoviewer info``)."""
    with stored_cine(path) as (stored, metadata):
        n_frames, (height, width) = stored.shape[0], stored.shape[1:3]
        wanted = look_samples(n_frames)
        frames = islice(enumerate(uint8_frames(stored)), wanted[-1] + 1)
        colour, region = sampled_look(((i, frame) for i, frame in frames if i in wanted), n_frames)
        timing = _timing(path, metadata, n_frames)
        calibration, note = _calibration(metadata)
    return description(path=path, n_frames=n_frames, height=height, width=width, colour=colour,
                       timing=timing, calibration=calibration, calibration_note=note, region=region,
                       metadata=CineMetadata(format="numpy", decoder="numpy"))
