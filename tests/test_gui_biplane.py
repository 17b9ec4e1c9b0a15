"""Biplane volumes in the viewer: the other apical view of the study found and analysed in the
background, or paired by hand; the values follow the user's edits and go into the exports."""

from __future__ import annotations

import csv
import json
import shutil

import pydicom
import pytest
from pydicom.dataset import Dataset

from echoviewer.resources import SAMPLE_CINE
from tests import test_gui
from tests.test_gui import TIMEOUT_MS, idle, open_and_wait

app, make_window, window = test_gui.app, test_gui.make_window, test_gui.window


def a2c_copy(path):
    """The sample (same study, same pixels) saved as the study's two-chamber view."""
    ds = pydicom.dcmread(SAMPLE_CINE)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "0", "99TEST", "Apical two chamber"
    ds.ViewCodeSequence = [code]
    ds.save_as(path)
    return path


def paired(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.partner.biplane is not None and not window.partner.working,
                    timeout=TIMEOUT_MS)


@pytest.fixture
def study_folder(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(SAMPLE_CINE, folder / "sample_a4c.dcm")
    a2c_copy(folder / "second view.dcm")
    return folder


def test_the_a2c_of_the_study_is_found_and_biplane_follows_the_edits(qtbot, window, study_folder, tmp_path):
    window.open_folder(study_folder)  # opens the first cine: sample_a4c.dcm
    idle(qtbot, window)
    assert window.controller.cine.path.name == "sample_a4c.dcm"
    paired(qtbot, window)
    biplane = window.partner.biplane
    assert biplane.two_chamber.file == str(study_folder / "second view.dcm") and biplane.two_chamber.view == "A2C"
    single = window.controller.study.analysis.beats
    # the same pixels in both views: biplane is the single-plane method of disks
    assert biplane.beats[0].edv == pytest.approx(single[0].edv_disks, rel=1e-3)
    text = window.measurements.biplane.text()
    assert "Biplane" in text and f"EF {biplane.summary['ef_percent']['mean']:.1f}" in text
    assert "volumes single-plane A4C" in window.measurements.heading.text()

    window.controller.move_event("ED", single[0].ed_frame, single[0].ed_frame + 2)
    moved = window.partner.biplane
    assert moved is not biplane and moved.beats[0].ed_frames == (single[0].ed_frame + 2, single[0].ed_frame)
    assert moved.beats[0].edv != biplane.beats[0].edv

    assert window.exporter.export_csv(tmp_path / "out.csv")
    with open(tmp_path / "out_biplane.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["a4c_ed_frame"] == str(single[0].ed_frame + 2) and rows[-2]["pair"] == "mean"
    assert window.exporter.export_json(tmp_path / "out.json")
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert document["biplane"][0]["two_chamber"] == str(study_folder / "second view.dcm")
    # provenance: the moved ED is the user's, the model's own pick of that beat beside it
    cine, = document["cines"]
    moved_pick, = [p for p in cine["picks"] if p["by"] == "user"]
    assert moved_pick == {"event": "ED", "frame": single[0].ed_frame + 2, "by": "user",
                          "model_frame": single[0].ed_frame}
    assert cine["provenance"]["study_key"] and cine["provenance"]["reader"] is None

    # a model switch analyses the partner again with the new model
    window.controller.set_model("teacher")
    idle(qtbot, window)
    paired(qtbot, window)
    assert window.partner._spec == "teacher"
    window.actions["unpair_views"].trigger()
    assert window.partner.biplane is None and "no A2C or A4C partner" in window.measurements.biplane.text()


def test_pairing_by_hand_and_refusals(qtbot, window, tmp_path):
    plain = tmp_path / "clip.dcm"  # names no view
    ds = pydicom.dcmread(SAMPLE_CINE)
    ds.StudyInstanceUID = pydicom.uid.generate_uid()  # another study: nothing is found by itself
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()  # its own edits
    ds.save_as(plain)
    partner = a2c_copy(tmp_path / "other.dcm")
    window.choose_partner(partner)  # nothing open yet
    assert "open a cine first" in test_gui.one_line_error(window)
    open_and_wait(qtbot, window, plain)
    assert window.partner.biplane is None and not window.partner.working
    window.choose_partner(plain, "A4C")
    assert "its own partner" in test_gui.one_line_error(window)
    window.choose_partner(partner, "A4C")
    paired(qtbot, window)
    assert window.partner.view == "A4C" and window.partner.biplane.four_chamber.file == str(plain)
    # the pair is saved with the cine's edits: it comes back when the cine is opened again
    open_and_wait(qtbot, window, SAMPLE_CINE)
    assert window.partner.biplane is None and not window.partner.working
    open_and_wait(qtbot, window, plain)
    paired(qtbot, window)
    assert window.partner.biplane.two_chamber.file == str(partner.resolve())
    window.actions["unpair_views"].trigger()  # forgotten too
    open_and_wait(qtbot, window, plain)
    qtbot.wait(200)
    assert window.partner.biplane is None and not window.partner.working
    window.choose_partner(partner, "A4C")
    paired(qtbot, window)
    # a partner that cannot be read: one line, no biplane, the open study untouched
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 50)
    study = window.controller.study
    window.choose_partner(broken, "A4C")
    qtbot.waitUntil(lambda: not window.partner.working, timeout=TIMEOUT_MS)
    assert window.partner.biplane is None and window.controller.study is study
    assert "could not be analysed" in window.measurements.biplane.text()
