"""The viewer's window: cine and transport on the left; area curve and measurements on the right;
the study list of an opened folder docked at the side. Every command is a QAction with its key.

The window keeps no copy of what it shows: the study is the controller's, the display and
playback choices are the view options' (its menus and toolbar write to them and mirror them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, QSignalBlocker, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDockWidget, QFileDialog, QInputDialog,
                               QLabel, QMainWindow, QMessageBox, QProgressBar, QSlider, QSplitter, QStyle,
                               QVBoxLayout, QWidget)

from echoviewer.model_catalog import available_models
from echoviewer.analysis.models import BUNDLED
from echoviewer.analysis.overlay import OVERLAY_MODES
from echoviewer.gui.biplane_partner import BiplanePartner
from echoviewer.gui.cine_view import CineView
from echoviewer.gui.controller import StudyController
from echoviewer.gui.cohort import Cohort
from echoviewer.gui.curve_plot import CurvePlot
from echoviewer.gui.exports import Exporter
from echoviewer.gui.measurements_panel import MeasurementsPanel
from echoviewer.gui.playback import Playback
from echoviewer.gui.study_list import StudyList
from echoviewer.gui.transport import Transport
from echoviewer.gui.settings import viewer_settings
from echoviewer.gui.view_options import OPACITY_PERCENT, ViewOptions
from echoviewer.io import CineLoadError
from echoviewer.io.loader import CINE_SUFFIXES, is_segmentation
from echoviewer.resources import SAMPLE_CINE
from echoviewer.user_data import ActiveStudent, EditStore, Preferences, RecentFiles

# Imported where they are used, off the path to the first frame: the wizard (distill and torch are
# optional), the help and PACS dialogs, DICOM results (highdicom) and the PACS (pydicom's network parts).
if TYPE_CHECKING:
    from echoviewer.dicom_results import ReferenceSegmentation
    from echoviewer.gui.pacs_dialog import PacsDialog
    from echoviewer.gui.wizard.wizard import DistillWizard
    from echoviewer.pacs import Node, RetrievedSeries

OPEN_FILTER = (f"Echo cines ({' '.join(f'*{suffix}' for suffix in sorted(CINE_SUFFIXES))});;"
               "All files, e.g. DICOM without a suffix (*)")


class MainWindow(QMainWindow):
    def __init__(self, store: EditStore | None = None, recent: RecentFiles | None = None) -> None:
        super().__init__()
        self.setWindowTitle("echoviewer")
        self.setAcceptDrops(True)
        settings = viewer_settings()
        self.options = ViewOptions(self)
        self.options.load(settings)
        self.controller = StudyController(store, self, last_model=settings.value("model"))
        self.recent = recent if recent is not None else RecentFiles()
        self.playback = Playback(self.controller, self.options, self)
        self.cohort = Cohort(self.controller, self)
        self.study_list = StudyList(self.cohort)
        self.partner = BiplanePartner(self.controller, self.study_list.paths, self)
        self.exporter = Exporter(self.controller, self.options, self.partner, self)
        # Shadows QWidget.actions() on purpose: the window's commands by name (tests, Transport use it).
        self.actions: dict[str, QAction] = {}  # type: ignore[assignment]
        self._ready = "Open a cine (Ctrl+O), a folder (Ctrl+Shift+O), or drop one on the window"
        self.wizard: DistillWizard | None = None  # the distillation wizard while it is open
        self.help_dialog: QDialog | None = None
        self.pacs_dialog: PacsDialog | None = None
        self._added_models: list[str] = []  # ONNX files opened this session, offered with the rest
        self.cine_view = CineView(self.controller, self.options)
        self.curve = CurvePlot(self.controller, self.options)
        self.measurements = MeasurementsPanel(self.controller, self.partner)
        self.study_list.chosen.connect(self.open_path)
        self.study_list.reviewed.connect(self.controller.set_reviewed)
        self.study_list.refused.connect(self.say)
        self._build_actions()
        self.transport = Transport(self.controller, self.options, self.actions)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.cine_view, 1)
        left_layout.addWidget(self.transport)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.curve)
        right.addWidget(self.measurements)
        right.setSizes([380, 320])
        self.right_splitter = right
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(right)
        main.setSizes([760, 640])
        self.main_splitter = main
        self.setCentralWidget(main)
        self.study_dock = QDockWidget("Study list", self)
        self.study_dock.setObjectName("studyList")
        self.study_dock.setWidget(self.study_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.study_dock)
        self.resizeDocks([self.study_dock], [340], Qt.Orientation.Horizontal)
        self.study_dock.hide()

        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        c = self.controller
        c.opening.connect(self._opening)
        c.cine_loaded.connect(self._loaded)
        c.study_changed.connect(lambda _study: self._update_edit_actions())
        c.frame_changed.connect(lambda _frame: self._update_edit_actions())
        c.error.connect(self.show_error)

        def mark_open(_text: str) -> None:
            if c.cine:
                self.study_list.mark_open(str(c.cine.path))

        c.error.connect(mark_open)
        c.reviewed_changed.connect(self._show_reviewed)
        self.cohort.progress.connect(self.say)
        self.cohort.finished.connect(self._list_exported)
        c.busy.connect(self._busy)
        c.model_changed.connect(self._model_changed)
        c.compare_changed.connect(self._compare_changed)
        c.reference_changed.connect(self._reference_changed)
        self.actions["close_reference"].setEnabled(False)
        with QSignalBlocker(self.actions["pseudonymise"]):
            self.actions["pseudonymise"].setChecked(Preferences().pseudonymise)
        self.playback.playing_changed.connect(self._playing)
        self.exporter.saved.connect(self.say)
        self.exporter.progress.connect(self.say)
        self.exporter.error.connect(self.show_error)
        for name in ViewOptions.FIELDS:
            self._show_option(name)
        self.options.changed.connect(self._show_option)
        self._update_edit_actions()
        self._restore_layout(settings)

    # ---- actions -----------------------------------------------------------------------------
    def _action(self, name: str, text: str, slot, keys=(), tip: str = "", checkable: bool = False,
                icon: QStyle.StandardPixmap | None = None) -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        shown = f" ({QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)})" if keys else ""
        action.setToolTip((tip or text) + shown)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        self.actions[name] = action
        return action

    def _build_actions(self) -> None:
        c, e, p, o = self.controller, self.exporter, self.playback, self.options
        a = self._action
        a("open", "&Open…", self.choose_file, [QKeySequence.StandardKey.Open])
        a("open_folder", "Open &folder…", self.choose_folder, ["Ctrl+Shift+O"])
        a("open_sample", "Open the bundled &sample", lambda: self.open_path(SAMPLE_CINE))
        a("open_pacs", "Open from &PACS…", self.open_pacs, ["Ctrl+Shift+P"],
          tip="Search a PACS (DIMSE or DICOMweb) and retrieve a study or series into the local cache")
        a("open_reference", "Open a reference se&gmentation (DICOM SEG)…", self.choose_reference,
          tip="An expert's or another tool's LV contour for this cine, outlined beside the model's")
        a("close_reference", "Close the reference segmentation", c.close_reference)
        a("reference", "Show the &reference contour (DICOM SEG)", o.setter("reference"), checkable=True)
        a("quit", "&Quit", self.close, [QKeySequence.StandardKey.Quit])
        a("export_csv", "&CSV tables (per frame, per beat)…", lambda: e.export_csv())
        a("export_json", "&JSON (echoviewer analyze schema)…", lambda: e.export_json())
        a("export_window_png", "PNG of the &window…", lambda: e.export_png(self, self.cine_view))
        a("export_cine_png", "PNG of the c&ine view…", lambda: e.export_png(self.cine_view.graphics, self.cine_view))
        a("export_figure", "&Figure PNG of this frame (native resolution)…", lambda: e.export_figure())
        a("export_video", "&Video with overlay (MP4, AVI)…", lambda: e.export_video())
        a("export_video_curve", "Video with overlay and the area c&urve…", lambda: e.export_video(curve=True))
        a("burned_labels", "Burn frame, time, ED/ES and a scale bar into figures and videos",
          o.setter("burned_labels"), checkable=True)
        a("full_frame", "Keep the full frame in figures and videos (else black outside the sector)",
          o.setter("full_frame"), checkable=True,
          tip="Off (the default), everything outside the imaging sector, where scanners burn in names and IDs, is black")
        a("export_masks", "&Masks (.npz)…", lambda: e.export_masks())
        a("export_dicom", "DICOM SEG and S&R (for the PACS)…", lambda: e.export_dicom(),
          tip="The LV masks as a DICOM Segmentation and the measurements as a TID 1500 structured report")
        a("export_list", "The whole study &list as one CSV…", self.export_list,
          tip="Every cine of the list analysed (with its saved edits): one row per beat per cine")
        a("cancel_list_export", "Cancel the list export", self.cohort.cancel_export, ["Esc"])
        icons = QStyle.StandardPixmap
        a("play", "Play", p.toggle, ["Space"], "Play / pause", icon=icons.SP_MediaPlay)
        a("step_back", "Previous frame", lambda: c.step(-1), ["Left"], icon=icons.SP_ArrowLeft)
        a("step_forward", "Next frame", lambda: c.step(1), ["Right"], icon=icons.SP_ArrowRight)
        a("previous_event", "Previous ED or ES", lambda: c.jump_event(-1), ["["],
          icon=icons.SP_MediaSeekBackward)
        a("next_event", "Next ED or ES", lambda: c.jump_event(1), ["]"], icon=icons.SP_MediaSeekForward)
        a("first", "First frame", lambda: c.set_frame(0), ["Home"], icon=icons.SP_MediaSkipBackward)
        a("last", "Last frame", lambda: c.set_frame(c.n_frames - 1), ["End"], icon=icons.SP_MediaSkipForward)
        a("previous_cine", "Previous cine", lambda: self.study_list.step(-1), ["PgUp"])
        a("next_cine", "Next cine", lambda: self.study_list.step(1), ["PgDown"])
        a("set_ed", "Set this beat's &ED here", lambda: c.mark_here("ED"), ["E"],
          tip="The beat's ED pick moves to this frame (or is added if the beat has none)")
        a("set_es", "Set this beat's E&S here", lambda: c.mark_here("ES"), ["S"],
          tip="The beat's ES pick moves to this frame (or is added if the beat has none)")
        a("add_ed", "Add another ED here", lambda: c.add_here("ED"), ["Shift+E"],
          tip="A second ED pick, for a beat the model missed")
        a("add_es", "Add another ES here", lambda: c.add_here("ES"), ["Shift+S"],
          tip="A second ES pick, for a beat the model missed")
        a("nudge_back", "Move the pick here one frame earlier", lambda: c.nudge_pick(-1), ["Alt+Left"])
        a("nudge_forward", "Move the pick here one frame later", lambda: c.nudge_pick(1), ["Alt+Right"])
        a("delete_pick", "&Delete the pick here", c.delete_here, ["Delete", "Backspace"])
        a("undo", "&Undo", c.undo, ["Ctrl+Z"])
        a("redo", "&Redo", c.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        a("reset_picks", "Reset picks to the model's", c.reset_picks)
        a("reviewed", "Mark this cine &reviewed", c.set_reviewed, ["R"], checkable=True,
          tip="Saved with your edits; the study list shows it")
        a("contour_editing", "Edit the LV &contour", o.setter("contour_editing"), ["C"], checkable=True,
          tip="Drag a point, double-click the outline to add one, right-click a point to remove it")
        a("reset_contour", "Reset this frame's contour to the model's", c.reset_contour)
        a("pair_views", "&Pair with the other apical view (biplane)…", self.choose_partner,
          tip="Choose the A2C (or A4C) cine of this study: biplane EDV, ESV and EF")
        a("unpair_views", "Unpair (single-plane only)", self.partner.unpair)
        a("landmarks", "Show &landmarks and long axis", o.setter("landmarks"), ["L"], checkable=True)
        a("cycle_overlay", "Cycle overlay: fill / contour / hidden", o.cycle_overlay, ["O"])
        a("disagreement", "Show teacher–student &disagreement", self._set_disagreement, ["D"],
          checkable=True)
        a("time_axis", "Plot against &time (else frames)", o.setter("time_axis"), ["T"], checkable=True)
        a("identifiers", "Show patient &name and ID", o.setter("identifiers"), checkable=True,
          tip="Patient identifiers are hidden on screen and in exports unless this is on")
        a("reader", "Reader &name for exports…", self.choose_reader,
          tip="Your name, written into every CSV and JSON export (provenance)")
        a("pseudonymise", "&Pseudonymise file names in exports", self.set_pseudonymise, checkable=True,
          tip="Exports name each cine by a stable salted key (cine-…), not its file name (often a patient's); "
              "the key → path map stays in the data folder (pseudonyms.csv)")
        a("add_model", "Add an ONNX &model…", self.choose_model)
        a("distill", "&Distill a new student…", self.open_wizard, ["Ctrl+Shift+D"],
          tip="Train a student on synthetic cines labelled by a teacher: no patient data, no human labels")
        a("restore_student", "&Restore the previous student", self.restore_student)
        a("shortcuts", "&Keyboard shortcuts", self._show_shortcuts, ["F1"])
        a("about", "&About echoviewer and the active model", self._show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        name: str | None  # an action's name; None: a separator
        files = bar.addMenu("&File")
        for name in ("open", "open_folder", "open_sample", "open_pacs"):
            files.addAction(self.actions[name])
        self.recent_menu = files.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        files.addSeparator()
        for name in ("open_reference", "close_reference"):
            files.addAction(self.actions[name])
        export = files.addMenu("&Export")
        for name in ("export_csv", "export_json", None, "export_figure", "export_video", "export_video_curve",
                     "burned_labels", "full_frame", None, "export_window_png", "export_cine_png", "export_masks", None,
                     "export_dicom"):
            export.addSeparator() if name is None else export.addAction(self.actions[name])
        self.send_menu = export.addMenu("&Send SEG and SR to a PACS")
        self.send_menu.aboutToShow.connect(self._fill_send_menu)
        export.addSeparator()
        export.addAction(self.actions["export_list"])
        files.addSeparator()
        files.addAction(self.actions["quit"])
        edit = bar.addMenu("&Edit")
        for name in ("undo", "redo", None, "set_ed", "set_es", "add_ed", "add_es", "nudge_back",
                     "nudge_forward", "delete_pick", "reset_picks", None,
                     "contour_editing", "reset_contour", None, "reviewed", None, "pair_views",
                     "unpair_views", None, "reader", "pseudonymise"):
            edit.addSeparator() if name is None else edit.addAction(self.actions[name])
        view = bar.addMenu("&View")
        self.overlay_group = QActionGroup(self)
        for mode in OVERLAY_MODES:
            action = QAction(f"Overlay: {mode}", self, checkable=True)
            action.setData(mode)
            action.triggered.connect(lambda _=False, m=mode: setattr(self.options, "overlay", m))
            self.overlay_group.addAction(action)
            view.addAction(action)
        for name in ("cycle_overlay", "landmarks", "disagreement", "reference", "time_axis", "identifiers"):
            view.addAction(self.actions[name])
        view.addAction(self.study_dock.toggleViewAction())
        play = bar.addMenu("&Playback")
        for name in ("play", "step_back", "step_forward", "previous_event", "next_event", "first",
                     "last", None, "previous_cine", "next_cine"):
            play.addSeparator() if name is None else play.addAction(self.actions[name])
        self.model_menu = bar.addMenu("&Model")
        self.model_menu.aboutToShow.connect(self._fill_model_menu)
        help_menu = bar.addMenu("&Help")
        for name in ("shortcuts", "about"):
            help_menu.addAction(self.actions[name])

    def _show_shortcuts(self) -> None:
        from echoviewer.gui.help_dialogs import shortcuts_dialog

        self._show_help(shortcuts_dialog(self.actions.values(), self))

    def _show_about(self) -> None:
        from echoviewer.gui.help_dialogs import about_dialog

        self._show_help(about_dialog(self.controller.model_spec, self))

    def _show_help(self, dialog: QDialog) -> None:
        """One Help window at a time, beside the viewer (not modal: the keys it lists keep working)."""
        if self.help_dialog is not None:
            self.help_dialog.close()
        self.help_dialog = dialog
        dialog.show()

    def _build_toolbar(self) -> None:
        tools = self.addToolBar("Display")
        tools.setObjectName("display")
        tools.setMovable(False)
        tools.addWidget(QLabel(" Model "))
        self.model_box = QComboBox()
        self.model_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.model_box.setMinimumWidth(170)
        self.model_box.activated.connect(self._model_chosen)
        tools.addWidget(self.model_box)
        self._fill_model_box()
        tools.addSeparator()
        tools.addWidget(QLabel(" Overlay "))
        self.overlay_box = QComboBox()
        self.overlay_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overlay_box.addItems(list(OVERLAY_MODES))
        self.overlay_box.currentTextChanged.connect(self.options.setter("overlay"))
        tools.addWidget(self.overlay_box)
        tools.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity_slider.setRange(*OPACITY_PERCENT)
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.valueChanged.connect(lambda percent: setattr(self.options, "opacity", percent / 100))
        tools.addWidget(self.opacity_slider)
        tools.addSeparator()
        self.disagreement_box = QCheckBox("Disagreement")
        self.disagreement_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.disagreement_box.setToolTip("Also run the other bundled model and show where the two "
                                         "masks differ (magenta) (D)")
        self.disagreement_box.toggled.connect(self.actions["disagreement"].setChecked)
        self.actions["disagreement"].toggled.connect(self.disagreement_box.setChecked)
        tools.addWidget(self.disagreement_box)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.message = QLabel()
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        status.addWidget(self.message, 1)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setRange(0, 0)
        self.progress.hide()
        status.addPermanentWidget(self.progress)
        self.say(self._ready)

    # ---- files -------------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a cine", str(self._last_folder()), OPEN_FILTER)
        if path:
            self.open_path(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of cines", str(self._last_folder()))
        if folder:
            self.open_folder(folder)

    def _last_folder(self) -> Path:
        recent = self.recent.paths()
        return recent[0].parent if recent else Path.home()

    def open_path(self, path: str | Path) -> None:
        """Open a cine; a DICOM SEG opened (or dropped) over an open cine becomes its reference contour."""
        if self.controller.cine is not None and is_segmentation(path):
            self.controller.open_reference(path)
            return
        self.controller.open(path)
        self.study_list.mark_open(str(path))

    def open_pacs(self) -> None:
        """The PACS dialog (one, beside the viewer); what it retrieves fills the study list."""
        if self.pacs_dialog is None:
            from echoviewer.gui.pacs_dialog import PacsDialog

            self.pacs_dialog = PacsDialog(self)
            self.pacs_dialog.retrieved.connect(self.open_retrieved)
        self.pacs_dialog.show()
        self.pacs_dialog.raise_()

    def open_retrieved(self, series: list[RetrievedSeries]) -> None:
        """The retrieved study's folder in the cache in the study list (each file named by its
        series description), its first cine opened."""
        if series:
            labels = {file: (s.description or f"series {n + 1}") + (f" · {k + 1}" if len(s.files) > 1 else "")
                      for n, s in enumerate(series) for k, file in enumerate(s.files)}
            self.study_dock.show()
            self.open_folder(series[0].folder.parent, labels)

    def choose_reference(self) -> None:
        if self.controller.cine is None:
            self.show_error("open a cine first, then its DICOM SEG")
            return
        start = self.controller.cine.path.parent
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a DICOM SEG of this cine", str(start),
                                                "DICOM (*.dcm *.dicom);;All files (*)")
        if chosen:
            self.controller.open_reference(chosen)

    def _reference_changed(self, reference: ReferenceSegmentation | None) -> None:
        self.actions["close_reference"].setEnabled(reference is not None)
        if reference is not None:
            made = "drawn by a reader" if reference.algorithm is None else f"by {reference.algorithm}"
            self.say(f"Reference contour: {reference.label}, {made}, on {len(reference.masks)} frames "
                     "(outlined in green)")

    def _sender(self, node: Node) -> Callable[[], object]:
        return lambda: self.exporter.send_dicom(node)  # Qt passes no argument to a callable that takes none

    def set_pseudonymise(self, on: bool) -> None:
        try:
            Preferences().pseudonymise = on
        except OSError as exc:
            self.controller.data_folder_failed(exc)
            return
        self.say("Exports will name cines by their salted key" if on else "Exports will name cines by their file")

    def _fill_send_menu(self) -> None:
        self.send_menu.clear()
        from echoviewer.pacs import NodeBook

        try:
            nodes = NodeBook().nodes()
        except (OSError, ValueError) as exc:
            self.send_menu.addAction(f"(the PACS list cannot be read: {exc})").setEnabled(False)
            return
        for node in nodes:
            self.send_menu.addAction(f"{node.name}  ({node.address})", self._sender(node))
        if not nodes:
            self.send_menu.addAction("(no PACS yet: File ▸ Open from PACS… ▸ Add…)").setEnabled(False)

    def open_folder(self, folder: str | Path, labels: Mapping[Path, str] | None = None) -> None:
        try:
            count = self.study_list.set_folder(folder, labels)
        except CineLoadError as exc:
            self.show_error(str(exc))
            return
        if count == 0:
            self.show_error(f"{folder}: no cines in this folder (DICOM, AVI/MP4 or NumPy files)")
            return
        self.study_dock.show()
        self.study_list.step(1)  # the first cine

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for path in paths:
            def open_recent(p: Path = path) -> None:  # a def: mypy cannot type a lambda with defaults here
                self.open_path(p)

            self.recent_menu.addAction(path.name, open_recent).setToolTip(str(path))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        if paths[0].is_dir():
            self.open_folder(paths[0])
        else:
            self.open_path(paths[0])

    # ---- models ------------------------------------------------------------------------------
    def _fill_model_box(self) -> None:
        current = self.controller.model_spec
        self.model_box.clear()
        if current not in BUNDLED and current not in self._added_models:
            self._added_models.append(current)
        active = ActiveStudent().get()
        for entry in available_models(extra=self._added_models):
            self.model_box.addItem(entry.label + (" · active student" if entry.spec == active else ""), entry.spec)
            self.model_box.setItemData(self.model_box.count() - 1, str(entry.path), Qt.ItemDataRole.ToolTipRole)
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(current)))

    def _fill_model_menu(self) -> None:
        self._fill_model_box()
        self.model_menu.clear()
        group = QActionGroup(self.model_menu)
        for index in range(self.model_box.count()):
            spec = self.model_box.itemData(index)

            def choose(s: str = spec) -> None:  # a def: mypy cannot type a lambda with defaults here
                self.controller.set_model(s)

            action = self.model_menu.addAction(self.model_box.itemText(index), choose)
            action.setCheckable(True)
            action.setChecked(spec == self.controller.model_spec)
            group.addAction(action)
        self.model_menu.addSeparator()
        self.model_menu.addAction(self.actions["add_model"])
        self.model_menu.addAction(self.actions["disagreement"])
        self.model_menu.addSeparator()
        self.model_menu.addAction(self.actions["distill"])
        self.actions["restore_student"].setEnabled(ActiveStudent().previous() is not None)
        self.model_menu.addAction(self.actions["restore_student"])

    def _model_chosen(self, index: int) -> None:
        spec = self.model_box.itemData(index)
        if spec != self.controller.model_spec:
            self.controller.set_model(spec)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add an ONNX model (its .json model card beside it)",
                                              str(Path.home()), "ONNX models (*.onnx)")
        if path:
            self.controller.set_model(str(Path(path).resolve()))

    def export_list(self, path: str | Path | None = None) -> None:
        """The cohort CSV of the study list (in the background: Esc cancels)."""
        if path is None:
            start = self.study_list.folder or self._last_folder()
            chosen, _ = QFileDialog.getSaveFileName(self, "Export the whole list", str(start / "cohort.csv"),
                                                    "CSV (*.csv)")
            if not chosen:
                return
            path = chosen
        self.cohort.export(Path(path))

    def _list_exported(self, text: str) -> None:
        (self.show_error if text.startswith(("could not", "the study list is empty")) else self.say)(text)

    def _show_reviewed(self, reviewed: bool) -> None:
        with QSignalBlocker(self.actions["reviewed"]):
            self.actions["reviewed"].setChecked(reviewed)

    def choose_reader(self) -> None:
        preferences = Preferences()
        name, ok = QInputDialog.getText(self, "Reader name", "Your name, written into every export "
                                        "(leave empty for none):", text=preferences.reader)
        if ok:
            try:
                preferences.reader = name
            except OSError as exc:
                self.show_error(f"could not save the reader name ({exc}); check the data folder")
                return
            self.say(f"Exports will name the reader: {preferences.reader}" if preferences.reader
                     else "Exports will name no reader")

    def choose_partner(self, path: str | Path | None = None, view: str | None = None) -> None:
        """Pair the open cine with another as the other apical view; asks for the file, and for
        this cine's view when its file does not name it."""
        c = self.controller
        if c.study is None or c.cine is None:
            self.show_error("open a cine first, then pair it with its other apical view")
            return
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "The other apical view of this study",
                                                    str(c.cine.path.parent), OPEN_FILTER)
            if not chosen:
                return
            path = chosen
        if Path(path).resolve() == c.cine.path.resolve():
            self.show_error("a cine cannot be its own partner: choose the other view's file")
            return
        view = view or c.cine.metadata.view or self.partner.view
        if not view:
            view, ok = QInputDialog.getItem(self, "Which view is the open cine?",
                                            f"{c.cine.path.name} is the", ["A4C", "A2C"], 0, False)
            if not ok:
                return
        self.partner.pair_with(path, view)

    def open_wizard(self) -> None:
        """The distillation wizard, beside the viewer (one at a time); where distill, torch or
        onnx are not installed, one line saying what to install instead."""
        from echoviewer.distill_runs import distill_unavailable

        missing = distill_unavailable()
        if missing is not None:
            self.show_error(missing)
            return
        from echoviewer.gui.wizard.wizard import DistillWizard

        if self.wizard is None:
            self.wizard = DistillWizard(lambda: self.controller.cine, self)
            self.wizard.student_installed.connect(self._student_installed)
            self.wizard.finished.connect(self._wizard_closed)
        self.wizard.show()
        self.wizard.raise_()

    def _wizard_closed(self) -> None:
        assert self.wizard is not None  # its own finished signal called this
        self.wizard.deleteLater()
        self.wizard = None

    def _student_installed(self, path: str) -> None:
        self.controller.set_model(path)
        self.say(f"The active student is now {Path(path).stem}; Model ▸ Restore the previous student undoes it")

    def restore_student(self) -> None:
        """Make the student that was active before the current one active again, and use it."""
        active = ActiveStudent()
        previous = active.previous()
        if previous is None:
            self.show_error("There is no previous student to restore")
            return
        active.set(previous)
        self.controller.set_model(previous)
        self.say(f"The active student is {previous if previous in BUNDLED else Path(previous).stem} "
                 "again")

    def _model_changed(self, spec: str) -> None:
        self._fill_model_box()

    # ---- display -----------------------------------------------------------------------------
    def _show_option(self, name: str, _value: object = None) -> None:
        """The View menu and the toolbar show the view options. Widgets are updated with their
        signals blocked; an action's toggle writes the value back, which the options ignore."""
        o = self.options
        if name == "overlay":
            next(a for a in self.overlay_group.actions() if a.data() == o.overlay).setChecked(True)
            with QSignalBlocker(self.overlay_box):
                self.overlay_box.setCurrentText(o.overlay)
        elif name == "opacity":
            with QSignalBlocker(self.opacity_slider):
                self.opacity_slider.setValue(round(o.opacity * 100))
        elif name in ("time_axis", "identifiers", "landmarks", "contour_editing", "burned_labels", "reference",
                      "full_frame"):
            self.actions[name].setChecked(getattr(o, name))

    def _set_disagreement(self, on: bool) -> None:
        if on != self.controller.compare:
            self.controller.set_compare(on)

    def _compare_changed(self, on: bool) -> None:
        """The action and the toolbar's box show the controller's comparison."""
        for control in (self.actions["disagreement"], self.disagreement_box):
            with QSignalBlocker(control):
                control.setChecked(on)

    # ---- state -------------------------------------------------------------------------------
    def _opening(self, path: str) -> None:
        self.playback.pause()
        self.say(f"Opening {Path(path).name}…")

    def _loaded(self, cine) -> None:
        self.setWindowTitle(f"{cine.path.name} — echoviewer")
        try:
            self.recent.add(cine.path)
        except OSError as exc:  # an unwritable data folder: said once, the viewer goes on
            self.controller.data_folder_failed(exc)
        self.study_list.mark_open(str(cine.path))
        self._ready = (f"{cine.path.name}: {cine.n_frames} frames, {cine.width}×{cine.height}, "
                       f"{cine.timing.fps:.1f} fps")
        self.say(self._ready)

    def _playing(self, playing: bool) -> None:
        action = self.actions["play"]
        action.setText("Pause" if playing else "Play")
        action.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay))

    def _busy(self, text: str) -> None:
        self.progress.setVisible(bool(text))
        self.progress.setFormat(text)
        self.progress.setToolTip(text)
        self.say(text or self._ready)

    def say(self, text: str) -> None:
        """A plain status line (replaces an error shown before)."""
        self.message.setStyleSheet("")
        self.message.setText(text)

    def show_error(self, text: str) -> None:
        """One line in the status bar; nothing else changes."""
        self.message.setStyleSheet("color: #b00020; font-weight: bold;")
        self.message.setText(text)

    def _update_edit_actions(self) -> None:
        study = self.controller.study
        undo, redo = (study.undo_step, study.redo_step) if study is not None else (None, None)
        for name, step in (("undo", undo), ("redo", redo)):
            action = self.actions[name]
            action.setEnabled(step is not None)
            action.setText(f"&{name.capitalize()} {step}" if step else f"&{name.capitalize()}")
        self.actions["reset_contour"].setEnabled(bool(study and self.controller.frame in study.contours))
        self.actions["reviewed"].setEnabled(study is not None)
        self._show_reviewed(bool(study and study.reviewed))

    # ---- settings (layout, view options and model, kept between sessions) --------------------
    def _restore_layout(self, settings: QSettings) -> None:
        for key, restore in (("geometry", self.restoreGeometry), ("state", self.restoreState),
                             ("main_splitter", self.main_splitter.restoreState),
                             ("right_splitter", self.right_splitter.restoreState)):
            if isinstance(settings.value(key), QByteArray):
                restore(settings.value(key))

    def save_settings(self) -> None:
        settings = viewer_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("state", self.saveState())
        settings.setValue("main_splitter", self.main_splitter.saveState())
        settings.setValue("right_splitter", self.right_splitter.saveState())
        self.options.save(settings)
        settings.setValue("model", self.controller.model_spec)  # the controller's first_model reads it
        settings.sync()

    def closeEvent(self, event) -> None:
        if self.wizard is not None and self.wizard.running():
            answer = QMessageBox.question(
                self, "A distillation run is going on",
                "Quitting stops the student's training now. It can be resumed later from its last "
                "finished epoch (Distill a new student… offers it). Quit anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        if self.wizard is not None:
            self.wizard.reject()  # stops a run, resumably
        self.save_settings()
        self.playback.pause()
        self.controller.cancel()
        if self.exporter.video_task is not None:
            self.exporter.video_task.cancel()
        event.accept()
