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
"""

from __future__ import annotations

import argparse
import statistics
import tracemalloc
from pathlib import Path

import pydicom

from common import default_file, timings, verdict  # bench/ is on sys.path when a script runs
from echoviewer.io import load_cine
from echoviewer.io.preview import first_frame

SPEEDUP_GOAL = 20.0
PREVIEW_GOAL = 5.0
MEMORY_GOAL = 3.0
LOAD_RUNS = 5
PYDICOM_RUNS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=None, help="cine to load")
    path: Path = parser.parse_args().file or default_file()

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
