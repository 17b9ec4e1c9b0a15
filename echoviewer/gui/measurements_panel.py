"""Per-beat measurements with mean and SD (the rows ``echoviewer analyze`` writes), and the
analysis engine's quality flags."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QListWidget, QListWidgetItem,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from echoviewer.analysis.biplane import Biplane
from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.measurements import UNIT_KIND
from echoviewer.gui.biplane_partner import BiplanePartner
from echoviewer.gui.controller import StudyController
from echoviewer.study import Picks, Study

# Every measure the CLI reports (measurements.MEASURES), results first so that EF and volumes are
# in view: header and decimals in cm units (pixels get none). Ratios and rates carry their unit
# here; the others get theirs from UNIT_KIND.
HEADERS = {
    "ef_disks_percent": ("EF disks\n%", 1), "edv_disks": ("EDV disks", 1), "esv_disks": ("ESV disks", 1),
    "ef_area_length_percent": ("EF A-L\n%", 1), "edv_area_length": ("EDV A-L", 1),
    "esv_area_length": ("ESV A-L", 1), "fac_percent": ("FAC\n%", 1), "heart_rate_bpm": ("HR\nbpm", 0),
    "ed_area": ("ED area", 2), "es_area": ("ES area", 2), "ed_length": ("ED length", 2),
    "es_length": ("ES length", 2),
}
DISPLAYED = tuple(HEADERS)
UNIT_TEXT = {"cm2": "cm²", "cm": "cm", "mL": "mL", "px2": "px²", "px": "px", "px3": "px³"}
SEVERITY_COLOUR = {"warning": QColor(190, 110, 0), "error": QColor(200, 30, 30)}
UNTRUSTED_COLOUR = QColor(150, 150, 150)
UNTRUSTED_TIP = "Not an apical view (quality flag view_not_apical): this value is not to be trusted"
FIRST_MEASURE_COLUMN = 3


def _cell(value: float | None, decimals: int) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def biplane_text(biplane: Biplane | None, note: str = "") -> str:
    """The biplane line under the table: the pair's mean EDV, ESV and EF, or why there is none."""
    if biplane is None:
        return note or ("Biplane: no A2C or A4C partner of this study "
                        "(Edit ▸ Pair with the other apical view…)")
    summary = biplane.summary

    def stat(name: str, unit: str) -> str:
        mean, sd = summary[name]["mean"], summary[name]["sd"]
        return "—" if mean is None else f"{mean:.1f}" + (f" ± {sd:.1f}" if sd is not None else "") + f" {unit}"

    names = f"{Path(biplane.four_chamber.file).name} (A4C) + {Path(biplane.two_chamber.file).name} (A2C)"
    warnings = [f.message for f in biplane.flags if f.severity == "warning"]
    return (f"<b>Biplane</b> (method of disks, {len(biplane.beats)} beat pair(s)) · {names}: "
            f"<b>EF {stat('ef_percent', '%')}</b> · EDV {stat('edv', 'mL')} · ESV {stat('esv', 'mL')}"
            + (f"<br><span style='color:{SEVERITY_COLOUR['warning'].name()}'>⚠ {'; '.join(warnings)}</span>"
               if warnings else ""))


class MeasurementsPanel(QWidget):
    def __init__(self, controller: StudyController, partner: BiplanePartner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.partner = controller, partner
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellDoubleClicked.connect(self._jump)
        self.heading = QLabel()
        self.flags = QListWidget()
        self.flags.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.flags.setMaximumHeight(70)
        self.flags.setWordWrap(True)
        self.flags.itemDoubleClicked.connect(self._jump_flag)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        self.biplane = QLabel()
        self.biplane.setObjectName("biplane")
        self.biplane.setWordWrap(True)
        layout.addWidget(self.biplane)
        layout.addWidget(QLabel("Quality flags"))
        layout.addWidget(self.flags)
        controller.cine_loaded.connect(lambda _cine: self._clear())
        controller.study_changed.connect(self._set_study)
        self._partner_note = ""
        partner.changed.connect(lambda biplane: self.biplane.setText(biplane_text(biplane, self._partner_note)))
        partner.note.connect(self._noted)

    def _noted(self, text: str) -> None:
        self._partner_note = "" if text.startswith("Biplane with") else text
        self.biplane.setText(biplane_text(self.partner.biplane, self._partner_note))

    def _clear(self) -> None:
        self._partner_note = ""
        self.table.setRowCount(0)
        self.flags.clear()
        self.heading.setText("")

    def _set_study(self, study: Study) -> None:
        analysis = study.analysis
        self._fill_table(analysis, study.picks)
        self._fill_flags(analysis)
        edited = " · picks edited by you" if study.user_edited else ""
        if study.contours:
            edited += f" · your contour on frame{'s' if len(study.contours) > 1 else ''} " + \
                ", ".join(map(str, study.contours))
        compared = ""
        if analysis.comparison is not None:
            assert analysis.comparison_dice is not None  # analyze() computes it with the comparison
            compared = (f" · vs {analysis.comparison.model.name}: mean Dice "
                        f"{float(analysis.comparison_dice.mean()):.3f}")
        view = (f" · <b style='color:{SEVERITY_COLOUR['warning'].name()}'>⚠ not an apical view: EF and volumes "
                "not to be trusted</b>" if analysis.view.flagged else "")
        self.heading.setText(f"<b>{len(analysis.beats)} beat(s)</b> · volumes {analysis.volume_method}"
                             f" · model {analysis.segmentation.model.name}"
                             f"{compared}{edited}{view} · double-click a row to go to its ED")
        self.heading.setWordWrap(True)

    def _fill_table(self, analysis: CineAnalysis, picks: Picks) -> None:
        units = analysis.units

        unit = {name: units[UNIT_KIND[name]] for name in DISPLAYED if name in UNIT_KIND}
        decimals = {name: 0 if unit.get(name, "").startswith("px") else HEADERS[name][1]
                    for name in DISPLAYED}
        headers = ["Beat", "ED\nframe", "ES\nframe"] + [
            HEADERS[name][0] + (f"\n{UNIT_TEXT[unit[name]]}" if name in unit else "") for name in DISPLAYED]
        beats, summary = analysis.beats, analysis.summary
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(beats) + 2)
        for row, beat in enumerate(beats):
            ed_mark = "*" if beat.ed_frame in picks.edited_ed else ""
            es_mark = "*" if beat.es_frame in picks.edited_es else ""
            values = [str(row + 1), f"{beat.ed_frame}{ed_mark}", f"{beat.es_frame}{es_mark}"]
            values += [_cell(getattr(beat, name), decimals[name]) for name in DISPLAYED]
            self._set_row(row, values, data=beat.ed_frame, untrusted=analysis.view.flagged)
        for offset, statistic in enumerate(("mean", "sd")):
            values = [statistic, "", ""] + [_cell(summary[name][statistic], decimals[name])
                                            for name in DISPLAYED]
            self._set_row(len(beats) + offset, values, bold=True, untrusted=analysis.view.flagged)

    def _set_row(self, row: int, values: list[str], data: int | None = None, bold: bool = False,
                 untrusted: bool = False) -> None:
        for column, text in enumerate(values):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if untrusted and column >= FIRST_MEASURE_COLUMN:
                item.setForeground(QBrush(UNTRUSTED_COLOUR))
                item.setToolTip(UNTRUSTED_TIP)
            if data is not None:
                item.setData(Qt.ItemDataRole.UserRole, data)
            if bold:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.table.setItem(row, column, item)

    def _fill_flags(self, analysis: CineAnalysis) -> None:
        self.flags.clear()
        for flag in analysis.flags:
            item = QListWidgetItem(f"{'⚠' if flag.severity != 'info' else 'ℹ'} {flag.code}: {flag.message}")
            item.setToolTip(flag.message)
            if flag.frames:
                item.setData(Qt.ItemDataRole.UserRole, flag.frames[0])
            if flag.severity in SEVERITY_COLOUR:
                item.setForeground(QBrush(SEVERITY_COLOUR[flag.severity]))
            self.flags.addItem(item)
        if not analysis.flags:
            self.flags.addItem("✓ no quality flags")

    def _jump(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        frame = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if frame is not None:
            self.controller.set_frame(int(frame))

    def _jump_flag(self, item: QListWidgetItem) -> None:
        frame = item.data(Qt.ItemDataRole.UserRole)
        if frame is not None:
            self.controller.set_frame(int(frame))
