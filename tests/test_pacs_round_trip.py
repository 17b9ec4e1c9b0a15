"""The hospital round trip, as a researcher runs it from the command line against a real Orthanc:
store real vendor and synthetic cines, find them, retrieve them, analyse them, send SEG and SR
back, find those, retrieve them over the other protocol and read them with highdicom: their
values are those of ``echoviewer analyze``'s JSON."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from echoviewer.cli import main
from echoviewer.dicom_results import read_seg
from echoviewer.io import load_cine
from tests.test_dicom_sr import groups, numbers
from tests.test_gui_pacs import _patient_cine

EF_A4C, DISKS, MEAN = "79993-2", "125208", "373098007"


def run(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main([*map(str, args)])
    return status, out.getvalue(), err.getvalue()


def test_store_find_retrieve_analyse_send_back_and_read_the_results(orthanc, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ORTHANC_PASSWORD", orthanc.password)
    assert run("pacs", "node", "add", "dimse", "--dimse", f"127.0.0.1:{orthanc.dicom_port}", "--aet", orthanc.aet)[0] == 0
    assert run("pacs", "node", "add", "web", "--dicomweb", orthanc.dicomweb_url, "--user", orthanc.user,
               "--password-env", "ORTHANC_PASSWORD")[0] == 0
    cine = _patient_cine(tmp_path, "ROUNDTRIP1")
    vendor = Path(get_testdata_file("US1_J2KR.dcm"))  # a real vendor US multi-frame (JPEG 2000)
    status, _, err = run("pacs", "send", "dimse", cine, vendor)
    assert status == 0, err

    status, out, err = run("pacs", "find", "web", "--patient-id", "ROUNDTRIP1", "--modality", "US", "--json")
    assert status == 0, err
    (study,) = [json.loads(line) for line in out.splitlines()]
    study_uid = study["study_uid"]
    assert study_uid == pydicom.dcmread(cine, stop_before_pixels=True).StudyInstanceUID
    cache = tmp_path / "cache"
    status, out, err = run("pacs", "get", "dimse", study_uid, "--cache", cache)
    assert status == 0, err
    (folder,) = [Path(line) for line in out.splitlines() if line.strip()]
    (retrieved,) = sorted(folder.glob("*.dcm"))
    assert np.array_equal(load_cine(retrieved).frames, load_cine(cine).frames)

    results = tmp_path / "results"
    results.mkdir()
    status, _, err = run("analyze", retrieved, "--json", tmp_path / "out.json", "--dicom-out", results)
    assert status == 0, err
    written = sorted(results.glob("*.dcm"))
    assert [p.name.split("_")[-1] for p in written] == ["seg.dcm", "sr.dcm"]
    status, _, err = run("pacs", "send", "web", *written)  # STOW-RS
    assert status == 0, err

    status, out, err = run("pacs", "find", "dimse", "--series", study_uid, "--json")
    assert status == 0, err
    modalities = sorted(json.loads(line)["modality"] for line in out.splitlines())
    assert modalities == ["SEG", "SR", "US"]
    back = tmp_path / "back"
    status, out, err = run("pacs", "get", "web", study_uid, "--cache", back)  # WADO-RS
    assert status == 0, err
    files = {pydicom.dcmread(p, stop_before_pixels=True).Modality: p for p in back.rglob("*.dcm")}
    assert set(files) == {"SEG", "SR", "US"}

    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    (analysed,) = document["cines"]
    report = groups(files["SR"])
    assert isinstance(hd.sr.srread(files["SR"]), hd.sr.ComprehensiveSR)
    summary = numbers(report[f"mean of {len(analysed['beats'])} beat(s)"])
    assert summary[(EF_A4C, DISKS, MEAN)].value == pytest.approx(analysed["summary"]["ef_disks_percent"]["mean"],
                                                                 abs=1e-3)
    for index, beat in enumerate(analysed["beats"]):
        measured = numbers(report[f"beat {index + 1}"])
        assert measured[("399109006", None, None)].value == pytest.approx(beat["ed_area"], abs=1e-3)
    seg = read_seg(files["SEG"], source_sop_instance_uid=pydicom.dcmread(retrieved).SOPInstanceUID)
    assert len(seg.masks) == analysed["frames"]
    areas = [int(seg.masks[i].sum()) for i in range(analysed["frames"])]
    assert areas == pytest.approx(analysed["area_px"], abs=0.5)  # the SEG holds the masks the JSON measured
    shutil.rmtree(back)

    # the vendor file comes back whole too, over DICOMweb, and analyses as the original does
    vendor_id = pydicom.dcmread(vendor, stop_before_pixels=True).PatientID
    status, out, err = run("pacs", "find", "web", "--patient-id", vendor_id, "--json")
    assert status == 0 and out.strip(), err
    vendor_study = json.loads(out.splitlines()[0])["study_uid"]
    status, out, err = run("pacs", "get", "web", vendor_study, "--cache", tmp_path / "vendor")
    assert status == 0, err
    (copy,) = [p for p in (tmp_path / "vendor").rglob("*.dcm")
               if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
               == pydicom.dcmread(vendor, stop_before_pixels=True).SOPInstanceUID]
    assert np.array_equal(load_cine(copy).frames, load_cine(vendor).frames)
    status, first, _ = run("analyze", vendor, "--json", tmp_path / "a.json")
    status_copy, second, _ = run("analyze", copy, "--json", tmp_path / "b.json")
    assert status == status_copy and first.split(":", 1)[1] == second.split(":", 1)[1]
