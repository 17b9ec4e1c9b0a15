"""The open cine's other apical view (A4C ↔ A2C), analysed in the background, and their biplane values.

When a cine opens whose file names its view, the partner is looked for among the study list's
files (or, for a file opened on its own, the cines beside it): the one of the same study (StudyInstanceUID, or the file name less its view) naming the
other view, read from headers and names only. The user can also pair by hand (Edit ▸ Pair with the
other apical view…). The partner is analysed with the open cine's model and shown with its own
saved edits (picks and contours); only its :class:`ViewDisks` are kept, not its pixels. The biplane
values follow every edit of the open cine at once (a few disks per beat), and a model switch
re-analyses the partner with the new model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.biplane import Biplane, ViewDisks, study_key, view_disks
from echoviewer.gui.controller import StudyController, study_from_saved
from echoviewer.gui.tasks import Task, start
from echoviewer.io import Cine, load_cine
from echoviewer.io.apical_view import VIEWS
from echoviewer.io.loader import CINE_SUFFIXES, stated_view
from echoviewer.study import Study
from echoviewer.user_data import file_identity


NEIGHBOURS = 500  # files beside a single opened cine that are looked at, at most


def beside(path: Path) -> list[Path]:
    """The cine files in ``path``'s own folder (not below it), by name: where a partner of a file
    opened on its own is looked for."""
    try:
        found = sorted(p for p in path.parent.iterdir() if p.suffix.lower() in CINE_SUFFIXES and p.is_file())
    except OSError:
        return []
    return found[:NEIGHBOURS]


def other_view(view: str) -> str:
    return "A2C" if view == "A4C" else "A4C"


class BiplanePartner(QObject):
    """``biplane`` is the open cine with its partner (None while there is none); ``changed`` says
    when it changes, ``note`` is the one line about the partner (found, analysing, failed)."""

    changed = Signal(object)  # Biplane | None
    note = Signal(str)

    def __init__(self, controller: StudyController, listed: Callable[[], list[Path]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller, self.listed = controller, listed
        self.view = ""  # the open cine's view: the one its file names, or the user's word
        self.partner_path: Path | None = None
        self.partner: ViewDisks | None = None
        self.biplane: Biplane | None = None
        self._spec = ""  # the model the partner was analysed with
        self._task: Task | None = None
        self._looked = False  # the study list was searched for the open cine
        self._stated: dict[Path, tuple[str, str]] = {}  # headers read once per file
        controller.cine_loaded.connect(self._cine_loaded)
        controller.study_changed.connect(self._study_changed)
        controller.pairing_changed.connect(self._paired)

    # ---- the open cine -------------------------------------------------------------------------
    def _cine_loaded(self, cine: Cine) -> None:
        self._cancel()
        self.view, self.partner_path, self.partner, self._looked = cine.metadata.view, None, None, False
        self._show()

    def _study_changed(self, study: Study) -> None:
        if self.partner_path is None and not self._looked:
            self._looked = True
            if study.pairing is not None:  # the user's pair, saved with the cine's edits
                self._paired(study.pairing)
                return
            found = self._find(study)
            if found is not None:
                self._analyse(found)
                return
        if self.partner_path is not None and self._spec != self.controller.model_spec:
            self._analyse(self.partner_path)  # the partner follows a model switch
            return
        self._show()

    def _find(self, study: Study) -> Path | None:
        """The one file of the study list of this cine's study that names the other view."""
        if self.view not in VIEWS:
            return None
        cine = study.analysis.cine
        key = study_key(cine.identifiers.study_instance_uid, cine.path)
        found = []
        for path in self.listed() or beside(cine.path):
            if path.resolve() == cine.path.resolve():
                continue
            if path not in self._stated:
                self._stated[path] = stated_view(path)
            uid, view = self._stated[path]
            if view == other_view(self.view) and study_key(uid, path) == key:
                found.append(path)
        return found[0] if len(found) == 1 else None

    # ---- pairing -------------------------------------------------------------------------------
    def pair_with(self, path: str | Path, view: str) -> None:
        """Pair the open cine, as ``view`` (A4C or A2C), with ``path`` as the other view (saved
        with the cine's edits)."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}; got {view!r}")
        self.controller.set_pairing((view, str(Path(path).resolve())))

    def unpair(self) -> None:
        """Back to single-plane; a pair the user made is forgotten."""
        self.controller.set_pairing(None)
        self._cancel()
        self.partner_path, self.partner = None, None
        self._show()

    def _paired(self, pairing: tuple[str, str] | None) -> None:
        if pairing is None:
            return
        view, path = pairing
        self.view = view
        if not Path(path).is_file():
            self.partner_path, self.partner = None, None
            self.note.emit(f"no biplane: the {other_view(view)} file paired with this cine is gone ({path})")
            self._show()
            return
        self._analyse(Path(path))

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _analyse(self, path: Path) -> None:
        self._cancel()
        self.partner_path, self.partner, self._spec = path, None, self.controller.model_spec
        spec, store, view = self._spec, self.controller.store, other_view(self.view)
        self._show()
        self.note.emit(f"Analysing the {view} partner {path.name}…")

        def work(task: Task) -> ViewDisks | None:
            cine = load_cine(path)
            if task.cancelled():
                return None
            analysis = analyze(cine, load_model(spec))
            study = study_from_saved(analysis, store.load(file_identity(cine)))
            return view_disks(study.analysis, view)

        task = Task(work)
        self._task = task

        def done(disks: ViewDisks | None) -> None:
            if task is self._task and disks is not None:
                self._task, self.partner = None, disks
                self.note.emit(f"Biplane with {path.name} ({view})")
                self._show()

        def failed(text: str) -> None:
            if task is self._task:
                self._task, self.partner_path = None, None
                self.note.emit(f"no biplane: the partner could not be analysed ({text})")
                self._show()

        task.signals.done.connect(done)
        task.signals.failed.connect(failed)
        start(task)

    @property
    def working(self) -> bool:
        return self._task is not None

    def _show(self) -> None:
        study = self.controller.study
        biplane = None
        if study is not None and self.partner is not None:
            mine = view_disks(study.analysis, self.view)
            biplane = Biplane(mine, self.partner) if self.view == "A4C" else Biplane(self.partner, mine)
        self.biplane = biplane
        self.changed.emit(biplane)
