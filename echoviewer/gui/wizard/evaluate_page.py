"""Page 5: the annotation-free report, new student beside the current one and the teacher, and
overlays on a few held-out cines and on the cine open in the viewer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWizardPage

from echoviewer.analysis.models import load_model
from echoviewer.distill_runs import comparison_picture, held_out_videos
from echoviewer.gui.tasks import Task, start
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import StatusLine, Thumbnails, pixmap
from echoviewer.io import Cine, load_cine

OVERLAY_SIZE = 150
# (label, summary key for the students, the teacher's: a summary key or what it is by definition, format)
ROWS = (("Dice vs teacher (masks > 80)", "dice_vs_teacher", "1 (reference)", "{:.3f}"),
        ("aFD ED vs teacher (frames)", "afd_ed_vs_teacher", "0 (reference)", "{:.2f}"),
        ("aFD ES vs teacher (frames)", "afd_es_vs_teacher", "0 (reference)", "{:.2f}"),
        ("Dice vs truth (synthetic)", "dice_vs_truth", "teacher_dice_vs_truth", "{:.3f}"),
        ("aFD ED vs truth (frames)", "afd_ed_vs_truth", "teacher_afd_ed_vs_truth", "{:.2f}"),
        ("aFD ES vs truth (frames)", "afd_es_vs_truth", "teacher_afd_es_vs_truth", "{:.2f}"),
        ("naive EF, Pearson r", "ef_naive_r_student", "ef_naive_r_teacher", "{:.3f}"))
COLUMNS = ("New student", "Current student", "Teacher")


def _cell(value: object, form: str) -> str:
    return form.format(value) if isinstance(value, (int, float)) else "—"


def report_table(new: dict, current: dict | None) -> list[list[str]]:
    """Rows of text: metric, new student, current student, teacher."""
    rows = []
    for label, key, teacher_key, form in ROWS:
        rows.append([label, _cell(new["summary"].get(key), form),
                     _cell((current or {}).get("summary", {}).get(key), form),
                     teacher_key if "reference" in teacher_key else _cell(new["summary"].get(teacher_key), form)])
    rows.append(["parameters", _cell(new["student"].get("parameters"), "{:,}"),
                 _cell((current or {}).get("student", {}).get("parameters"), "{:,}"),
                 _cell(new["teacher"].get("parameters"), "{:,}")])
    rows.append(["frames/s (this machine)", _cell(new["speed"].get("student_fps"), "{:.0f}"),
                 _cell((current or {}).get("speed", {}).get("student_fps"), "{:.0f}"),
                 _cell(new["speed"].get("teacher_fps"), "{:.0f}")])
    rows.append(["videos scored", str(new.get("videos_scored")), str((current or {}).get("videos_scored", "—")),
                 str(new.get("videos_scored"))])
    return rows


class EvaluatePage(QWizardPage):
    def __init__(self, state: WizardState, open_cine: Callable[[], Cine | None]) -> None:
        super().__init__()
        self.state, self.open_cine = state, open_cine
        self.setTitle("5 · Evaluate")
        self.setSubTitle("Scored without any human annotation, on held-out cines: against the teacher, and against "
                         "the simulator's truth where the data has it.")
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["", *COLUMNS])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        legend = QLabel("Overlays: the new student's outline in orange; magenta where the current student's mask "
                        "differs. Dice between the two on the frame shown (its largest LV).")
        legend.setWordWrap(True)
        layout.addWidget(legend)
        self.overlays = Thumbnails()
        layout.addWidget(self.overlays)
        self.status = StatusLine()
        layout.addWidget(self.status)
        self.task: Task | None = None

    def initializePage(self) -> None:
        run = self.state.run
        assert run is not None  # the run page comes first and is complete only with a finished run
        new, current = run.evaluation("new"), run.evaluation("current")
        if new is None:
            self.status.error(f"{run.folder}: no evaluation report; go back and Resume the run")
            return
        data = Path(new["data"])
        source = "the generated cines" if data.resolve().parent == run.folder.resolve() else data.name
        self.heading.setText(f"<b>{new['student'].get('name')}</b> against teacher <b>{new['teacher'].get('name')}"
                             f"</b> on {new['videos_scored']} held-out videos of {source}.")
        rows = report_table(new, current)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._draw_overlays()

    def _draw_overlays(self) -> None:
        run, spec, open_cine = self.state.run, self.state.current, self.open_cine()
        assert run is not None  # as in initializePage
        result = run.result
        assert result is not None  # the run page is complete only once the run has its result
        new_path = result["student"]
        videos = held_out_videos(run)

        def work(task: Task) -> list:
            new, current = load_model(new_path), load_model(spec)
            pictures = []
            for label, source in ([("open cine", open_cine)] if open_cine is not None else []) + \
                    [(p.stem, p) for p in videos]:
                if task.cancelled():
                    break
                cine = source if isinstance(source, Cine) else load_cine(source)
                image, dice = comparison_picture(cine, new, current)
                pictures.append((label, image, dice))
                task.report("picture", pictures[-1])
            return pictures

        self.overlays.clear()
        self.status.busy("Drawing overlays …")
        if self.task is not None:
            self.task.cancel()
        self.task = Task(work)
        self.task.signals.report.connect(lambda _, item: self.overlays.add(
            pixmap(item[1], OVERLAY_SIZE), f"{item[0]} · Dice {item[2]:.2f}", OVERLAY_SIZE))
        self.task.signals.done.connect(lambda pictures: self.status.ok(f"{len(pictures)} overlays drawn"))
        self.task.signals.failed.connect(self.status.error)
        start(self.task)

    def cleanupPage(self) -> None:
        if self.task is not None:
            self.task.cancel()
