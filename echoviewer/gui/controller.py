"""The one place where the open study changes: file, model, ED/ES picks and the frame cursor.

Every view listens to :class:`StudyController`'s signals and sends user actions to its methods;
no view changes another. Opening a file and switching models run as :mod:`tasks` off the GUI
thread; a newer request cancels an older one, whose late results are dropped. How the study is
shown (overlay, opacity, axis, playback) is not here but in :mod:`view_options`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard, cast

import numpy as np
from PySide6.QtCore import QObject, Signal

from echoviewer.analysis import CineAnalysis, SegmentationCache, analyze, load_model
from echoviewer.analysis.models import BUNDLED, DEFAULT_MODEL
from echoviewer.analysis.contour import Contour
from echoviewer.gui.tasks import Task, start
from echoviewer.io import Cine, load_cine
from echoviewer.io.preview import first_frame
from echoviewer.resources import PARTNER
from echoviewer.study import Event, Picks, Study
from echoviewer.user_data import ActiveStudent, EditStore, SavedEdits, file_identity

if TYPE_CHECKING:  # highdicom takes ~0.3 s to import: only once a SEG is opened
    from echoviewer.dicom_results.seg import ReferenceSegmentation


def available(spec: object) -> TypeGuard[str]:
    """A bundled model's name or an existing model file (whether it loads shows when it runs)."""
    return isinstance(spec, str) and bool(spec) and (spec in BUNDLED or Path(spec).is_file())


class StudyController(QObject):
    """The open study and the work that changes it.

    **Which model a cine opens with** (the one rule; nothing else decides it):

    1. the model saved with the file's edits (the user's last choice for this file), if it still
       loads; if it does not, the session's model, and a one-line note says so;
    2. otherwise the session's model: the one the user last chose (Model menu or toolbar, the
       wizard's new student), which starts as the last session's (``viewer.ini``'s ``model``,
       given as ``last_model``) if it is bundled or its file exists, else the active student
       (:class:`~echoviewer.user_data.ActiveStudent`), else the bundled student.

    Opening a file makes the model it opened with the session's model. A model chosen while a
    file opens is used for it once it has opened; a model that fails to load changes nothing
    (the error is one line). Edits are saved in one place, :meth:`_save_edits`: after every
    change of picks and after a model switch (picks and model, keyed by the file's identity).
    """

    opening = Signal(str)            # path: a new file is being opened
    preview = Signal(object)         # np.ndarray: its first frame, before the whole cine is decoded
    cine_loaded = Signal(object)     # Cine: frames can be shown (no masks yet)
    study_changed = Signal(object)   # Study: new analysis, picks or model
    frame_changed = Signal(int)
    busy = Signal(str)               # what runs in the background; "" when nothing does
    error = Signal(str)              # one line for the user
    model_changed = Signal(str)      # the model spec now shown
    compare_changed = Signal(bool)
    open_failed = Signal(str, str)   # path, the one-line reason: the file could not be opened
    reviewed_changed = Signal(bool)  # the open cine's reviewed tick
    pairing_changed = Signal(object)  # (view, partner path) | None: the user's biplane pair
    reference_changed = Signal(object)  # ReferenceSegmentation | None: a DICOM SEG shown beside the model

    def __init__(self, store: EditStore | None = None, parent: QObject | None = None,
                 last_model: object = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else EditStore()
        self.cache = SegmentationCache()
        self.cine: Cine | None = None
        self.study: Study | None = None
        self.identity: str | None = None
        self.model_spec = self.first_model(last_model)
        self.compare = False
        self.frame = 0
        self.reference: ReferenceSegmentation | None = None  # of the open cine; gone with it
        self.unsaved = False  # the last save of edits failed (an unwritable data folder)
        self._task: Task | None = None
        self._wanted: tuple[str, bool] | None = None  # model and comparison chosen while opening

    # ---- background work -------------------------------------------------------------------
    def _run(self, message: str, function, on_done, on_report=None, on_failed=None) -> Task:
        if self._task is not None:
            self._task.cancel()
        task = Task(function)
        self._task = task

        def finished(result: object) -> None:
            if task is self._task:
                self._task = None
                self.busy.emit("")
                on_done(result)

        def failed(text: str) -> None:
            if task is self._task:
                self._task = None
                self.busy.emit("")
                self.error.emit(text)
                if on_failed is not None:
                    on_failed(text)

        task.signals.done.connect(finished)
        task.signals.failed.connect(failed)
        if on_report is not None:
            task.signals.report.connect(lambda what, payload: task is self._task and on_report(what, payload))
        self.busy.emit(message)
        return start(task)

    def cancel(self) -> None:
        """Drop the running task's results (it stops at its next check)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self.busy.emit("")

    @property
    def working(self) -> bool:
        return self._task is not None

    def _comparison_spec(self, spec: str) -> str:
        # a model file of the user's own: the wizard's default teacher is the bundled ``teacher``
        return PARTNER.get(spec, "teacher")

    def _analyse(self, cine: Cine, spec: str, compare: bool) -> CineAnalysis:
        model = load_model(spec)
        other = load_model(self._comparison_spec(spec)) if compare else None
        return analyze(cine, model, compare=other, cache=self.cache)

    # ---- the model policy (see the class) ----------------------------------------------------
    @staticmethod
    def first_model(last_model: object = None) -> str:
        """The session's model at the start: ``last_model`` (the last session's) if available,
        else the active student if available, else the bundled student."""
        return next((spec for spec in (last_model, ActiveStudent().get()) if available(spec)), DEFAULT_MODEL)

    def model_for(self, saved: SavedEdits | None) -> str:
        """The model to open a file with first: its saved one, else the session's (if the saved
        one fails to load, :meth:`open` falls back to the session's with a note)."""
        return saved.model if saved is not None and saved.model else self.model_spec

    # ---- files -------------------------------------------------------------------------------
    def open(self, path: str | Path) -> None:
        """Load ``path`` and analyse it with the model the policy chooses (see the class)."""
        path = Path(path)

        def work(task: Task):
            # Paging through a folder cancels opens: each step checks, so they cost little.
            frame = None if task.cancelled() else first_frame(path)
            if frame is not None:
                task.report("preview", frame)
            if task.cancelled():
                return None
            cine = load_cine(path)
            task.report("cine", cine)
            if task.cancelled():
                return None
            identity = file_identity(cine)
            saved = self.store.load(identity)
            saved = saved if saved is not None and saved.matches(cine.n_frames) else None
            # Read late: a model or comparison chosen while this file decodes counts.
            fallback, compare = self.model_spec, self.compare
            spec = self.model_for(saved)
            # The saved model, else the session's, else the bundled one: a model that is gone or
            # damaged (a bad active student, a truncated file) never stops a cine from opening.
            candidates, failures = list(dict.fromkeys((spec, fallback, DEFAULT_MODEL))), []
            for candidate in candidates:
                try:
                    analysis = self._analyse(cine, candidate, compare)
                    break
                except Exception as exc:
                    if candidate == candidates[-1]:
                        raise
                    which = "saved model" if candidate == spec != fallback else "model"
                    failures.append(f"{which} unavailable: {Path(candidate).name} ({exc})")
            note = "; ".join(failures) + f"; showing {Path(candidate).name}" if failures else ""
            return identity, saved, candidate, compare, analysis, note

        def report(what: str, payload: object) -> None:
            if what == "preview":
                self.preview.emit(payload)
            elif what == "cine":
                self.cine, self.study, self.identity = cast(Cine, payload), None, None
                self.frame = 0
                if self.reference is not None:
                    self.reference = None
                    self.reference_changed.emit(None)
                self.cine_loaded.emit(payload)
                self.frame_changed.emit(0)

        def done(result) -> None:
            identity, saved, spec, compare, analysis, note = result
            self.identity, self.compare = identity, compare
            self._set_study(study_from_saved(analysis, saved), spec)
            self.compare_changed.emit(compare)
            if note:
                self.error.emit(note)
            wanted, self._wanted = self._wanted, None
            if wanted is not None and wanted != (spec, compare):  # chosen after the worker read them
                self._reanalyse(*wanted)

        def failed(text: str) -> None:  # the open study stays: views that showed the preview redraw it
            self.open_failed.emit(str(path), text)
            if self.cine is not None:
                self.frame_changed.emit(self.frame)

        self.opening.emit(str(path))
        self._run(f"Opening {path.name}…", work, done, report, on_failed=failed)

    def _set_study(self, study: Study, spec: str) -> None:
        self.study = study
        if spec != self.model_spec:
            self.model_spec = spec
        self.model_changed.emit(spec)
        self.study_changed.emit(study)
        self.frame_changed.emit(self.frame)

    def open_reference(self, path: str | Path) -> None:
        """Show the LV segment of the DICOM SEG at ``path`` as the open cine's reference contour;
        a SEG of another instance (or a file that is not a SEG) is refused in one line."""
        cine = self.cine
        if cine is None:
            self.error.emit("open a cine first, then its DICOM SEG")
            return
        path = Path(path)
        from echoviewer.dicom_results.seg import reference_for

        def done(reference: ReferenceSegmentation) -> None:
            if cine is self.cine:
                self.reference = reference
                self.reference_changed.emit(reference)

        self._run(f"Reading {path.name}…",
                  lambda task: reference_for(path, cine), done)

    def close_reference(self) -> None:
        if self.reference is not None:
            self.reference = None
            self.reference_changed.emit(None)

    # ---- model -------------------------------------------------------------------------------
    def set_model(self, spec: str) -> None:
        """Show the open cine with another model (cached after the first run); the user's picks stay."""
        self._reanalyse(spec, self.compare)

    def set_compare(self, on: bool) -> None:
        """Also run the other bundled model, for the disagreement overlay and flag."""
        self._reanalyse(self.model_spec, bool(on))

    def _reanalyse(self, spec: str, compare: bool) -> None:
        """Model and comparison change together, and only once the new analysis exists: on a
        failure both stay as they were (and the menus are told so)."""
        if self.study is None:  # nothing analysed yet: the analysis under way or the next uses them
            self.model_spec, self.compare = spec, compare
            self._wanted = (spec, compare) if self.working else None
            self.model_changed.emit(spec)
            self.compare_changed.emit(compare)
            if self.cine is not None and not self.working:
                self.open(self.cine.path)
            return
        cine = self.cine
        assert cine is not None  # a study is open, so is its cine

        def done(analysis: CineAnalysis) -> None:
            if self.study is None or analysis.cine is not self.cine:
                return
            self.compare = compare
            self._set_study(self.study.with_analysis(analysis), spec)
            self.compare_changed.emit(compare)
            self._save_edits()

        def failed(_text: str) -> None:  # the menus show what is still in use
            self.model_changed.emit(self.model_spec)
            self.compare_changed.emit(self.compare)

        self._run(f"Segmenting with {Path(spec).stem}…",
                  lambda task: self._analyse(cine, spec, compare), done, on_failed=failed)

    # ---- frame cursor ------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self.cine.n_frames if self.cine is not None else 0

    def set_frame(self, frame: int) -> None:
        if self.cine is None:
            return
        frame = int(np.clip(frame, 0, self.n_frames - 1))
        if frame != self.frame:
            self.frame = frame
            self.frame_changed.emit(frame)

    def step(self, frames: int) -> None:
        self.set_frame(self.frame + frames)

    def jump_event(self, step: int) -> None:
        if self.study is not None:
            target = self.study.next_event(self.frame, step)
            if target is not None:
                self.set_frame(target)

    # ---- editing -----------------------------------------------------------------------------
    def _edit(self, changed: bool) -> None:
        if changed:
            self._save_edits()
            self.study_changed.emit(self.study)

    def mark_here(self, event: Event) -> None:
        """The beat at the cursor gets its ED (or ES) here: its pick moves, or one is added."""
        if self.study is not None:
            self._edit(self.study.mark_event(event, self.frame))

    def add_here(self, event: Event) -> None:
        """A second ED (or ES) pick at the cursor, for a beat the model missed."""
        if self.study is not None:
            self._edit(self.study.add_event(event, self.frame))

    def nudge_pick(self, step: int) -> None:
        """Move the pick at the cursor by ``step`` frames; the cursor goes with it."""
        if self.study is None:
            return
        if self.study.event_at(self.frame) is None:
            self.error.emit("no ED or ES pick on this frame: go to one with [ or ] first")
            return
        new = self.study.nudge(self.frame, step)
        if new is None:
            self.error.emit(f"the pick cannot move to frame {self.frame + step}: "
                            "it is outside the cine or holds another pick")
            return
        self._edit(True)
        self.set_frame(new)

    def move_event(self, event: Event, old: int, new: int) -> None:
        if self.study is not None:
            self._edit(self.study.move_event(event, old, new))

    def delete_event(self, event: Event, frame: int) -> None:
        if self.study is not None:
            self._edit(self.study.delete_event(event, frame))

    def delete_here(self) -> None:
        if self.study is not None:
            self._edit(self.study.delete_at(self.frame))

    def undo(self) -> None:
        if self.study is not None:
            self._edit(self.study.undo())

    def redo(self) -> None:
        if self.study is not None:
            self._edit(self.study.redo())

    def reset_picks(self) -> None:
        if self.study is not None:
            self._edit(self.study.reset())

    def set_contour(self, contour: Contour, step: str) -> None:
        """The user's contour on the current frame (``step`` names it for undo)."""
        if self.study is not None:
            self._edit(self.study.set_contour(self.frame, contour, step))

    def reset_contour(self) -> None:
        """The current frame back to the model's contour."""
        if self.study is not None:
            self._edit(self.study.reset_contour(self.frame))

    def set_reviewed(self, reviewed: bool) -> None:
        """Tick (or untick) the open cine as reviewed; saved with its edits."""
        if self.study is not None and self.study.reviewed != bool(reviewed):
            self.study.reviewed = bool(reviewed)
            self._save_edits()
            self.reviewed_changed.emit(self.study.reviewed)

    def set_pairing(self, pairing: tuple[str, str] | None) -> None:
        """Pair the open cine by hand as ``(its view, the other view's file)``, or unpair (None);
        saved with its edits, so the pair comes back when the cine is opened again."""
        if self.study is not None and self.study.pairing != pairing:
            self.study.pairing = pairing
            self._save_edits()
            self.pairing_changed.emit(pairing)

    def _save_edits(self) -> None:
        """The one place edits are saved (after a change of picks and after a model switch): the
        picks and the model, keyed by the file's identity."""
        study = self.study
        if self.identity is None or study is None:
            return
        picks, edited = study.picks, study.user_edited
        try:
            self.store.save(self.identity, SavedEdits(
                ed_frames=picks.ed if edited else None, es_frames=picks.es if edited else None,
                model=self.model_spec, edited_ed=tuple(sorted(picks.edited_ed)),
                edited_es=tuple(sorted(picks.edited_es)), n_frames=study.n_frames,
                contours=tuple(study.contours.items()), reviewed=study.reviewed, pairing=study.pairing))
        except OSError as exc:
            self.data_folder_failed(exc)
            return
        self.unsaved = False

    def data_folder_failed(self, exc: OSError) -> None:
        """The data folder cannot be written (edits, recent files): said once; the edits stay in
        memory for the session and the viewer goes on."""
        if not self.unsaved:
            self.error.emit(f"your edits are kept for this session but not saved: the data folder cannot be "
                            f"written ({exc}); check it, or set ECHOVIEWER_DATA_DIR to a writable folder")
        self.unsaved = True


def study_from_saved(analysis: CineAnalysis, saved: SavedEdits | None) -> Study:
    """The study of ``analysis`` with the user's saved picks and contours (the automatic picks
    where none were saved, or where saved edits no longer fit the cine)."""
    if saved is None or not saved.matches(analysis.cine.n_frames):
        return Study(analysis)
    picks = None if saved.ed_frames is None or saved.es_frames is None else Picks(
        tuple(saved.ed_frames), tuple(saved.es_frames), frozenset(saved.edited_ed), frozenset(saved.edited_es))
    try:
        return Study(analysis, picks, dict(saved.contours), saved.reviewed, saved.pairing)
    except ValueError:
        return Study(analysis, reviewed=saved.reviewed, pairing=saved.pairing)
