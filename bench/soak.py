"""Soak the viewer: open many cines in turn, play them and switch models, and watch its memory.

Runs the real :class:`~echoviewer.gui.main_window.MainWindow` on Qt's off-screen platform, with
the user data folder in a temporary folder. It writes ``--cines`` distinct cines first (the bundled
sample's frames, each cine a different length, size and format: JPEG Baseline and uncompressed
DICOM, MJPEG AVI and NPZ), then, until both ``--cines`` opens and ``--minutes`` have passed, opens
them in turn as a user paging through a folder does: open, wait for the analysis, play
``--play`` frames through the controller's cursor (each painted), and every ``--switch-every``
cines choose the next model of the bundled ones and wait for its analysis. Memory is the process's
resident set (``VmRSS``) and Python's traced heap is left off (it would slow every step); the
figures are RSS once every model has been loaded and run (the baseline, after ``--switch-every``
times the number of models opens), at the end, the peak (``VmHWM``), and the slope of RSS over the
last half of the opens in MiB per 100 cines (a leak shows as a slope that does not flatten).

Goal: RSS at the end within 10 % (or 50 MiB) of the baseline, and no open that fails.

Usage: ``python bench/soak.py [--cines 500] [--minutes 60] [--play 30] [--switch-every 10]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["ECHOVIEWER_DATA_DIR"] = tempfile.mkdtemp(prefix="echoviewer-soak-")  # not the user's

from PySide6.QtWidgets import QApplication  # noqa: E402

from common import verdict, write_cines  # noqa: E402  (bench/ is on sys.path when a script runs)
from echoviewer.analysis.models import BUNDLED  # noqa: E402
from echoviewer.gui.app import application, wait_until_idle  # noqa: E402
from echoviewer.gui.main_window import MainWindow  # noqa: E402

WINDOW_SIZE = (1440, 860)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _play(window: MainWindow, frames: int) -> None:
    controller = window.controller
    study = controller.study
    if study is None:
        return
    for step in range(frames):
        controller.set_frame(step % study.n_frames)
        QApplication.processEvents()


def _slope_mib_per_100(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (KiB) against the open count, in MiB per 100 opens."""
    if len(points) < 2:
        return 0.0
    opens, rss = np.array(points, float).T
    return float(np.polyfit(opens, rss, 1)[0] * 100 / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cines", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--play", type=int, default=30, help="frames played in each cine")
    parser.add_argument("--switch-every", type=int, default=10, help="opens between model switches")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="echoviewer-soak-cines-"))
    written = time.perf_counter()
    paths = write_cines(folder, args.cines)
    print(f"wrote {len(paths)} cines in {time.perf_counter() - written:.0f} s")
    application()
    window = MainWindow()
    window.resize(*WINDOW_SIZE)
    window.show()
    models = list(BUNDLED)
    failures: list[str] = []
    window.controller.open_failed.connect(lambda path, reason: failures.append(f"{Path(path).name}: {reason}"))
    baseline_after = args.switch_every * len(models)  # every model loaded and run once
    start, opens, baseline = time.monotonic(), 0, 0
    points: list[tuple[int, int]] = []
    deadline = start + args.minutes * 60
    while opens < args.cines or time.monotonic() < deadline:
        window.open_path(paths[opens % len(paths)])
        wait_until_idle(window)
        _play(window, args.play)
        opens += 1
        if opens % args.switch_every == 0:
            window.controller.set_model(models[(opens // args.switch_every) % len(models)])
            wait_until_idle(window)
        rss = _status_kib("VmRSS")
        points.append((opens, rss))
        if opens == baseline_after:
            baseline = rss
        if opens % 50 == 0:
            print(f"{opens:5d} opens  {(time.monotonic() - start) / 60:5.1f} min  RSS {rss / 1024:7.1f} MiB", flush=True)
    end, peak = points[-1][1], _status_kib("VmHWM")
    baseline = baseline or points[0][1]
    growth = end - baseline
    slope = _slope_mib_per_100(points[len(points) // 2:])
    ok = not failures and (growth <= max(0.10 * baseline, 50 * 1024))
    print(f"\n{opens} opens in {(time.monotonic() - start) / 60:.1f} min, {args.play} frames played each, "
          f"a model switch every {args.switch_every} ({', '.join(models)})")
    print(f"RSS after {baseline_after} opens {baseline / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB "
          f"({growth / 1024:+.1f} MiB), peak {peak / 1024:.1f} MiB; "
          f"slope over the last half {slope:+.2f} MiB per 100 opens")
    print(f"failed opens: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))
    print(f"goal: end within 10 % or 50 MiB of the baseline, no failed open: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
