"""The study list for cohort review: status, EF and heart rate per cine, the reviewed tick saved with
the edits, failed files marked and skipped by Page Up / Down, and the whole list as one CSV."""

from __future__ import annotations

import csv
import shutil

import pytest
from PySide6.QtCore import QPoint, Qt

from echoviewer.gui.study_list import EF, FILE, HR, REVIEWED, STATUS
from echoviewer.resources import SAMPLE_CINE
from echoviewer.user_data import EditStore, path_identity
from tests import test_gui
from tests.helpers import moving_frames, write_dicom
from tests.test_gui import TIMEOUT_MS, idle, key

app, make_window, window = test_gui.app, test_gui.make_window, test_gui.window


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "cohort"
    folder.mkdir()
    shutil.copyfile(SAMPLE_CINE, folder / "a_sample.dcm")
    (folder / "b_damaged.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI" + b"\xff" * 64)
    write_dicom(folder / "c_small.dcm", moving_frames(12, 96, 128, seed=1), fps=25.0)
    return folder


def row(window, index: int) -> dict[str, str]:
    item = window.study_list.item(index)
    return {"file": item.text(FILE), "status": item.text(STATUS), "ef": item.text(EF), "hr": item.text(HR),
            "reviewed": item.checkState(REVIEWED) == Qt.CheckState.Checked, "tip": item.toolTip(STATUS)}


def test_status_ef_and_failures_and_page_keys_skip_failed_files(qtbot, window, folder) -> None:
    c = window.controller
    window.open_folder(folder)
    idle(qtbot, window)
    assert [row(window, i)["file"] for i in range(3)] == ["a_sample.dcm", "b_damaged.dcm", "c_small.dcm"]
    first = row(window, 0)
    ef = c.study.analysis.summary["ef_disks_percent"]["mean"]
    assert first["status"] == "analysed" and first["ef"] == f"{ef:.0f}" and first["hr"] != ""
    assert row(window, 1)["status"] == "" and row(window, 1)["ef"] == ""  # not opened yet

    key(qtbot, window, Qt.Key.Key_PageDown)  # the damaged file: marked with its reason
    qtbot.waitUntil(lambda: row(window, 1)["status"] == "failed", timeout=TIMEOUT_MS)
    assert "could not be opened: b_damaged.dcm" in row(window, 1)["tip"]
    assert c.cine.path.name == "a_sample.dcm"  # the open study stays
    key(qtbot, window, Qt.Key.Key_PageDown)
    idle(qtbot, window)
    assert c.cine.path.name == "c_small.dcm" and window.study_list.currentRow() == 2
    key(qtbot, window, Qt.Key.Key_PageUp)  # past the failed file
    idle(qtbot, window)
    assert c.cine.path.name == "a_sample.dcm" and window.study_list.currentRow() == 0


def test_the_reviewed_tick_is_saved_and_a_new_window_reads_it_and_the_edits(qtbot, make_window, folder,
                                                                            tmp_path) -> None:
    window = make_window()
    c = window.controller
    window.open_folder(folder)
    idle(qtbot, window)
    key(qtbot, window, Qt.Key.Key_R)  # Edit ▸ Mark this cine reviewed
    assert c.study.reviewed and window.actions["reviewed"].isChecked()
    assert row(window, 0)["status"] == "reviewed" and row(window, 0)["reviewed"]
    assert EditStore().load(path_identity(folder / "a_sample.dcm")).reviewed
    # a click on another cine's tick does nothing but say why
    item = window.study_list.item(2)
    rect = window.study_list.visualItemRect(item)
    tick = QPoint(window.study_list.header().sectionPosition(REVIEWED) + 10, rect.center().y())
    qtbot.mouseClick(window.study_list.viewport(), Qt.MouseButton.LeftButton, pos=tick)
    assert not row(window, 2)["reviewed"] and "open c_small.dcm to review it" in window.message.text()
    # edit the small cine's picks
    window.study_list.step(1)  # the damaged file, not known to fail yet: it is tried, and fails
    qtbot.waitUntil(lambda: not c.working, timeout=TIMEOUT_MS)
    window.study_list.step(1)  # now past it
    idle(qtbot, window)
    assert c.cine.path.name == "c_small.dcm"
    c.set_frame(next(f for f in range(c.n_frames) if c.study.event_at(f) is None))
    c.add_here("ED")
    assert row(window, 2)["status"] == "edited"

    again = make_window()  # the app started again: the list shows what was saved before opening
    again.open_folder(folder)
    qtbot.waitUntil(lambda: row(again, 2)["status"] == "edited", timeout=TIMEOUT_MS)
    assert row(again, 0)["reviewed"] and row(again, 0)["status"] == "reviewed"
    idle(qtbot, again)
    assert again.controller.study.reviewed and again.actions["reviewed"].isChecked()
    key(qtbot, again, Qt.Key.Key_R)  # unticked, and saved so
    assert not EditStore().load(path_identity(folder / "a_sample.dcm")).reviewed

    # the whole list as one CSV: each cine's beats with status and tick, the failed file's reason
    out = tmp_path / "cohort.csv"
    again.export_list(out)
    qtbot.waitUntil(lambda: again.cohort.export_task is None, timeout=TIMEOUT_MS)
    assert f"Saved {out}: 2 cine(s), 1 failed" in again.message.text()
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_file = {}
    for line in rows:
        by_file.setdefault(line["file"].rsplit("/", 1)[-1], []).append(line)
    assert set(by_file) == {"a_sample.dcm", "b_damaged.dcm", "c_small.dcm"}
    sample = by_file["a_sample.dcm"]
    assert [r["beat"] for r in sample] == ["1", "2", "mean", "sd"]
    assert {r["status"] for r in sample} == {"analysed"} and {r["reviewed"] for r in sample} == {"False"}
    assert {r["status"] for r in by_file["c_small.dcm"]} == {"edited"}
    failed, = by_file["b_damaged.dcm"]
    assert failed["status"] == "failed" and "b_damaged.dcm" in failed["error"]
    assert float(sample[2]["ef_disks_percent"]) == pytest.approx(
        again.controller.study.analysis.summary["ef_disks_percent"]["mean"], abs=1e-3)
    assert sample[0]["study_key"] and sample[0]["app"].startswith("echoviewer ")


def test_a_system_folder_is_refused_and_the_list_stays(qtbot, window, folder) -> None:
    window.open_folder(folder)
    idle(qtbot, window)
    window.open_folder("/proc")  # walking it would never end
    assert "system's virtual folders" in test_gui.one_line_error(window)
    assert window.study_list.count() == 3 and window.study_list.folder == folder
