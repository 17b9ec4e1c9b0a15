"""``echoviewer analyze --dicom-out DIR``: a DICOM SEG and SR per DICOM cine, their values those of
the JSON, biplane volumes in the SRs of a pair, and inputs that cannot have them said in one line."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from echoviewer.dicom_results import read_seg
from tests.test_analyze_cli import analyze, named_copy
from tests.test_dicom_sr import groups, numbers

EF_A4C, EF_A2C, EF_BIPLANE, EDV_BIPLANE = "79993-2", "79992-4", "79991-6", "79996-5"
DISKS, BIPLANE_DISKS, MEAN = "125208", "125207", "373098007"


def test_dicom_out_writes_seg_and_sr_that_hold_the_json_values(tmp_path, sample_cine_path) -> None:
    two = named_copy(tmp_path / "second view.dcm", "Apical two chamber")
    plain = tmp_path / "clip.npy"
    np.save(plain, np.zeros((4, 32, 32), np.uint8))
    out = tmp_path / "dicom"
    out.mkdir()
    status, _, err = analyze(sample_cine_path, two, plain, "--json", tmp_path / "out.json",
                             "--masks", tmp_path / "masks.npz", "--dicom-out", out)
    assert status == 0, err
    assert "DICOM SEG and SR need a DICOM source; clip.npy is a NumPy array file" in err  # said, not a failure
    assert sorted(p.name for p in out.iterdir()) == ["sample_a4c_seg.dcm", "sample_a4c_sr.dcm",
                                                     "second view_seg.dcm", "second view_sr.dcm"]
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    four, two_chamber = document["cines"][:2]
    (biplane,) = document["biplane"]

    report = groups(out / "sample_a4c_sr.dcm")
    for index, beat in enumerate(four["beats"]):
        measured = numbers(report[f"beat {index + 1}"])
        assert measured[(EF_A4C, DISKS, None)].value == pytest.approx(beat["ef_disks_percent"], abs=1e-3)
    summary = numbers(report[f"mean of {len(four['beats'])} beat(s)"])
    assert summary[(EF_A4C, DISKS, MEAN)].value == pytest.approx(four["summary"]["ef_disks_percent"]["mean"],
                                                                 abs=1e-3)
    # the pair's volumes went into both SRs (they were rewritten once the pair was known)
    for name in ("sample_a4c_sr.dcm", "second view_sr.dcm"):
        found = [m for group in groups(out / name).values() for key, m in numbers(group).items()
                 if key == (EF_BIPLANE, BIPLANE_DISKS, MEAN)]
        assert [m.value for m in found] == [pytest.approx(biplane["summary"]["ef_percent"]["mean"], abs=1e-3)]
    assert numbers(groups(out / "second view_sr.dcm")["beat 1"])[(EF_A2C, DISKS, None)].value == \
        pytest.approx(two_chamber["beats"][0]["ef_disks_percent"], abs=1e-3)

    seg = read_seg(out / "sample_a4c_seg.dcm")
    with np.load(tmp_path / "masks.npz") as masks:
        stored = masks[next(k for k in masks.files if k.endswith("sample_a4c"))]
    assert len(seg.masks) == len(stored)
    assert all(np.array_equal(seg.masks[i], stored[i]) for i in range(len(stored)))
    source = pydicom.dcmread(sample_cine_path, stop_before_pixels=True)
    written = pydicom.dcmread(out / "sample_a4c_sr.dcm")
    assert (written.StudyInstanceUID, written.PatientID) == (source.StudyInstanceUID, source.get("PatientID", ""))
    assert str(tmp_path) not in (out / "sample_a4c_sr.dcm").read_bytes().decode("latin-1")


def test_two_cines_with_one_name_get_results_that_do_not_overwrite_each_other(tmp_path, sample_cine_path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "cine.dcm").write_bytes(sample_cine_path.read_bytes())
    out = tmp_path / "dicom"
    out.mkdir()
    status, _, err = analyze(tmp_path / "a" / "cine.dcm", tmp_path / "b" / "cine.dcm", "--dicom-out", out)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["0_cine_seg.dcm", "0_cine_sr.dcm", "1_cine_seg.dcm",
                                                     "1_cine_sr.dcm"]


def test_a_dicom_out_folder_that_does_not_exist_is_refused_before_any_work(tmp_path, sample_cine_path) -> None:
    status, out, err = analyze(sample_cine_path, "--dicom-out", tmp_path / "nowhere")
    assert status == 2 and out == "" and "no such folder" in err


def test_no_output_is_written_over_an_input_of_the_run(tmp_path, sample_cine_path) -> None:
    """Issue 20 (1): ``analyze X.dcm --json X.dcm`` used to overwrite the source DICOM."""
    import os
    import shutil

    cine = tmp_path / "cine.dcm"
    shutil.copy(sample_cine_path, cine)
    original = cine.read_bytes()
    for flag in ("--json", "--csv", "--masks"):
        status, out, err = analyze(cine, flag, cine)
        assert status == 2 and out == "" and "is an input of this run (cine.dcm)" in err, err
    os.link(cine, tmp_path / "link.json")  # the same file under another name
    status, _, err = analyze(cine, "--json", tmp_path / "link.json")
    assert status == 2 and "would destroy the source" in err
    shutil.copy(sample_cine_path, tmp_path / "cine_seg.dcm")  # a cine named like cine.dcm's SEG
    status, _, err = analyze(cine, tmp_path / "cine_seg.dcm", "--dicom-out", tmp_path)
    assert status == 2 and "--dicom-out" in err and "is an input of this run" in err
    status, _, err = analyze(cine, "--out", tmp_path)
    assert status == 2 and "lies inside --out" in err
    assert cine.read_bytes() == original and (tmp_path / "cine_seg.dcm").read_bytes() == sample_cine_path.read_bytes()
