"""Benchmark ``load_cine`` against pydicom on one cine.

Measures, in one run:

* wall time of ``load_cine(FILE)``, best and median of 5 runs (grey frames decoded; colour
  frames, if any, decoded on demand);
* wall time of ``pydicom.dcmread(FILE).pixel_array``, best of 3 runs;
* wall time of ``first_frame(FILE)`` (the viewer's first picture) against ``load_cine``; goal: at
  least 5× faster, so the window shows the cine before it is decoded;
* their ratio; goal: ``load_cine`` at least 20× faster;
* for colour cines, ``load_cine(FILE).rgb`` (every colour frame decoded too) and the mean time
  to decode one colour frame for display;
* peak memory traced by ``tracemalloc`` (NumPy's buffers included) during ``load_cine`` plus
  the decoding of every colour frame, against the size of the decoded frames (grey plus RGB);
  goal: below 3×.

Usage: ``python bench/load.py [FILE]``; FILE defaults to ``color3d_jpeg_baseline.dcm`` (a 120-frame
640×480 JPEG Baseline colour cine) from the ``pydicom-data`` package.

``python bench/load.py --long`` instead writes a long grey cine (2,000 frames of 640×480) to a
temporary folder, as an MJPEG AVI and as a compressed NPZ of float32 in [0, 1], and prints for each the peak memory
(``tracemalloc``) of ``load_cine`` against the decoded grey frames (goal: at most 2×) and the
time and peak memory of ``echoviewer info``, which reads the headers and a few frames.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom

from common import default_file, timings, verdict  # bench/ is on sys.path when a script runs
from echoviewer.cli.info import info_main
from echoviewer.io import load_cine
from echoviewer.io.preview import first_frame

SPEEDUP_GOAL = 20.0
PREVIEW_GOAL = 5.0
MEMORY_GOAL = 3.0
LONG_MEMORY_GOAL = 2.0
LONG_FRAMES, LONG_ROWS, LONG_COLS = 2000, 480, 640
LOAD_RUNS = 5
PYDICOM_RUNS = 3


def _long_frames() -> np.ndarray:
    """A bright disc beating over a textured, noisy background: grey content, compressible."""
    ys, xs = np.mgrid[:LONG_ROWS, :LONG_COLS]
    background = 60 + 40 * np.sin(xs / 7.0) * np.cos(ys / 5.0)
    noise = np.random.default_rng(0).normal(0, 3, (8, LONG_ROWS, LONG_COLS))
    frames = np.empty((LONG_FRAMES, LONG_ROWS, LONG_COLS), np.uint8)
    for t in range(LONG_FRAMES):
        radius = 60 + 20 * np.sin(2 * np.pi * t / 40)
        disc = (xs - LONG_COLS / 2) ** 2 + (ys - LONG_ROWS / 2) ** 2 < radius ** 2
        frames[t] = np.clip(background + 150 * disc + noise[t % len(noise)], 0, 255)
    return frames


def _write_avi(path: Path, frames: np.ndarray) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (LONG_COLS, LONG_ROWS))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()


def _traced(function: Callable[[], Any]) -> tuple[float, int]:
    """Wall seconds and tracemalloc's peak bytes of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak


def _info(path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if info_main([str(path)]) != 0:
            raise SystemExit(f"echoviewer info {path.name} failed")


def long_cine() -> None:
    """Peak memory of loading a long cine, and of ``info`` on it, as AVI and as NPZ."""
    grey_bytes = LONG_FRAMES * LONG_ROWS * LONG_COLS
    print(f"long cine: {LONG_FRAMES} grey frames of {LONG_COLS}x{LONG_ROWS}, "
          f"{grey_bytes / 1e6:.1f} MB decoded grey")
    with tempfile.TemporaryDirectory() as folder:
        frames = _long_frames()
        files = [Path(folder) / "long.avi", Path(folder) / "long.npz"]
        _write_avi(files[0], frames)
        np.savez_compressed(files[1], frames=frames.astype(np.float32) / 255)
        del frames
        for path in files:
            seconds, peak = _traced(lambda: load_cine(path))  # noqa: B023 - called at once
            ratio = peak / grey_bytes
            print(f"{path.name} ({path.stat().st_size / 1e6:.1f} MB): load_cine {seconds:.2f} s, "
                  f"peak memory (tracemalloc) {peak / 1e6:.1f} MB = {ratio:.2f}x the grey frames "
                  f"(goal <= {LONG_MEMORY_GOAL:g}x): {verdict(ratio <= LONG_MEMORY_GOAL)}")
            seconds, peak = _traced(lambda: _info(path))  # noqa: B023 - called at once
            print(f"{path.name}: echoviewer info {seconds:.2f} s, peak memory {peak / 1e6:.1f} MB "
                  f"= {peak / grey_bytes:.2f}x the grey frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=None, help="cine to load")
    parser.add_argument("--long", action="store_true",
                        help="peak memory of a generated 2,000-frame 640x480 AVI and NPZ instead")
    args = parser.parse_args()
    if args.long:
        long_cine()
        return
    path: Path = args.file or default_file()

    cine = load_cine(path)  # warm-up: imports, decoder initialisation, file cache
    decoded_bytes = cine.frames.nbytes + (cine.rgb.nbytes if cine.rgb is not None else 0)
    print(f"file: {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"cine: {cine.n_frames} frames of {cine.width}x{cine.height}, "
          f"{'grey + RGB' if cine.rgb is not None else 'grey'}, "
          f"{decoded_bytes / 1e6:.1f} MB decoded, decoder: {cine.metadata.decoder}")

    ours = timings(lambda: load_cine(path), LOAD_RUNS)
    print(f"load_cine: {min(ours):.3f} s (best of {LOAD_RUNS}), "
          f"{statistics.median(ours):.3f} s (median)")
    if cine.metadata.format == "dicom":
        theirs = timings(lambda: pydicom.dcmread(path).pixel_array, PYDICOM_RUNS)
        print(f"pydicom dcmread().pixel_array: {min(theirs):.3f} s (best of {PYDICOM_RUNS})")
        speedup = min(theirs) / min(ours)
        print(f"speed-up: {speedup:.1f}x (goal >= {SPEEDUP_GOAL:g}x): "
              f"{verdict(speedup >= SPEEDUP_GOAL)}")
    else:
        print("pydicom: not a DICOM file; no comparison")
    first_frame(path)  # warm-up
    preview = timings(lambda: first_frame(path), LOAD_RUNS)
    preview_ratio = min(ours) / min(preview)
    print(f"first_frame: {min(preview) * 1e3:.1f} ms (best of {LOAD_RUNS}), {preview_ratio:.1f}x faster "
          f"than load_cine (goal >= {PREVIEW_GOAL:g}x): {verdict(preview_ratio >= PREVIEW_GOAL)}")
    if cine.colour is not None:
        everything = timings(lambda: load_cine(path).rgb, PYDICOM_RUNS)
        print(f"load_cine + every colour frame: {min(everything):.3f} s (best of {PYDICOM_RUNS})")
        fresh = load_cine(path)
        one = timings(lambda: [fresh.display_frame(i) for i in range(fresh.n_frames)], 1)[0]
        print(f"one colour frame on demand: {1000 * one / fresh.n_frames:.2f} ms (mean)")

    tracemalloc.start()
    _rgb = load_cine(path).rgb  # every colour frame decoded, as a full review would
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ratio = peak / decoded_bytes
    print(f"peak memory (tracemalloc): {peak / 1e6:.1f} MB = {ratio:.2f}x decoded frames "
          f"(goal < {MEMORY_GOAL:g}x): {verdict(ratio < MEMORY_GOAL)}")


if __name__ == "__main__":
    main()
