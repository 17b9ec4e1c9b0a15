"""The study list's state: one :class:`Entry` per cine of the opened folder (status, EF, heart rate,
reviewed, why it failed), and the work over the whole list (reading saved edits, the cohort CSV).

The study list only shows this; the controller tells it what the open cine became (analysed,
edited, reviewed, or failed to open). When a folder is listed, a background task reads each file's
saved edits by its identity (headers and bytes, no decoding): edited and reviewed cines show so at
once. "Export the whole list" analyses every cine (the session's model, each with its saved
edits), one at a time in the background with progress and cancel, and writes one CSV: a row per
beat per cine, and a row for each file that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Signal

from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.provenance import provenance
from echoviewer.analysis.report import write_cohort_csv
from echoviewer.gui.controller import StudyController, study_from_saved
from echoviewer.gui.tasks import Task, start
from echoviewer.io import CineLoadError, load_cine
from echoviewer.io.errors import one_line
from echoviewer.study import Study
from echoviewer.user_data import Preferences, Pseudonyms, file_identity, path_identity

STATUSES = ("not opened", "analysed", "edited", "reviewed", "failed")


@dataclass(frozen=True)
class Entry:
    """What the list shows of one cine."""

    path: Path
    analysed: bool = False
    edited: bool = False
    reviewed: bool = False
    failed: str = ""  # the one-line reason it could not be opened
    ef_percent: float | None = None  # single-plane, method of disks, mean over beats
    heart_rate_bpm: float | None = None

    @property
    def status(self) -> str:
        """The most telling of the entry's states (the order of :data:`STATUSES`, last wins)."""
        if self.failed:
            return "failed"
        if self.reviewed:
            return "reviewed"
        if self.edited:
            return "edited"
        return "analysed" if self.analysed else "not opened"


def _measured(entry: Entry, study: Study) -> Entry:
    summary = study.analysis.summary
    return replace(entry, analysed=True, failed="", reviewed=study.reviewed,
                   edited=study.user_edited or bool(study.contours),
                   ef_percent=summary["ef_disks_percent"]["mean"], heart_rate_bpm=summary["heart_rate_bpm"]["mean"])


class Cohort(QObject):
    """The listed cines in order; ``changed(index)`` when one entry changed, ``reset`` when the
    list did; ``progress`` and ``finished`` report the cohort export (one line each)."""

    changed = Signal(int)
    reset = Signal()
    progress = Signal(str)
    finished = Signal(str)

    def __init__(self, controller: StudyController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.entries: list[Entry] = []
        self._index: dict[Path, int] = {}
        self._scan: Task | None = None
        self.export_task: Task | None = None
        controller.study_changed.connect(self._study_changed)
        controller.reviewed_changed.connect(lambda _on: self._study_changed(controller.study))
        controller.open_failed.connect(self._open_failed)

    # ---- the list ----------------------------------------------------------------------------
    def set_paths(self, paths: list[Path]) -> None:
        for task in (self._scan, self.export_task):
            if task is not None:
                task.cancel()
        self.entries = [Entry(Path(p)) for p in paths]
        self._index = {entry.path.resolve(): i for i, entry in enumerate(self.entries)}
        self.reset.emit()
        if self.entries:
            self._read_saved()

    def paths(self) -> list[Path]:
        return [entry.path for entry in self.entries]

    def index_of(self, path: str | Path) -> int | None:
        return self._index.get(Path(path).resolve())

    def _set(self, index: int, entry: Entry) -> None:
        if self.entries[index] != entry:
            self.entries[index] = entry
            self.changed.emit(index)

    def _study_changed(self, study: Study | None) -> None:
        cine = self.controller.cine
        index = None if cine is None or study is None else self.index_of(cine.path)
        if index is not None and study is not None:
            self._set(index, _measured(self.entries[index], study))

    def _open_failed(self, path: str, reason: str) -> None:
        index = self.index_of(path)
        if index is not None:
            self._set(index, replace(self.entries[index], failed=reason))

    def _read_saved(self) -> None:
        """Edited and reviewed, from each file's saved edits, without opening the cines."""
        store, paths = self.controller.store, self.paths()

        def work(task: Task) -> None:
            for index, path in enumerate(paths):
                if task.cancelled():
                    return
                try:
                    saved = store.load(path_identity(path))
                except OSError:
                    continue  # opening it will say why
                if saved is not None:
                    edited = saved.ed_frames is not None or bool(saved.contours)
                    task.report("saved", (index, edited, saved.reviewed))

        task = self._scan = Task(work)

        def saved(what: str, payload: object) -> None:
            index, edited, reviewed = cast(tuple[int, bool, bool], payload)
            if task is self._scan and index < len(self.entries):
                self._set(index, replace(self.entries[index], edited=edited, reviewed=reviewed))

        task.signals.report.connect(saved)
        start(task)

    # ---- the cohort CSV ----------------------------------------------------------------------
    def export(self, target: Path) -> Task | None:
        """Analyse every listed cine (the session's model, each with its saved edits) and write
        one CSV at ``target``; None when the list is empty."""
        if not self.entries:
            self.finished.emit("the study list is empty: open a folder first")
            return None
        if self.export_task is not None:
            self.export_task.cancel()
        spec, store, paths = self.controller.model_spec, self.controller.store, self.paths()
        preferences = Preferences()
        salt, reader = preferences.salt(), preferences.reader
        names = Pseudonyms(salt) if preferences.pseudonymise else None

        def work(task: Task) -> tuple[int, int]:
            model = load_model(spec)
            results, failed = [], []
            for index, path in enumerate(paths):
                if task.cancelled():
                    return -1, -1
                task.report("progress", f"Exporting the list: {index + 1} of {len(paths)} ({path.name})…")
                try:
                    cine = load_cine(path)
                    study = study_from_saved(analyze(cine, model), store.load(file_identity(cine)))
                except (CineLoadError, OSError, ValueError) as exc:
                    failed.append({"file": str(path), "error": one_line(str(exc))})
                    task.report("failed", (index, one_line(str(exc))))
                    continue
                entry = _measured(Entry(path), study)
                results.append({**study.analysis.as_dict(), "status": entry.status, "reviewed": study.reviewed,
                                "provenance": provenance(study.analysis, salt, reader)})
                task.report("entry", (index, entry))
                del cine, study  # one cine's pixels at a time
            if task.cancelled():  # cancelled during the last cine: still nothing written
                return -1, -1
            if names is not None:  # Edit ▸ Pseudonymise file names in exports
                results, failed = names.results(results), names.failures(failed)
                names.save()
            write_cohort_csv(target, results, failed)
            return len(results), len(failed)

        task = self.export_task = Task(work)

        def report(what: str, payload: object) -> None:
            if task is not self.export_task:
                return
            if what == "progress":
                self.progress.emit(str(payload))
            elif what == "entry":
                index, entry = cast(tuple[int, Entry], payload)
                self._set(index, entry)
            elif what == "failed":
                index, reason = cast(tuple[int, str], payload)
                self._set(index, replace(self.entries[index], failed=reason))

        def done(counts: tuple[int, int]) -> None:
            if task is self.export_task:
                self.export_task = None
                analysed, failed = counts
                if analysed >= 0:
                    self.finished.emit(f"Saved {target}: {analysed} cine(s)" + (f", {failed} failed" if failed else ""))

        def failed(text: str) -> None:
            if task is self.export_task:
                self.export_task = None
                self.finished.emit(f"could not export the list: {text}")

        task.signals.report.connect(report)
        task.signals.done.connect(done)
        task.signals.failed.connect(failed)
        return start(task)

    def cancel_export(self) -> None:
        if self.export_task is not None:
            self.export_task.cancel()
            self.export_task = None
            self.finished.emit("The list export was cancelled; nothing was written")
