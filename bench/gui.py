"""Benchmark the viewer window: scrubbing with the overlay, and opening a cine to its first frame.

Runs the real :class:`~echoviewer.gui.main_window.MainWindow` (1440×860) on Qt's off-screen
platform, with the user data folder (saved edits, recent files) in a temporary folder. Measures:

* **scrubbing**: for every frame, the time from ``controller.set_frame(i)`` until the change is
  painted by one ``QApplication.processEvents()`` (the cine view with the overlay, the curve's
  cursor, the transport's position label and the info line: each is checked to have painted).
  One pass in frame order and one in a random order (the native mask is made each time a frame
  is drawn), with the overlay in fill mode, in contour mode, and in fill mode with the
  teacher–student disagreement. Goal: mean ≤ 16 ms a frame. Also the stages apart: decoding the
  display frame, making a native mask, the overlay picture (``CineView.rendered``), and the cine
  view's and the curve cursor's update and paint;
* **open to first frame**: from ``window.open_path(FILE)`` until the first frame (the preview, or
  the decoded cine's frame 0) is painted in the cine view, and until the analysis is shown (cine
  view and curve painted after the study arrives). A fresh window is opened as ``echoviewer FILE``
  does, right after ``show()``, so the window's own first paint counts too. The first open of the
  process is cold (model load, first worker thread, first decoder calls); the others are warm: in
  a fresh window, and reopened in a window that shows the cine already. Goal: first frame ≤ 0.3 s.

Process start, imports and window creation are excluded (printed apart). The off-screen platform
paints into memory: a real screen adds the compositor's flush.

Usage: ``python bench/gui.py [FILE] [--repeats N] [--seed S] [--profile]``; FILE defaults to
``color3d_jpeg_baseline.dcm`` (120 frames of 640×480 JPEG Baseline colour) from ``pydicom-data``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_IMPORT_START = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["ECHOVIEWER_DATA_DIR"] = tempfile.mkdtemp(prefix="echoviewer-bench-")  # not the user's

from PySide6.QtCore import QEvent, QEventLoop, QObject, QThreadPool, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from common import default_file, verdict  # noqa: E402  (bench/ is on sys.path when a script runs)
from echoviewer.gui.app import application, wait_until_idle  # noqa: E402
from echoviewer.gui.main_window import MainWindow  # noqa: E402

SCRUB_GOAL_MS = 16.0
FIRST_FRAME_GOAL_S = 0.3
WINDOW_SIZE = (1440, 860)  # as echoviewer.gui.app's screenshots
TIMEOUT_S = 300.0


# ---- windows -----------------------------------------------------------------------------------
class PaintCounter(QObject):
    """Counts the paint events of the widgets it watches."""

    def __init__(self, widgets: dict[str, QWidget]) -> None:
        super().__init__()
        self.widgets = widgets
        self.counts = dict.fromkeys(widgets, 0)
        self._names = {id(widget): name for name, widget in widgets.items()}
        for widget in widgets.values():
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            name = self._names.get(id(watched))
            if name is not None:
                self.counts[name] += 1
        return False

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.widgets, 0)

    def missing(self) -> list[str]:
        return [name for name, count in self.counts.items() if count == 0]

    def remove(self) -> None:
        for widget in self.widgets.values():
            widget.removeEventFilter(self)


def new_window() -> MainWindow:
    """Created and shown, not yet painted (as ``echoviewer FILE`` opens its file)."""
    window = MainWindow()
    window.resize(*WINDOW_SIZE)
    window.show()
    return window


def dispose(window: MainWindow) -> None:
    """Close the window and let Qt delete it now (not at interpreter exit, which can crash)."""
    wait_until_idle(window, TIMEOUT_S)
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()


def open_and_wait(window: MainWindow, path: Path) -> None:
    errors: list[str] = []
    window.controller.error.connect(errors.append)
    window.open_path(path)
    idle = wait_until_idle(window, TIMEOUT_S)
    window.controller.error.disconnect(errors.append)
    if not idle or errors or window.controller.study is None:
        raise SystemExit(f"{path.name}: {'; '.join(errors) or 'not analysed in time'}")


# ---- open to first frame -------------------------------------------------------------------------
class OpenProbe(QObject):
    """Times one ``open_path``: the first frame painted, and the analysis painted."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window = window
        self.start = 0.0
        self.first: float | None = None
        self.first_via = ""
        self.analysed: float | None = None
        self.signals: dict[str, float] = {}
        self.error = ""
        self.loop = QEventLoop()
        self._before = window.cine_view.image.image

    def run(self, path: Path) -> OpenProbe:
        c = self.window.controller
        connections = ((c.preview, self._preview), (c.cine_loaded, self._cine),
                       (c.study_changed, self._study), (c.error, self._error))
        for signal, slot in connections:
            signal.connect(slot)
        QTimer.singleShot(int(TIMEOUT_S * 1000), self.loop.quit)
        self.start = time.perf_counter()
        self.window.open_path(path)
        if self.analysed is None and not self.error:
            self.loop.exec()
        for signal, slot in connections:
            signal.disconnect(slot)
        wait_until_idle(self.window, TIMEOUT_S)
        if self.error or self.first is None or self.analysed is None:
            raise SystemExit(f"{path.name}: {self.error or 'not shown within the time limit'}")
        return self

    def _shown(self, via: str) -> None:
        self.signals[via] = time.perf_counter() - self.start
        image = self.window.cine_view.image.image  # the cine view's slot has run: it connected first
        if self.first is None and image is not None and image is not self._before:
            self.window.cine_view.graphics.viewport().repaint()
            self.first = time.perf_counter() - self.start
            self.first_via = via

    def _preview(self, _frame: object) -> None:
        self._shown("preview")

    def _cine(self, _cine: object) -> None:
        self._shown("cine")

    def _study(self, _study: object) -> None:
        self.signals["study"] = time.perf_counter() - self.start
        QTimer.singleShot(0, self._painted)  # after the rest of the study's slots

    def _painted(self) -> None:
        if self.analysed is None:
            self.window.cine_view.graphics.viewport().repaint()
            self.window.curve.viewport().repaint()
            self.analysed = time.perf_counter() - self.start
            self.loop.quit()

    def _error(self, text: str) -> None:
        self.error = text
        self.loop.quit()


def pair(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{min(values):.3f} / {statistics.median(values):.3f}"


def open_timings(path: Path, repeats: int, profile: cProfile.Profile | None,
                 ) -> tuple[MainWindow, list[tuple[str, float]]]:
    """Print the open table; return a window with ``path`` analysed (for scrubbing) and the
    first-frame figures to judge."""
    start = time.perf_counter()
    window = new_window()
    print(f"first window created: {time.perf_counter() - start:.3f} s")
    if profile is not None:
        profile.enable()
    cold = OpenProbe(window).run(path)
    if profile is not None:
        profile.disable()
    rows: dict[str, list[OpenProbe]] = {"cold (first open)": [cold], "warm, fresh window": [],
                                        "warm, reopened": []}
    for _ in range(repeats - 1):
        dispose(window)
        gc.collect()
        window = new_window()
        rows["warm, fresh window"].append(OpenProbe(window).run(path))
        rows["warm, reopened"].append(OpenProbe(window).run(path))
    print(f"\nopen ({path.name}; seconds from open_path; warm: best / median of {repeats - 1})")
    print(f"  {'':19} {'first frame':>13} {'via':>8} {'signals: preview':>16} {'cine':>6} "
          f"{'study':>6} {'analysed':>13}  goal")
    for name, probes in rows.items():
        if not probes:
            continue
        first = [p.first for p in probes]
        signal = {key: f"{statistics.median(p.signals[key] for p in probes):.3f}"
                  if all(key in p.signals for p in probes) else "—" for key in ("preview", "cine", "study")}
        via = "/".join(sorted({p.first_via for p in probes}))
        print(f"  {name:19} {pair(first):>13} {via:>8} {signal['preview']:>16} {signal['cine']:>6} "
              f"{signal['study']:>6} {pair([p.analysed for p in probes]):>13}  "
              f"{verdict(statistics.median(first) <= FIRST_FRAME_GOAL_S)}")
    judged = [("cold", cold.first)]
    warm = rows["warm, fresh window"] + rows["warm, reopened"]
    if warm:
        judged.append(("warm, median", statistics.median(p.first for p in warm)))
    return window, judged


# ---- scrubbing -------------------------------------------------------------------------------
def scrub_pass(window: MainWindow, order: list[int], counter: PaintCounter) -> dict[str, np.ndarray]:
    """ms per frame: set_frame (the views update), the paint, and both."""
    update, paint = [], []
    app, controller = QApplication.instance(), window.controller
    forced = 0
    for frame in order:
        counter.reset()
        start = time.perf_counter()
        controller.set_frame(frame)
        middle = time.perf_counter()
        app.processEvents()
        for name in counter.missing():  # not expected: one processEvents paints them all
            counter.widgets[name].repaint()
            forced += 1
        end = time.perf_counter()
        update.append(middle - start)
        paint.append(end - middle)
    if forced:
        print(f"  note: {forced} widget paints had to be forced after processEvents")
    update_ms, paint_ms = 1000 * np.array(update), 1000 * np.array(paint)
    return {"total": update_ms + paint_ms, "update": update_ms, "paint": paint_ms}


def scrub_orders(n_frames: int, current: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Every frame in order from the one after ``current`` (wrapping round to it), then every
    frame in a random order that does not start with the frame then shown."""
    in_order = [(current + 1 + i) % n_frames for i in range(n_frames)]
    shuffled = [int(i) for i in rng.permutation(n_frames)]
    if n_frames > 1 and shuffled[0] == in_order[-1]:
        shuffled[0], shuffled[1] = shuffled[1], shuffled[0]
    return in_order, shuffled


def mean_ms(function, frames: range) -> float:
    seconds = []
    for frame in frames:
        start = time.perf_counter()
        function(frame)
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.fmean(seconds)


def stage_timings(window: MainWindow) -> dict[str, float]:
    """Mean ms of each stage over every frame, with the window's overlay settings."""
    view, curve, app = window.cine_view, window.curve, QApplication.instance()
    frames = range(window.controller.n_frames)
    pictures = {frame: view.rendered(frame) for frame in frames}

    def show(frame: int) -> None:
        view.image.setImage(pictures[frame], autoLevels=False, levels=(0, 255))
        app.processEvents()

    def cursor(frame: int) -> None:
        curve.cursor.setValue(curve.point(frame)[0])
        app.processEvents()

    out = {"overlay (rendered)": mean_ms(view.rendered, frames),
           "cine setImage + paint": mean_ms(show, frames),
           "curve cursor + paint": mean_ms(cursor, frames)}
    view.redraw()  # back to the controller's frame
    curve.cursor.setValue(curve.point(window.controller.frame)[0])
    app.processEvents()
    return out


def scrubbing(window: MainWindow, path: Path, rng: np.random.Generator,
              profile: cProfile.Profile | None) -> list[tuple[str, float]]:
    counter = PaintCounter({"cine view": window.cine_view.graphics.viewport(), "curve": window.curve.viewport(),
                            "transport label": window.transport.position, "info": window.cine_view.info})
    cine = window.controller.cine
    segmentation = window.controller.study.analysis.segmentation
    common = {"decode display frame": mean_ms(cine.display_frame, range(cine.n_frames)),
              "native mask": mean_ms(segmentation.native_mask, range(cine.n_frames))}
    rows, stages = [], {}
    for mode, disagreement in (("fill", False), ("contour", False), ("fill", True)):
        label = mode + (" + disagreement" if disagreement else "")
        window.options.overlay = mode
        if disagreement:
            window.actions["disagreement"].setChecked(True)
            wait_until_idle(window, TIMEOUT_S)
        if rows:  # fresh mask caches: the file again (a new cine, so analysed again)
            open_and_wait(window, path)
        if disagreement and window.controller.study.analysis.comparison is None:
            raise SystemExit("the disagreement overlay has no comparison masks")
        in_order, shuffled = scrub_orders(window.controller.n_frames, window.controller.frame, rng)
        if profile is not None:
            profile.enable()
        rows.append((label, "in order", scrub_pass(window, in_order, counter)))
        rows.append((label, "random", scrub_pass(window, shuffled, counter)))
        if profile is not None:
            profile.disable()
        stages[label] = stage_timings(window)
    counter.remove()
    window.actions["disagreement"].setChecked(False)
    window.options.overlay = "fill"
    wait_until_idle(window, TIMEOUT_S)

    print(f"\nscrubbing ({cine.n_frames} frames of {cine.width}x{cine.height}; ms a frame from set_frame "
          "until painted: cine view, curve cursor, transport label, info line)")
    print(f"  {'overlay':20} {'pass':10} {'mean':>6} {'median':>6} {'p95':>6} {'max':>6} "
          f"{'update':>7} {'paint':>6}  goal")
    judged = []
    for label, name, figures in rows:
        total = figures["total"]
        mean = float(total.mean())
        judged.append((f"{label}, {name}", mean))
        print(f"  {label:20} {name:10} {mean:6.2f} {np.median(total):6.2f} {np.percentile(total, 95):6.2f} "
              f"{total.max():6.2f} {figures['update'].mean():7.2f} {figures['paint'].mean():6.2f}  "
              f"{verdict(mean <= SCRUB_GOAL_MS)}")
    print("  stages (mean ms a frame): " + "; ".join(f"{k} {v:.2f}" for k, v in common.items()))
    for label, figures in stages.items():
        print(f"    {label:20} " + "; ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    return judged


def print_profile(profile: cProfile.Profile, what: str) -> None:
    print(f"\nprofile of {what} (GUI thread only; top 20 by cumulative time)")
    pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5, help="opens of FILE, the first one cold")
    parser.add_argument("--seed", type=int, default=0, help="of the random scrubbing order")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's top functions of the cold open and of the scrubbing")
    args = parser.parse_args()
    path: Path = args.file or default_file()
    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    app = application()
    imports = time.perf_counter() - _IMPORT_START
    print(f"file: {path.name}; Qt platform {app.platformName()}; {os.cpu_count()} cores; "
          f"imports + QApplication: {imports:.2f} s")
    open_profile = cProfile.Profile() if args.profile else None
    scrub_profile = cProfile.Profile() if args.profile else None

    window, open_judged = open_timings(path, max(1, args.repeats), open_profile)
    try:
        scrub_judged = scrubbing(window, path, np.random.default_rng(args.seed), scrub_profile)
    finally:
        dispose(window)
        del window
        QThreadPool.globalInstance().waitForDone()
        gc.collect()

    if open_profile is not None:
        print_profile(open_profile, "the cold open")
    if scrub_profile is not None:
        print_profile(scrub_profile, "the scrubbing passes")
    print()
    name, worst = max(scrub_judged, key=lambda item: item[1])
    print(f"scrubbing, mean of the slowest case ({name}): {worst:.2f} ms (goal <= {SCRUB_GOAL_MS:g} ms): "
          f"{verdict(worst <= SCRUB_GOAL_MS)}")
    for name, seconds in open_judged:
        print(f"open to first frame, {name}: {seconds:.3f} s (goal <= {FIRST_FRAME_GOAL_S:g} s): "
              f"{verdict(seconds <= FIRST_FRAME_GOAL_S)}")
    return 0


if __name__ == "__main__":
    try:
        status = main()
    finally:
        try:
            shutil.rmtree(os.environ["ECHOVIEWER_DATA_DIR"])
        except OSError as exc:
            print(f"could not remove the temporary data folder: {exc}", file=sys.stderr)
    sys.exit(status)
