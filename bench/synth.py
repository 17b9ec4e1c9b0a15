"""Benchmark the synthetic-echo simulator: cines per second per core.

Simulates 112×112 cines of 64 frames (the issue's unit) on one core: the process is pinned to one
CPU and OpenCV to one thread. Prints simulation alone and simulation plus writing the EchoNet
files (MJPEG AVI and truth npz), with the projected time for 1,000 cines on 2 cores.
Goal: at least 2 cines per second per core.

Usage: ``python bench/synth.py [--n 12] [--size 112] [--frames 64]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from distill.synth.simulator import simulate
from distill.synth.writers import case_name, write_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--frames", type=int, default=64)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    simulate(10_000, height=args.size, width=args.size, n_frames=4)  # warm-up (imports, caches)

    simulate_s, total_s = [], []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        (out / "Videos").mkdir()
        (out / "Masks").mkdir()
        for seed in range(args.n):
            start = time.perf_counter()
            cine = simulate(seed, height=args.size, width=args.size, n_frames=args.frames)
            middle = time.perf_counter()
            write_case(out, case_name(seed), cine, "echonet")
            simulate_s.append(middle - start)
            total_s.append(time.perf_counter() - start)
    per_cine = statistics.mean(total_s)
    print(f"{args.n} cines of {args.size}x{args.size}x{args.frames} on one core")
    print(f"simulate:          {statistics.mean(simulate_s) * 1000:7.0f} ms per cine  "
          f"({1 / statistics.mean(simulate_s):.2f} cines/s)")
    print(f"simulate + write:  {per_cine * 1000:7.0f} ms per cine  ({1 / per_cine:.2f} cines/s; goal >= 2)")
    print(f"1,000 cines on 2 cores: about {1000 * per_cine / 2 / 60:.1f} min (goal < 5 min)")


if __name__ == "__main__":
    main()
