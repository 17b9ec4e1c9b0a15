"""File ▸ Open from PACS…: choose a node, search its studies, look into their series and retrieve
one into the local cache; the window then lists what arrived in the study list.

All network work (echo, find, retrieve) runs as :mod:`tasks` with progress and cancel, and every
failure is one red line in the dialog (:class:`~echoviewer.pacs.PacsError` says what is wrong and
what to do). The nodes are the preferences' (:class:`~echoviewer.pacs.NodeBook`); credentials are
typed into a password field and never shown again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QProgressBar, QPushButton, QSpinBox, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from echoviewer.gui.tasks import Task, start
from echoviewer.pacs import Node, NodeBook, RetrievedSeries, SeriesRecord, StudyQuery, StudyRecord, open_client

STUDY_COLUMNS = ("Date", "Patient ID", "Patient", "Description", "Accession", "Series / images")
_UID = Qt.ItemDataRole.UserRole          # an item's study (or series) UID
_LOADED = Qt.ItemDataRole.UserRole + 1   # a study item whose series were asked for


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if len(value) == 8 else value


class NodeDialog(QDialog):
    """A new PACS node: DIMSE (host, port, AE titles) or DICOMweb (URL, optional user)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a PACS node")
        self.name = QLineEdit()
        self.protocol = QComboBox()
        self.protocol.addItems(["DIMSE (C-FIND / C-GET / C-STORE)", "DICOMweb (QIDO / WADO / STOW)"])
        self.host, self.called_aet, self.calling_aet = QLineEdit(), QLineEdit(), QLineEdit("ECHOVIEWER")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.url, self.username, self.password = QLineEdit(), QLineEdit(), QLineEdit()
        self.url.setPlaceholderText("http://pacs.example.org:8042/dicom-web")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c0392b")
        form = QFormLayout()
        for label, widget in (("Name", self.name), ("Protocol", self.protocol), ("Host", self.host),
                              ("Port", self.port), ("PACS AE title", self.called_aet),
                              ("Our AE title", self.calling_aet), ("URL", self.url), ("User", self.username),
                              ("Password", self.password)):
            form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.protocol.currentIndexChanged.connect(self._show_fields)
        self._show_fields()
        self.node: Node | None = None

    def _dimse(self) -> bool:
        return self.protocol.currentIndex() == 0

    def _show_fields(self) -> None:
        for widget in (self.host, self.port, self.called_aet, self.calling_aet):
            widget.setEnabled(self._dimse())
        for widget in (self.url, self.username, self.password):
            widget.setEnabled(not self._dimse())

    def _accept(self) -> None:
        try:
            if self._dimse():
                self.node = Node(self.name.text().strip(), "dimse", host=self.host.text().strip(),
                                 port=self.port.value(), called_aet=self.called_aet.text().strip(),
                                 calling_aet=self.calling_aet.text().strip())
            else:
                self.node = Node(self.name.text().strip(), "dicomweb", url=self.url.text().strip(),
                                 username=self.username.text().strip(), password=self.password.text())
        except ValueError as exc:
            self.problem.setText(str(exc))
            return
        self.accept()


class PacsDialog(QDialog):
    """Search a PACS and retrieve a study or a series; ``retrieved`` carries what arrived."""

    retrieved = Signal(object)  # list[RetrievedSeries], finished in the cache

    def __init__(self, parent: QWidget | None = None, book: NodeBook | None = None,
                 cache_root: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.resize(900, 560)
        self.book = book if book is not None else NodeBook()
        self.cache_root = cache_root
        self.task: Task | None = None

        self.nodes = QComboBox()
        self.nodes.setMinimumWidth(260)
        add, remove, self.echo_button = QPushButton("Add…"), QPushButton("Remove"), QPushButton("Test connection")
        add.clicked.connect(self.add_node)
        remove.clicked.connect(self.remove_node)
        self.echo_button.clicked.connect(self.echo)
        node_row = QHBoxLayout()
        node_row.addWidget(QLabel("PACS"))
        node_row.addWidget(self.nodes, 1)
        for button in (add, remove, self.echo_button):
            node_row.addWidget(button)

        self.patient_id, self.patient_name, self.accession = QLineEdit(), QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("DOE^J*  (wildcards * and ?)")
        self.date_from, self.date_to = QLineEdit(), QLineEdit()
        for field in (self.date_from, self.date_to):
            field.setPlaceholderText("YYYYMMDD")
            field.setMaxLength(8)
        self.modality = QLineEdit("US")
        query = QFormLayout()
        query.addRow("Patient ID", self.patient_id)
        query.addRow("Patient name", self.patient_name)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        query.addRow("Study date", dates)
        query.addRow("Modality", self.modality)
        query.addRow("Accession", self.accession)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)

        self.results = QTreeWidget()
        self.results.setHeaderLabels(list(STUDY_COLUMNS))
        self.results.setRootIsDecorated(True)
        self.results.itemExpanded.connect(self._expanded)
        self.results.itemDoubleClicked.connect(lambda *_: self.retrieve())
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel("Choose a PACS and search")
        self.message.setWordWrap(True)
        self.retrieve_button, self.cancel_button = QPushButton("Retrieve and open"), QPushButton("Cancel")
        self.retrieve_button.setToolTip("The selected study, or the selected series, into the local cache")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(node_row)
        layout.addLayout(query)
        layout.addWidget(self.search_button, alignment=Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.message)
        layout.addLayout(bottom)
        self._fill_nodes()

    # ---- nodes -------------------------------------------------------------------------------
    def _fill_nodes(self, chosen: str = "") -> None:
        self.nodes.clear()
        for node in self.book.nodes():
            self.nodes.addItem(f"{node.name}  ({node.address})", node.name)
        if chosen:
            self.nodes.setCurrentIndex(max(0, self.nodes.findData(chosen)))
        if not self.nodes.count():
            self.say("No PACS yet: Add… one (DIMSE: host, port and AE title; or a DICOMweb URL)")

    def node(self) -> Node | None:
        name = self.nodes.currentData()
        if not name:
            self.say("No PACS chosen: Add… one first", error=True)
            return None
        return self.book.get(name)

    def add_node(self) -> None:
        dialog = NodeDialog(self)
        if dialog.exec() and dialog.node is not None:
            self.save_node(dialog.node)

    def save_node(self, node: Node) -> None:
        try:
            self.book.add(node)
        except (OSError, ValueError) as exc:
            self.say(f"could not save the node: {exc}", error=True)
            return
        self._fill_nodes(node.name)
        self.say(f"Saved {node.name}")

    def remove_node(self) -> None:
        name = self.nodes.currentData()
        if name and QMessageBox.question(self, "Remove a PACS", f"Remove {name} from the list?") \
                == QMessageBox.StandardButton.Yes:
            self.book.remove(name)
            self._fill_nodes()

    # ---- work --------------------------------------------------------------------------------
    def say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c0392b" if error else "")
        self.message.setText(text)

    def _run(self, message: str, work: Callable[[Task], object], done: Callable[[object], None],
             progress: bool = False) -> None:
        """One network task at a time; a failure is one red line."""
        self.cancel()
        task = Task(work)
        self.task = task

        def finished(result: object) -> None:
            if task is self.task:
                self._idle()
                done(result)

        def failed(text: str) -> None:
            if task is self.task:
                self._idle()
                self.say(text, error=True)

        def advanced(count: int, total: int) -> None:
            if task is self.task:
                self.progress.setRange(0, max(total, 1))
                self.progress.setValue(count)
                self.say(f"{message} {count} of {total} images")

        task.signals.done.connect(finished)
        task.signals.failed.connect(failed)
        task.signals.progress.connect(advanced)
        self.say(message)
        self.progress.setVisible(progress)
        self.progress.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        start(task)

    def _idle(self) -> None:
        self.task = None
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(False)

    def cancel(self) -> None:
        """Stop the running search or retrieve; a retrieve cut short leaves nothing in the cache."""
        if self.task is not None:
            self.task.cancel()
            self._idle()
            self.say("Cancelled")

    def echo(self) -> None:
        node = self.node()
        if node is not None:
            def work(_task: Task) -> None:
                with open_client(node) as client:
                    client.echo()
            self._run(f"Testing {node.name}…", work, lambda _: self.say(f"{node.name} answers"))

    def query(self) -> StudyQuery | None:
        try:
            return StudyQuery(patient_id=self.patient_id.text().strip(), patient_name=self.patient_name.text().strip(),
                              date_from=self.date_from.text().strip(), date_to=self.date_to.text().strip(),
                              modality=self.modality.text().strip().upper(), accession=self.accession.text().strip())
        except ValueError as exc:
            self.say(str(exc), error=True)
            return None

    def search(self) -> None:
        node, query = self.node(), self.query()
        if node is None or query is None:
            return

        def work(_task: Task) -> list[StudyRecord]:
            with open_client(node) as client:
                return client.find_studies(query)

        self._run(f"Searching {node.name}…", work, self._show_studies)

    def _show_studies(self, studies: object) -> None:
        self.results.clear()
        assert isinstance(studies, list)
        for study in studies:
            counts = f"{study.n_series if study.n_series is not None else '?'} / " \
                     f"{study.n_instances if study.n_instances is not None else '?'}"
            item = QTreeWidgetItem([_date(study.date), study.patient_id, study.patient_name, study.description,
                                    study.accession, counts])
            item.setData(0, _UID, study.study_uid)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.results.addTopLevelItem(item)
        for column in range(len(STUDY_COLUMNS)):
            self.results.resizeColumnToContents(column)
        self.say(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found"
                 + ("; expand one to see its series" if studies else ": widen the search"))

    def _expanded(self, item: QTreeWidgetItem) -> None:
        """A study's series, asked for the first time it is opened."""
        node = self.node()
        if item.parent() is not None or item.data(0, _LOADED) or node is None:
            return
        item.setData(0, _LOADED, True)
        study_uid = item.data(0, _UID)

        def work(_task: Task) -> list[SeriesRecord]:
            with open_client(node) as client:
                return client.find_series(study_uid)

        def show(series: object) -> None:
            assert isinstance(series, list)
            for record in series:
                child = QTreeWidgetItem(["", "", record.modality, record.description or "(no description)", "",
                                         f"{record.n_instances} images, {record.n_frames} frames"])
                child.setData(0, _UID, record.series_uid)
                item.addChild(child)
            self.say(f"{len(series)} series in this study")

        self._run("Listing the series…", work, show)

    def retrieve(self) -> None:
        """The selected series (or the whole selected study) into the cache, then ``retrieved``."""
        node, item = self.node(), self.results.currentItem()
        if node is None:
            return
        if item is None:
            self.say("Select a study or a series first", error=True)
            return
        parent = item.parent()
        study_uid = (parent or item).data(0, _UID)
        series_uid = item.data(0, _UID) if parent is not None else None
        cache_root = self.cache_root

        def work(task: Task) -> list[RetrievedSeries]:
            with open_client(node) as client:
                return client.retrieve(study_uid, series_uid, cache_root, progress=task.progress,
                                       cancelled=task.cancelled)

        def done(series: object) -> None:
            assert isinstance(series, list)
            frames = sum(s.n_frames for s in series)
            self.say(f"Retrieved {len(series)} series ({frames} frames)")
            self.retrieved.emit(series)

        self._run("Retrieving…", work, done, progress=True)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.cancel()
        super().closeEvent(event)
