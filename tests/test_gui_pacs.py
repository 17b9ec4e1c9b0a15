"""The hospital side in the viewer, against a real Orthanc: File ▸ Open from PACS searches,
lists series and retrieves a study into the study list; Export ▸ DICOM SEG and SR writes the
results, Send… stores them in the PACS, and a SEG opened for the cine is outlined as its
reference contour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from echoviewer.analysis.overlay import REFERENCE_COLOUR
from echoviewer.dicom_results import read_seg
from echoviewer.io import load_cine
from echoviewer.pacs import Node, NodeBook, open_client
from echoviewer.resources import SAMPLE_CINE
from tests import test_gui
from tests.orthanc_server import free_port
from tests.test_gui import TIMEOUT_MS, idle, open_and_wait

app, make_window, window = test_gui.app, test_gui.make_window, test_gui.window


def _patient_cine(folder: Path, patient_id: str) -> Path:
    """The bundled sample as another patient's study (its own UIDs), as a scanner would send it."""
    ds = pydicom.dcmread(SAMPLE_CINE)
    ds.PatientID, ds.PatientName, ds.AccessionNumber = patient_id, "VIEWER^TEST", patient_id[-8:]
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDate, ds.SeriesDescription = "20261201", "apical 4ch"
    path = folder / f"{patient_id}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _dimse(orthanc) -> Node:
    return Node("orthanc", "dimse", host="127.0.0.1", port=orthanc.dicom_port, called_aet=orthanc.aet)


@pytest.fixture
def stored(orthanc, tmp_path) -> tuple[Path, str]:
    """A cine of a new patient, stored in the PACS; its path and patient ID."""
    patient_id = f"GUI{generate_uid()[-10:]}"
    path = _patient_cine(tmp_path, patient_id)
    with open_client(_dimse(orthanc)) as client:
        assert client.store([path]) == 1
    return path, patient_id


def test_search_a_pacs_and_open_what_it_retrieves(qtbot, window, orthanc, stored) -> None:
    path, patient_id = stored
    window.actions["open_pacs"].trigger()
    dialog = window.pacs_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.save_node(_dimse(orthanc))
    assert dialog.nodes.currentData() == "orthanc"
    dialog.patient_id.setText(patient_id)
    dialog.search()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=TIMEOUT_MS)
    assert dialog.results.topLevelItemCount() == 1, dialog.message.text()
    study = dialog.results.topLevelItem(0)
    assert study.text(1) == patient_id and study.text(0) == "2026-12-01"
    study.setExpanded(True)
    qtbot.waitUntil(lambda: study.childCount() == 1, timeout=TIMEOUT_MS)
    assert study.child(0).text(3) == "apical 4ch"
    assert study.child(0).text(5) == f"1 images, {load_cine(path).n_frames} frames"
    dialog.results.setCurrentItem(study.child(0))
    dialog.retrieve()
    qtbot.waitUntil(lambda: window.study_list.count() == 1 and window.controller.study is not None,
                    timeout=TIMEOUT_MS)
    idle(qtbot, window)
    assert "Retrieved 1 series" in dialog.message.text()
    opened = window.controller.cine
    assert patient_id not in str(opened.path)  # the cache names no patient
    assert np.array_equal(opened.frames, load_cine(path).frames)
    assert window.study_dock.isVisible()
    assert window.study_list.item(0).text(0) == "apical 4ch"  # the series, not the cache's hashed name


def test_a_pacs_that_is_down_is_one_line_and_the_dialog_stays_usable(qtbot, window, orthanc) -> None:
    window.open_pacs()
    dialog = window.pacs_dialog
    dialog.save_node(Node("down", "dimse", host="127.0.0.1", port=free_port(), called_aet="ORTHANC"))
    dialog.search()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=TIMEOUT_MS)
    text = dialog.message.text()
    assert "\n" not in text and "refused" in text, text
    dialog.save_node(_dimse(orthanc))  # the right AE title: the next search works
    dialog.search()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=TIMEOUT_MS)
    assert "found" in dialog.message.text()


def test_seg_and_sr_written_sent_and_the_seg_shown_as_reference(qtbot, window, orthanc, stored, tmp_path) -> None:
    path, patient_id = stored
    open_and_wait(qtbot, window, path)
    out = tmp_path / "results"
    out.mkdir()
    task = window.exporter.export_dicom(out)
    qtbot.waitUntil(lambda: task.finished.is_set(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "Saved" in window.message.text(), timeout=TIMEOUT_MS)
    seg, sr = out / f"{path.stem}_seg.dcm", out / f"{path.stem}_sr.dcm"
    assert seg.is_file() and sr.is_file()
    assert pydicom.dcmread(sr).PatientID == patient_id  # filed under the source's patient

    window.open_path(seg)  # File ▸ Open (or a drop) of a SEG over its cine: the reference contour
    qtbot.waitUntil(lambda: window.controller.reference is not None, timeout=TIMEOUT_MS)
    assert window.controller.cine.path == path  # the cine stays open
    assert window.actions["close_reference"].isEnabled()
    c = window.controller
    assert set(c.reference.masks) == set(range(c.n_frames))
    picture = window.cine_view.rendered(c.frame)
    assert np.all(picture == REFERENCE_COLOUR, axis=-1).any()  # the gold outline is drawn
    assert "reference</span> Dice 1.00" in window.cine_view.info.text()  # the model's own masks
    window.actions["reference"].trigger()  # View ▸ hide the reference
    assert not np.all(window.cine_view.rendered(c.frame) == REFERENCE_COLOUR, axis=-1).any()
    window.actions["close_reference"].trigger()
    assert c.reference is None and not window.actions["close_reference"].isEnabled()

    NodeBook().add(Node("web", "dicomweb", url=orthanc.dicomweb_url, username=orthanc.user,
                        password=orthanc.password))
    window._fill_send_menu()  # Export ▸ Send SEG and SR to a PACS ▸ web
    (send,) = [a for a in window.send_menu.actions() if a.text().startswith("web")]
    send.trigger()
    qtbot.waitUntil(lambda: window.exporter.dicom_task.finished.is_set(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "Sent 2 DICOM objects to web" in window.message.text(), timeout=TIMEOUT_MS)
    with open_client(_dimse(orthanc)) as client:
        series = client.find_series(pydicom.dcmread(path).StudyInstanceUID)
    assert sorted(s.modality for s in series) == ["SEG", "SR", "US"]


def test_a_seg_of_another_cine_is_refused_in_one_line(qtbot, window, tmp_path) -> None:
    open_and_wait(qtbot, window, SAMPLE_CINE)
    out = tmp_path / "results"
    out.mkdir()
    task = window.exporter.export_dicom(out)
    qtbot.waitUntil(lambda: task.finished.is_set(), timeout=TIMEOUT_MS)
    seg = out / f"{SAMPLE_CINE.stem}_seg.dcm"
    qtbot.waitUntil(seg.is_file, timeout=TIMEOUT_MS)
    assert read_seg(seg).masks
    other = _patient_cine(tmp_path, "OTHER1")  # the same pixels, another instance
    open_and_wait(qtbot, window, other)
    window.controller.open_reference(seg)
    qtbot.waitUntil(lambda: not window.controller.working, timeout=TIMEOUT_MS)
    assert window.controller.reference is None
    text = window.message.text()
    assert "\n" not in text and "another" in text.lower(), text


def test_an_export_over_the_open_cine_is_refused_and_the_cine_kept(qtbot, window, tmp_path) -> None:
    cine = tmp_path / "cine.dcm"
    cine.write_bytes(SAMPLE_CINE.read_bytes())
    open_and_wait(qtbot, window, cine)
    for export in (window.exporter.export_json, window.exporter.export_csv, window.exporter.export_masks,
                   window.exporter.export_figure):
        assert not export(cine)
        assert "is the open cine" in window.message.text()
    assert cine.read_bytes() == SAMPLE_CINE.read_bytes()
