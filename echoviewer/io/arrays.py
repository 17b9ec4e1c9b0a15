"""NumPy cines for research pipelines.

``.npy``: one array (T, H, W), (T, H, W, C) with C in {1, 3, 4}, or one frame (H, W).
``.npz``: the frames under ``frames`` (else ``arr_0``, else the only array), with optional
``frame_times_ms`` (T,), ``fps`` (scalar) and ``cm_per_px`` ((x, y) or a scalar).
Never unpickled: object arrays are refused.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from echoviewer.io.cine import Calibration, Cine, CineMetadata, FrameTiming
from echoviewer.io.errors import UnsupportedImageError
from echoviewer.io.pixels import split_grey_and_colour, to_uint8
from echoviewer.io.sector import content_region
from echoviewer.io.timing import ASSUMED_FPS, PLAUSIBLE_FPS, assumed_timing, plausible_fps, plausible_steps

_FRAME_KEYS = ("frames", "arr_0")


def _frames_from_npz(path: Path, archive: np.lib.npyio.NpzFile) -> np.ndarray:
    for key in _FRAME_KEYS:
        if key in archive.files:
            return archive[key]
    if len(archive.files) == 1:
        return archive[archive.files[0]]
    raise UnsupportedImageError(f"{path.name}: no 'frames' array among {sorted(archive.files)}; "
                                "save the frames under the key 'frames'")


def _as_frames(path: Path, array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = array[None]
    if array.ndim not in (3, 4) or 0 in array.shape:
        raise UnsupportedImageError(f"{path.name}: array of shape {array.shape} is not a cine; "
                                    "expected (T, H, W) or (T, H, W, C)")
    return to_uint8(array)


def _timing(path: Path, archive: np.lib.npyio.NpzFile | None, n_frames: int) -> FrameTiming:
    if archive is not None and "frame_times_ms" in archive.files:
        times = np.asarray(archive["frame_times_ms"], dtype=np.float64).ravel()
        if n_frames > 1 and len(times) == n_frames and plausible_steps(np.diff(times)):
            return FrameTiming.from_times(times, "file")
    if archive is not None and "fps" in archive.files:
        fps = float(np.asarray(archive["fps"], dtype=np.float64).ravel()[0])
        if plausible_fps(fps):
            return FrameTiming.uniform(n_frames, 1000.0 / fps, "file")
        return assumed_timing(n_frames, f"the stored fps {fps:g} is outside {PLAUSIBLE_FPS[0]:g}-"
                                        f"{PLAUSIBLE_FPS[1]:g} fps; {ASSUMED_FPS:g} fps assumed")
    return assumed_timing(n_frames, f"{path.suffix} file stores no frame rate")


def _calibration(archive: np.lib.npyio.NpzFile | None) -> tuple[Calibration | None, str]:
    if archive is None or "cm_per_px" not in archive.files:
        return None, "no cm_per_px stored with the array"
    values = np.asarray(archive["cm_per_px"], dtype=np.float64).ravel()
    x, y = (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
    if not (math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0):
        return None, "cm_per_px stored with the array is not positive"
    return Calibration(float(x), float(y), "cm_per_px in the file"), "cm_per_px in the file"


def load_array(path: Path) -> Cine:
    """Load a ``.npy`` / ``.npz`` cine; any other exception is wrapped by :func:`load_cine`."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise UnsupportedImageError(f"{path.name}: holds Python objects, which are never "
                                        "loaded; save plain numeric arrays") from exc
        raise
    archive = loaded if isinstance(loaded, np.lib.npyio.NpzFile) else None
    try:
        frames = _as_frames(path, np.asarray(_frames_from_npz(path, archive) if archive else loaded))
        timing = _timing(path, archive, frames.shape[0])
        calibration, note = _calibration(archive)
    finally:
        if archive is not None:
            archive.close()
    grey, colour = split_grey_and_colour(frames)
    metadata = CineMetadata(format="numpy", decoder="numpy")
    return Cine(path=path, frames=grey, colour=colour, timing=timing, calibration=calibration,
                calibration_note=note, region=content_region(grey), metadata=metadata)
