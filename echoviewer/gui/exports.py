"""File ▸ Export: the open study as CSV, JSON (the ``echoviewer analyze`` schema), PNG snapshots,
a video with the overlay, the masks, and DICOM SEG and SR (written to a folder, or sent to a
PACS). Each takes a path or asks for one.

The exporter reads the study from the controller and what is shown from the view options (the
patient identifiers for JSON and CSV, the overlay for the video); it reports by signals, which
the window puts in its status bar.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from echoviewer.analysis import report
from echoviewer.analysis.biplane import Biplane
from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.overlay import write_figure_png, write_overlay_video
from echoviewer.analysis.provenance import provenance
from echoviewer.gui.biplane_partner import BiplanePartner
from echoviewer.gui.cine_view import CineView
from echoviewer.gui.controller import StudyController
from echoviewer.user_data import Preferences, Pseudonyms
from echoviewer.gui.tasks import Task, start
from echoviewer.gui.view_options import ViewOptions
from echoviewer.io.atomic import same_file
from echoviewer.io.errors import one_line

if TYPE_CHECKING:
    from echoviewer.pacs import Node

T = TypeVar("T")


class Exporter(QObject):
    """Exports of ``controller``'s study as ``options`` show it; ``parent`` (a widget) owns the
    save dialogs."""

    saved = Signal(str)     # "Saved PATH, …": a file (or two) written
    progress = Signal(str)  # a background export's progress, one line
    error = Signal(str)     # one line: nothing to export, or a file not written

    def __init__(self, controller: StudyController, options: ViewOptions, partner: BiplanePartner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.options, self.partner, self.dialog_parent = controller, options, partner, parent
        self.video_task: Task | None = None
        self.dicom_task: Task | None = None  # writing or sending SEG and SR
        self.folder = Path.home()  # where the save dialogs start: the last export's folder

    # ---- helpers -----------------------------------------------------------------------------
    def _analysis(self) -> CineAnalysis | None:
        study = self.controller.study
        if study is None:
            self.error.emit("nothing to export yet: open a cine and wait for its analysis")
            return None
        return study.analysis

    def _analysis_and_target(self, path: str | Path | None, title: str, suffix: str,
                             filters: str) -> tuple[CineAnalysis, Path] | None:
        """What an export of the study needs: its analysis and where to write (None: nothing
        to export, or the user cancelled the dialog)."""
        analysis = self._analysis()
        if analysis is None:
            return None
        target = self._target(path, title, suffix, filters)
        return (analysis, target) if target else None

    def _target(self, path: str | Path | None, title: str, suffix: str, filters: str) -> Path | None:
        """Where to write (None: the dialog was cancelled, or the path is the open cine itself)."""
        study = self.controller.study
        if path is None:
            stem = self._stem(study.analysis) if study is not None else "echoviewer"
            chosen, _ = QFileDialog.getSaveFileName(self.dialog_parent, title, str(self.folder / f"{stem}{suffix}"),
                                                    filters)
            if not chosen:
                return None
            self.folder = Path(chosen).parent
            path = chosen
        target = Path(path)
        if study is not None and same_file(target, study.analysis.cine.path):
            self.error.emit(f"{target.name} is the open cine; exporting there would destroy it: choose another name")
            return None
        return target

    def _named(self, pseudonymised: Callable[[Pseudonyms], T], plain: T) -> T:
        """``plain``, or when the user asked exports to hide file names (Edit menu) what
        ``pseudonymised`` makes of it with the salted names, whose keys are then kept in the map."""
        preferences = Preferences()
        if not preferences.pseudonymise:
            return plain
        names = Pseudonyms(preferences.salt())
        named = pseudonymised(names)
        names.save()
        return named

    def _stem(self, analysis: CineAnalysis) -> str:
        """What an export names the cine by: its file's stem, or its salted key."""
        return self._named(lambda names: names.key(analysis.cine.path), analysis.cine.path.stem)

    def _written(self, *paths: Path) -> None:
        self.saved.emit("Saved " + ", ".join(str(p) for p in paths))

    def _result(self, analysis: CineAnalysis) -> dict:
        """The JSON of ``echoviewer analyze`` (its provenance: the reader set in the preferences),
        plus the patient's name and ID only when shown."""
        preferences = Preferences()
        result = {**analysis.as_dict(), "provenance": provenance(analysis, preferences.salt(), preferences.reader)}
        result["file"] = self._named(lambda names: names.key(analysis.cine.path), result["file"])
        if self.options.identifiers:
            ids = analysis.cine.identifiers
            result["patient"] = {"name": ids.patient_name, "id": ids.patient_id}
        return result

    def _guarded(self, write, *paths: Path) -> bool:
        try:
            write()
        except (OSError, ValueError) as exc:
            self.error.emit(one_line(f"could not write {paths[0].name}: {exc}"))
            return False
        self._written(*paths)
        return True

    # ---- exports -----------------------------------------------------------------------------
    def _biplane(self) -> list[dict]:
        biplane = self.partner.biplane
        pairs = [] if biplane is None else [biplane.as_dict()]
        return self._named(lambda names: names.pairs(pairs), pairs)

    def export_csv(self, path: str | Path | None = None) -> bool:
        """``OUT.csv`` (one row per frame), ``OUT_beats.csv`` (per beat, mean, sd) and, with a
        biplane partner, ``OUT_biplane.csv``."""
        chosen = self._analysis_and_target(path, "Export CSV tables", ".csv", "CSV (*.csv)")
        if chosen is None:
            return False
        analysis, target = chosen
        beats, pairs = report.beats_csv_path(target), report.biplane_csv_path(target)
        written = [target, beats] + ([pairs] if self.partner.biplane is not None else [])

        def write() -> None:  # naming saves the pseudonym map: an unwritable data folder is this export's error
            result, biplane = self._result(analysis), self._biplane()
            report.write_frames_csv(target, [result])
            report.write_beats_csv(beats, [result])
            if biplane:
                report.write_biplane_csv(pairs, biplane)
        return self._guarded(write, *written)

    def export_json(self, path: str | Path | None = None) -> bool:
        chosen = self._analysis_and_target(path, "Export JSON", ".json", "JSON (*.json)")
        if chosen is None:
            return False
        analysis, target = chosen
        return self._guarded(lambda: report.write_json(target, [self._result(analysis)], [], self._biplane()), target)

    def export_masks(self, path: str | Path | None = None) -> bool:
        chosen = self._analysis_and_target(path, "Export masks", "_masks.npz", "NumPy archive (*.npz)")
        if chosen is None:
            return False
        analysis, target = chosen

        def write() -> None:
            with report.mask_archive(target) as archive:
                archive.add(analysis, self._stem(analysis))
        return self._guarded(write, target)

    def export_png(self, widget: QWidget, cine_view: CineView, path: str | Path | None = None) -> bool:
        """A snapshot of ``widget`` as on screen, except that ``cine_view`` (in it) is black outside
        the imaging sector unless the view options keep the full frame."""
        target = self._target(path, "Save a PNG snapshot", ".png", "PNG image (*.png)")
        if not target:
            return False
        with cine_view.masked_for_snapshot(not self.options.full_frame):
            snapshot = widget.grab()
        if not snapshot.save(str(target), "PNG"):
            self.error.emit(f"could not write {target.name}; check the folder and its permissions")
            return False
        self._written(target)
        return True

    def export_figure(self, path: str | Path | None = None) -> bool:
        """The current frame at native resolution with its overlay, labels burned in as the view
        options say (never the patient's identifiers)."""
        frame = self.controller.frame
        chosen = self._analysis_and_target(path, "Export a figure of this frame", f"_frame{frame}.png",
                                           "PNG image (*.png)")
        if chosen is None:
            return False
        analysis, target = chosen
        options = self.options
        return self._guarded(lambda: write_figure_png(
            target, analysis, frame, mode=options.overlay, opacity=options.opacity, compare=self.controller.compare,
            labels=options.burned_labels, full_frame=options.full_frame), target)

    def export_video(self, path: str | Path | None = None, curve: bool = False) -> Task | None:
        """Written in the background with progress; the overlay as currently shown, labels as the
        view options say, and with ``curve`` the area curve beside the cine."""
        chosen = self._analysis_and_target(path, "Export video with overlay", "_curve.mp4" if curve else ".mp4",
                                           "MP4 video (*.mp4);;AVI video, Motion JPEG (*.avi)")
        if chosen is None:
            return None
        analysis, target = chosen
        mode, opacity, compare = self.options.overlay, self.options.opacity, self.controller.compare
        labels, full_frame = self.options.burned_labels, self.options.full_frame

        def work(task: Task) -> Path:
            write_overlay_video(target, analysis, mode=mode, opacity=opacity, compare=compare, labels=labels,
                                curve=curve, full_frame=full_frame, progress=task.progress, cancelled=task.cancelled)
            return target

        task = Task(work)
        task.signals.progress.connect(lambda done, total: self.progress.emit(
            f"Writing {target.name}: frame {done}/{total}"))
        task.signals.done.connect(lambda written: self._written(written))
        task.signals.failed.connect(lambda text: self.error.emit(f"video not written: {text}"))
        self.video_task = task
        return start(task)

    # ---- DICOM ---------------------------------------------------------------------------------
    def _dicom_work(self) -> tuple[CineAnalysis, Biplane | None, str] | None:
        """What SEG and SR need: the analysis, its biplane pair and the reader (None: nothing open)."""
        analysis = self._analysis()
        if analysis is None:
            return None
        return analysis, self.partner.biplane, Preferences().reader

    def _dicom_task(self, work, done, failed: str) -> Task:
        task = Task(work)
        task.signals.progress.connect(lambda count, total: self.progress.emit(f"Sending {count} of {total}…"))
        task.signals.done.connect(done)
        task.signals.failed.connect(lambda text: self.error.emit(f"{failed}: {text}"))
        self.dicom_task = task
        return start(task)

    def export_dicom(self, folder: str | Path | None = None) -> Task | None:
        """DICOM SEG of every frame's LV (the user's contours where drawn) and the SR of the
        measurements, into ``folder`` (asked for when None), in the background."""
        work = self._dicom_work()
        if work is None:
            return None
        analysis, biplane, reader = work
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self.dialog_parent, "Write DICOM SEG and SR into",
                                                      str(self.folder))
            if not chosen:
                return None
            folder = chosen
        target = Path(folder)
        self.folder = target
        from echoviewer.dicom_results import write_results  # highdicom: ~0.3 s, only when exporting

        return self._dicom_task(
            lambda task: write_results(analysis.cine.path, analysis, target, biplane=biplane, reader=reader),
            lambda written: self._written(*written), "DICOM not written")

    def send_dicom(self, node: Node) -> Task | None:
        """SEG and SR written to a temporary folder and sent to ``node`` (C-STORE or STOW-RS);
        nothing stays on disk afterwards."""
        work = self._dicom_work()
        if work is None:
            return None
        analysis, biplane, reader = work
        from echoviewer.dicom_results import write_results  # highdicom, pynetdicom: only when sending
        from echoviewer.pacs import open_client

        def send(task: Task) -> int:
            with tempfile.TemporaryDirectory(prefix="echoviewer-send-") as folder:
                written = write_results(analysis.cine.path, analysis, folder, biplane=biplane, reader=reader)
                with open_client(node) as client:
                    return client.store(written, progress=task.progress, cancelled=task.cancelled)

        return self._dicom_task(send, lambda count: self.saved.emit(f"Sent {count} DICOM objects to {node.name}"),
                                f"not sent to {node.name}")
