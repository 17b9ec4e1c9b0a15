"""Benchmark `echoviewer analyze` on a cohort: cines per second in process, on one and on two
Dask worker processes (``--workers N`` is a Dask LocalCluster of N processes, one task each),
the scaling ratio, and the peak memory (VmHWM) of each worker process.

The cohort: N simulated DICOM cines (a disc moving over texture, as tests/helpers.py writes them;
32 frames of 112×112 by default), written once into a temporary folder. Each configuration runs
`echoviewer analyze DIR --out OUT` as a child process (start-up, cluster start and model loading
included: that is what a user waits for), with a fresh output folder.

Usage: ``python bench/batch.py [--cines 200] [--frames 32] [--size 112]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from echoviewer.io.dicom_writer import write_ultrasound_cine


def cohort(folder: Path, count: int, frames: int, size: int) -> None:
    ys, xs = np.mgrid[:size, :size]
    background = (60 + 40 * np.sin(xs / 7.0) * np.cos(ys / 5.0)).astype(np.float32)
    for index in range(count):
        rng = np.random.default_rng(index)
        radius = size / 6 * (1 + 0.3 * np.sin(2 * np.pi * np.arange(frames) / 16))  # a beating disc
        cine = np.empty((frames, size, size), np.uint8)
        for t in range(frames):
            disc = (xs - size / 2) ** 2 + (ys - size / 2) ** 2 < radius[t] ** 2
            cine[t] = np.clip(background + 150 * disc + rng.normal(0, 3, (size, size)), 0, 255)
        write_ultrasound_cine(folder / f"cine{index:04d}.dcm", cine, fps=50.0)


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, of in parents.items() if of == parent]
        found += kids
        frontier += kids
    return found


def _peak_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run(folder: Path, out: Path, options: list[str]) -> tuple[float, int, dict[int, int]]:
    """Seconds, the driver's peak RSS and each descendant's (KiB) of one analysis of ``folder``."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "echoviewer", "analyze", str(folder), "--out", str(out),
                              *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    driver = [0]

    def watch() -> None:
        while child.poll() is None:
            driver[0] = max(driver[0], _peak_kib(child.pid) or 0)
            for pid in _children(child.pid):
                peaks[pid] = max(peaks.get(pid, 0), _peak_kib(pid) or 0)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, err = child.communicate()
    seconds = time.perf_counter() - start
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"analyze {' '.join(options)} failed ({child.returncode}):\n{err}")
    return seconds, driver[0], {pid: kib for pid, kib in peaks.items() if kib > 50_000}  # workers, not helpers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cines", type=int, default=200)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=112)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        (root / "cines").mkdir()
        cohort(root / "cines", args.cines, args.frames, args.size)
        print(f"{args.cines} cines of {args.frames} frames {args.size}x{args.size}")
        rates = {}
        for name, options in (("in process", []), ("1 worker", ["--workers", "1"]),
                              ("2 workers", ["--workers", "2"])):
            seconds, driver, workers = run(root / "cines", root / name.replace(" ", "_"), options)
            rates[name] = args.cines / seconds
            memory = ", ".join(f"{kib / 1024:.0f}" for kib in workers.values()) or "-"
            print(f"{name:>10}: {seconds:6.1f} s  {rates[name]:5.2f} cines/s  driver {driver / 1024:.0f} MiB  "
                  f"workers {memory} MiB (peak RSS)")
        print(f"scaling 2 workers / 1 worker: {rates['2 workers'] / rates['1 worker']:.2f}x")


if __name__ == "__main__":
    main()
