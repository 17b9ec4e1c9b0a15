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
