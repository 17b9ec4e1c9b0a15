"""What the benchmark scripts share: the default real cine, timing and the verdict word."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def default_file() -> Path:
    """``color3d_jpeg_baseline.dcm`` from pydicom-data: 120 frames of 640×480 JPEG Baseline colour."""
    spec = importlib.util.find_spec("data_store")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pydicom-data is not installed; pass a FILE or: pip install pydicom-data")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "color3d_jpeg_baseline.dcm"


def timings(function: Callable[[], Any], runs: int) -> list[float]:
    """Wall-clock seconds of each of ``runs`` calls."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def write_cines(folder: Path, n: int) -> list[Path]:
    """``n`` distinct cines from the sample's frames: lengths 20-60, three sizes, four formats."""
    import cv2
    import numpy as np

    from echoviewer.io import load_cine
    from echoviewer.io.dicom_writer import write_ultrasound_cine
    from echoviewer.resources import SAMPLE_CINE

    frames = load_cine(SAMPLE_CINE).frames
    paths = []
    for index in range(n):
        count = 20 + index % 41
        scale = (1.0, 0.75, 0.5)[index % 3]
        clip = np.roll(frames, index, axis=0)[:count]
        if scale != 1.0:
            clip = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in clip])
        kind = ("jpeg", "none", "avi", "npz")[index % 4]
        if kind == "avi":
            path = folder / f"cine_{index:04d}.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, clip.shape[2:0:-1], False)
            for frame in clip:
                writer.write(frame)
            writer.release()
        elif kind == "npz":
            path = folder / f"cine_{index:04d}.npz"
            np.savez_compressed(path, frames=clip, fps=np.float64(30.0))
        else:
            path = folder / f"cine_{index:04d}.dcm"
            write_ultrasound_cine(path, clip, fps=30.0, compression=kind, uid_seed=path.stem)
        paths.append(path)
    return paths
