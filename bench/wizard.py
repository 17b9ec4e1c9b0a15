"""Benchmark the distillation wizard end to end: the quick preset on this machine.

Drives the real wizard (Qt off-screen, user data in a temporary folder unless ``--data-dir``):
bundled teacher → the data preset (generated cines) → the fast student → the run → the report.
Prints the wall time of every pipeline stage (from the run page's own JSON lines), the whole run
from "Start training" to "Finished", and the new student's scores on the held-out synthetic cines.
Goals (issue 7): the quick preset ends in under 10 minutes on 2 CPU cores, with Dice vs the
bundled teacher ≥ 0.85.

Usage: ``python bench/wizard.py [--preset quick|standard] [--epochs N] [--shots DIR] [--open FILE]
[--pages-only]``; ``--shots`` saves a screenshot of every page (the README's come from here),
``--open`` opens a cine in the viewer first so the report's overlays include it, ``--pages-only``
stops before the run (the first three pages, their checks and the student page's estimate).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import verdict  # noqa: E402  (bench/ is on sys.path when a script runs)

GOAL_SECONDS, GOAL_DICE = 600.0, 0.85


def wait(app, condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not condition():
        app.processEvents()
        time.sleep(0.02)
    return bool(condition())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epoch limit")
    parser.add_argument("--shots", type=Path, default=None, help="save a PNG of every page here")
    parser.add_argument("--open", type=Path, default=None, help="a cine to open in the viewer first")
    parser.add_argument("--data-dir", type=Path, default=None, help="user data folder (default: a temporary one)")
    parser.add_argument("--pages-only", action="store_true", help="stop before the run: no training")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    temporary = None
    if args.data_dir is None:
        temporary = tempfile.mkdtemp(prefix="echoviewer-bench-wizard-")
    os.environ["ECHOVIEWER_DATA_DIR"] = str(args.data_dir or temporary)

    from PySide6.QtWidgets import QWizard

    from echoviewer.gui.app import application
    from echoviewer.gui.main_window import MainWindow
    from echoviewer.gui.wizard.wizard import RUN
    from echoviewer.run_contract import PIPELINE, STAGE, is_event

    app = application()
    window = MainWindow()
    window.resize(1300, 820)
    window.show()
    if args.open:
        window.open_path(args.open)
        wait(app, lambda: window.controller.study is not None and not window.controller.working, 120)
    window.open_wizard()
    wizard = window.wizard

    def shot(name: str) -> None:
        wait(app, lambda: False, 0.3)  # let the layout settle (labels that wrapped, pictures just added)
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
            wizard.grab().save(str(args.shots / f"wizard-{name}.png"))

    def forward(name: str) -> None:
        page = wizard.currentPage()
        if not wait(app, page.isComplete, 180):
            raise SystemExit(f"{name} page never became complete: {page.status.text()}")
        shot(name)
        button = wizard.button(QWizard.WizardButton.CommitButton)
        (button if button.isVisible() else wizard.button(QWizard.WizardButton.NextButton)).click()

    forward("1-teacher")
    data = wizard.currentPage()
    data.preset.setCurrentIndex(data.preset.findData(args.preset))
    wait(app, lambda: data.status.state != "busy" and data.isComplete(), 180)
    forward("2-data")
    student = wizard.currentPage()
    if args.epochs:
        student.epochs.setValue(args.epochs)
    wait(app, lambda: student.status.state == "ok", 180)
    print(f"student page: {student.status.text()}")
    if args.pages_only:
        shot("3-student")
        return finish(window, temporary)
    forward("3-student")
    assert wizard.currentId() == RUN
    run_page = wizard.currentPage()
    marks: list[tuple[str, float]] = []
    run_page.child.message.connect(
        lambda line: marks.append((line["name"], time.monotonic())) if is_event(line, PIPELINE, STAGE) else None)
    start = time.monotonic()
    shot_taken = []

    def mid_run_shot() -> bool:  # the README's picture: training under way, curves drawn
        if not shot_taken and len(run_page._val_x) >= 3:
            shot("4-run")
            shot_taken.append(True)
        return run_page.isComplete() or not run_page.running()

    wait(app, mid_run_shot, 3600)
    total = time.monotonic() - start
    if not run_page.isComplete():
        raise SystemExit(f"the run failed: {run_page.status.text()}")
    if not shot_taken:
        shot("4-run")
    stamps = marks + [("end", start + total)]
    print(f"preset {args.preset}: {wizard.state.n} cines of {wizard.state.frames} frames, {wizard.state.model}, "
          f"at most {wizard.state.epochs} epochs")
    for (name, begin), (_, end) in zip(stamps, stamps[1:]):
        print(f"  {name:<9} {end - begin:7.1f} s")
    run = wizard.state.run
    summary = json.loads(run.files.train.summary.read_text())
    new, current = run.evaluation("new"), run.evaluation("current")
    dice = new["summary"]["dice_vs_teacher"]
    print(f"  training: {summary['epochs']} epochs (best {summary['best_epoch']}), {summary['seconds']:.0f} s")
    print(f"whole run: {total:.1f} s ({total / 60:.1f} min; goal < {GOAL_SECONDS / 60:.0f} min) "
          f"{verdict(total < GOAL_SECONDS)}")
    print(f"Dice vs teacher on {new['videos_scored']} held-out cines: new {dice:.3f} (goal >= {GOAL_DICE}) "
          f"{verdict(dice >= GOAL_DICE)}; current student {current['summary']['dice_vs_teacher']:.3f}")
    for key in ("afd_ed_vs_teacher", "afd_es_vs_teacher", "dice_vs_truth", "afd_ed_vs_truth", "afd_es_vs_truth"):
        if new["summary"].get(key) is not None:
            print(f"  {key}: new {new['summary'][key]:.3f}, current {current['summary'][key]:.3f}")
    print(f"  frames/s: new {new['speed']['student_fps']:.0f}, current {current['speed']['student_fps']:.0f}, "
          f"teacher {new['speed']['teacher_fps']:.0f}")
    forward("4-run-finished")
    page = wizard.currentPage()
    wait(app, lambda: page.status.state != "busy", 120)
    shot("5-evaluate")
    wizard.next()
    page = wizard.currentPage()
    page.use_button.click()
    shot("6-use")
    return finish(window, temporary)


def finish(window, temporary: str | None) -> int:
    window.wizard.accept()
    window.close()
    if temporary:
        shutil.rmtree(temporary, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
