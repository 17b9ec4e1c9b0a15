"""``echoviewer analyze`` as a user runs it: one line per cine, JSON, CSV tables, masks, exit codes.

The analyses are run once per module (in process) and shared by the tests that read them; one test
runs the command in a child process, as a shell would.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, SUBPROCESS_ENV, write_dicom

from echoviewer.analysis.models import BUNDLED, DEFAULT_MODEL
from echoviewer.cli import main
from echoviewer.io import load_cine
from echoviewer.resources import PARTNER, SAMPLE_CINE, STUDENT_MODEL, TEACHER_MODEL

CINE_KEYS = {"file", "frames", "frame_times_ms", "calibration", "model", "units", "area_px", "area_cm2",
             "ed_frames", "es_frames", "beats", "summary", "flags"}
FRAME_HEADER = ["file", "frame", "time_ms", "area_px", "area_cm2", "event", "event_by", "contour", "flags"]
BEAT_START = ["file", "beat", "ed_frame", "ed_by", "ed_model_frame", "es_frame", "es_by", "es_model_frame",
              "ed_time_ms", "es_time_ms"]
PROVENANCE = ["app", "model", "model_sha256", "study_key", "instance_key", "reader"]
CM_COLUMNS = ["ed_area_cm2", "es_area_cm2", "ed_length_cm", "es_length_cm", "edv_disks_mL",
              "esv_disks_mL", "edv_area_length_mL", "esv_area_length_mL"]
PX_COLUMNS = ["ed_area_px2", "es_area_px2", "ed_length_px", "es_length_px", "edv_disks_px3",
              "esv_disks_px3", "edv_area_length_px3", "esv_area_length_px3"]
RATIO_COLUMNS = ["fac_percent", "ef_disks_percent", "ef_area_length_percent", "heart_rate_bpm"]
CM_UNITS = {"area": "cm2", "length": "cm", "volume": "mL"}
PX_UNITS = {"area": "px2", "length": "px", "volume": "px3"}
COLOUR = "color3d_jpeg_baseline.dcm"
DEFAULT_FILE = BUNDLED[DEFAULT_MODEL]  # what runs without --model
UNCALIBRATED = "uncalibrated_a4c.npy"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def analyze(*args: object) -> tuple[int, str, str]:
    """``echoviewer analyze ARGS`` in process: exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["analyze", *map(str, args)])
    return status, out.getvalue(), err.getvalue()


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def error_lines(err: str) -> list[str]:
    """stderr without the closing 'N of M analysed' count."""
    return [line for line in err.splitlines() if " analysed" not in line]


def by_name(document: dict) -> dict[str, dict]:
    return {Path(cine["file"]).name: cine for cine in document["cines"]}


@pytest.fixture(scope="module")
def truth(sample_cine_path) -> dict:
    return json.loads(sample_cine_path.with_name("sample_a4c.truth.json").read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory, sample_cine_path) -> dict:
    """The bundled sample alone, every output asked for."""
    out = tmp_path_factory.mktemp("single")
    status, stdout, stderr = analyze(sample_cine_path, "--json", out / "out.json", "--csv", out / "out.csv",
                                     "--masks", out / "masks.npz")
    return {"status": status, "out": stdout, "err": stderr, "folder": out,
            "json": json.loads((out / "out.json").read_text())}


@pytest.fixture(scope="module")
def batch(tmp_path_factory, pydicom_data, sample_cine_path) -> dict:
    """A folder as users bring them: the sample, a real vendor colour cine, the sample's frames as an
    uncalibrated NumPy cine, a one-frame uncalibrated DICOM, a damaged .dcm and unrelated notes."""
    folder = tmp_path_factory.mktemp("batch") / "study"
    folder.mkdir()
    shutil.copy(sample_cine_path, folder / "sample_a4c.dcm")
    shutil.copy(pydicom_data / COLOUR, folder / COLOUR)
    shutil.copy(pydicom_data / "US1_UNCR.dcm", folder / "US1_UNCR.dcm")
    np.save(folder / UNCALIBRATED, load_cine(sample_cine_path).frames)
    (folder / "bad.dcm").write_text("this was never a DICOM file\n")
    (folder / "notes.txt").write_text("patient notes: nothing to analyse here\n")
    out = tmp_path_factory.mktemp("batch_out")
    status, stdout, stderr = analyze(folder, "--json", out / "out.json", "--csv", out / "out.csv",
                                     "--masks", out / "masks.npz")
    document = json.loads((out / "out.json").read_text())
    return {"status": status, "out": stdout, "err": stderr, "folder": folder, "outputs": out,
            "json": document, "cines": by_name(document)}


# --- one cine ----------------------------------------------------------------------------------


def test_one_cine_prints_one_line_with_beats_ef_and_heart_rate(single, sample_cine_path) -> None:
    assert single["status"] == 0
    lines = single["out"].strip().splitlines()
    assert len(lines) == 1
    cine = single["json"]["cines"][0]
    summary = cine["summary"]
    line = lines[0]
    assert line.startswith(f"{sample_cine_path}: ")
    assert f"{len(cine['beats'])} beat(s)" in line and len(cine["beats"]) == 2
    assert f"EF (single-plane A4C, disks) {summary['ef_disks_percent']['mean']:.1f}" in line and " %" in line
    assert f"HR {summary['heart_rate_bpm']['mean']:.0f} bpm" in line
    assert "cm2" in line
    assert single["err"] == ""


def test_json_document_has_every_documented_key(single, sample_cine_path) -> None:
    document = single["json"]
    assert document["failed"] == []
    assert document["summary"] == {"files": 1, "analysed": 1, "failed": 0}
    (cine,) = document["cines"]
    assert CINE_KEYS <= cine.keys()
    assert cine["file"] == str(sample_cine_path)
    assert cine["frames"] == 60
    assert cine["model"] == {"name": cine["model"]["name"], "file": DEFAULT_FILE.name,
                             "sha256": sha256(DEFAULT_FILE)}
    assert cine["units"] == CM_UNITS
    for flag in cine["flags"]:
        assert {"code", "severity", "message", "frames", "beats"} <= flag.keys()
    assert "comparison" not in cine


def test_json_curves_are_per_frame_and_cm2_follows_the_calibration(single) -> None:
    cine = single["json"]["cines"][0]
    n = cine["frames"]
    assert len(cine["area_px"]) == len(cine["area_cm2"]) == len(cine["frame_times_ms"]) == n
    times = np.array(cine["frame_times_ms"])
    assert times[0] == 0 and np.diff(times) == pytest.approx(1000 / 30, abs=0.01)
    calibration = cine["calibration"]
    assert calibration["cm_per_px_x"] > 0 and calibration["cm_per_px_y"] > 0
    scale = calibration["cm_per_px_x"] * calibration["cm_per_px_y"]
    assert cine["area_cm2"] == pytest.approx([a * scale for a in cine["area_px"]], abs=1e-4)
    assert min(cine["area_px"]) > 0  # an LV was found on every frame of the sample


def test_sample_events_and_heart_rate_match_the_truth(single, truth) -> None:
    cine = single["json"]["cines"][0]
    assert len(cine["ed_frames"]) == len(truth["ed_frames"])
    assert len(cine["es_frames"]) == len(truth["es_frames"])
    for found, true in zip(cine["ed_frames"] + cine["es_frames"], truth["ed_frames"] + truth["es_frames"]):
        assert abs(found - true) <= 2, (cine["ed_frames"], cine["es_frames"])
    beats = cine["beats"]
    assert [b["ed_frame"] for b in beats] == cine["ed_frames"]
    assert [b["es_frame"] for b in beats] == cine["es_frames"]
    rates = [b["heart_rate_bpm"] for b in beats if b["heart_rate_bpm"] is not None]
    assert rates and all(rate == pytest.approx(truth["heart_rate_bpm"], abs=5) for rate in rates)
    assert cine["summary"]["heart_rate_bpm"]["mean"] == pytest.approx(truth["heart_rate_bpm"], abs=5)
    # the ED area is the largest and the ES area the smallest of each beat, in cm²
    for beat in beats:
        assert beat["ed_area"] == pytest.approx(cine["area_cm2"][beat["ed_frame"]], abs=1e-3)
        assert beat["es_area"] == pytest.approx(cine["area_cm2"][beat["es_frame"]], abs=1e-3)
        assert beat["ed_area"] > beat["es_area"]
    # the truth's EF is the mean over the beats the clip overlaps
    assert cine["summary"]["ef_disks_percent"]["n"] == 2
    assert cine["summary"]["ef_disks_percent"]["mean"] == pytest.approx(truth["ef_percent"], abs=10)


def test_masks_match_the_native_frames_and_the_areas(single, sample_cine_path) -> None:
    cine = single["json"]["cines"][0]
    with np.load(single["folder"] / "masks.npz", allow_pickle=False) as masks:
        assert masks.files == ["000_sample_a4c"]
        mask = masks["000_sample_a4c"]
    native = load_cine(sample_cine_path)
    assert mask.dtype == np.bool_ and mask.shape == (native.n_frames, native.height, native.width)
    assert mask.reshape(len(mask), -1).sum(axis=1).tolist() == cine["area_px"]


def test_outputs_are_complete_and_nothing_temporary_is_left(single) -> None:
    assert sorted(p.name for p in single["folder"].iterdir()) == [
        "masks.npz", "out.csv", "out.json", "out_beats.csv"]


# --- models ------------------------------------------------------------------------------------


def test_model_teacher_is_named_with_its_sha256(capsys, tmp_path, sample_cine_path) -> None:
    assert main(["analyze", str(sample_cine_path), "--model", "teacher", "--json", str(tmp_path / "t.json")]) == 0
    cine = json.loads((tmp_path / "t.json").read_text())["cines"][0]
    assert cine["model"]["file"] == "teacher.onnx" and cine["model"]["sha256"] == sha256(TEACHER_MODEL)
    assert sha256(TEACHER_MODEL) != sha256(STUDENT_MODEL)
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


def test_model_file_with_its_card_gives_the_same_result(single, tmp_path, sample_cine_path) -> None:
    shutil.copy(DEFAULT_FILE, tmp_path / "hospital.onnx")
    shutil.copy(DEFAULT_FILE.with_suffix(".json"), tmp_path / "hospital.json")
    status, _, err = analyze(sample_cine_path, "--model", tmp_path / "hospital.onnx", "--json", tmp_path / "h.json")
    assert status == 0 and err == ""
    cine = json.loads((tmp_path / "h.json").read_text())["cines"][0]
    assert cine["model"]["file"] == "hospital.onnx" and cine["model"]["sha256"] == sha256(DEFAULT_FILE)
    reference = single["json"]["cines"][0]
    assert cine["area_px"] == reference["area_px"] and cine["ed_frames"] == reference["ed_frames"]


@pytest.mark.parametrize("option", ["--model", "--compare"])
def test_missing_model_or_card_is_one_line_and_exit_2(tmp_path, sample_cine_path, option) -> None:
    shutil.copy(STUDENT_MODEL, tmp_path / "nocard.onnx")  # no nocard.json beside it
    for model, words in ((tmp_path / "absent.onnx", ("absent.onnx", "no such model")),
                         (tmp_path / "nocard.onnx", ("nocard.json", "sidecar"))):
        status, out, err = analyze(sample_cine_path, option, model, "--json", tmp_path / "out.json")
        assert status == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("echoviewer: "), err
        assert all(word in lines[0] for word in words), lines[0]
        assert not (tmp_path / "out.json").exists()


def test_compare_adds_per_frame_dice(tmp_path, sample_cine_path) -> None:
    status, _, _ = analyze(sample_cine_path, "--compare", PARTNER[DEFAULT_MODEL], "--json", tmp_path / "c.json")
    assert status == 0
    cine = json.loads((tmp_path / "c.json").read_text())["cines"][0]
    comparison = cine["comparison"]
    assert comparison["model"]["sha256"] == sha256(BUNDLED[PARTNER[DEFAULT_MODEL]])
    assert cine["model"]["sha256"] == sha256(DEFAULT_FILE)
    assert len(comparison["dice"]) == cine["frames"]
    assert all(0 <= dice <= 1 for dice in comparison["dice"])
    assert 0.8 < comparison["mean_dice"] <= 1
    assert min(comparison["dice"]) < 1  # two different models: the masks really were compared
    assert comparison["mean_dice"] == pytest.approx(np.mean(comparison["dice"]), abs=1e-3)
    flagged = {frame for flag in cine["flags"] if flag["code"] == "model_disagreement" for frame in flag["frames"]}
    assert flagged == {frame for frame, dice in enumerate(comparison["dice"]) if dice < 0.8}


# --- batches -----------------------------------------------------------------------------------


def test_batch_analyses_every_cine_and_reports_the_damaged_one(batch) -> None:
    assert batch["status"] == 1
    folder, document = batch["folder"], batch["json"]
    assert set(batch["cines"]) == {"sample_a4c.dcm", COLOUR, UNCALIBRATED, "US1_UNCR.dcm"}
    assert all(Path(cine["file"]).parent == folder for cine in document["cines"])
    (failure,) = document["failed"]
    assert failure["file"] == str(folder / "bad.dcm") and "bad.dcm" in failure["error"]
    assert document["summary"] == {"files": 5, "analysed": 4, "failed": 1}
    assert "notes.txt" not in batch["out"] + batch["err"] + json.dumps(document)
    # one stdout line per analysed cine, one stderr line for the damaged file, then the count
    out_lines = batch["out"].strip().splitlines()
    assert sorted(Path(line.split(": ")[0]).name for line in out_lines) == sorted(batch["cines"])
    (error,) = error_lines(batch["err"])
    assert error.startswith("echoviewer: ") and "bad.dcm" in error and failure["error"] in error
    assert batch["err"].strip().splitlines()[-1] == "4 of 5 analysed; 1 failed"


def test_batch_colour_cine_has_its_four_beats(batch) -> None:
    cine = batch["cines"][COLOUR]
    assert cine["frames"] == 120 and cine["units"] == CM_UNITS
    assert cine["calibration"]["cm_per_px_x"] == pytest.approx(0.05105, abs=1e-5)
    assert len(cine["beats"]) == 4 and len(cine["ed_frames"]) == 4
    rates = [b["heart_rate_bpm"] for b in cine["beats"] if b["heart_rate_bpm"] is not None]
    assert len(rates) == 3 and all(40 < rate < 120 for rate in rates)


@pytest.mark.parametrize("bad_first", [True, False], ids=["bad_first", "bad_last"])
def test_a_damaged_file_does_not_stop_the_run(tmp_path, sample_cine_path, bad_first) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_text("not a DICOM\n")
    paths = [bad, sample_cine_path] if bad_first else [sample_cine_path, bad]
    status, out, err = analyze(*paths, "--json", tmp_path / "out.json")
    assert status == 1
    document = json.loads((tmp_path / "out.json").read_text())
    assert [cine["file"] for cine in document["cines"]] == [str(sample_cine_path)]
    assert [failure["file"] for failure in document["failed"]] == [str(bad)]
    assert document["summary"] == {"files": 2, "analysed": 1, "failed": 1}
    assert len(out.strip().splitlines()) == 1
    assert len(error_lines(err)) == 1


def test_folder_without_cines_is_a_failure(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here\n")
    status, out, err = analyze(empty, "--json", tmp_path / "out.json", "--csv", tmp_path / "out.csv")
    assert status == 1 and out == ""
    document = json.loads((tmp_path / "out.json").read_text())
    assert document["cines"] == [] and document["summary"] == {"files": 1, "analysed": 0, "failed": 1}
    assert document["failed"][0]["file"] == str(empty)
    (error,) = error_lines(err)
    assert str(empty) in error and "no cine" in error
    header, rows = read_csv(tmp_path / "out.csv")
    assert header == FRAME_HEADER and rows == []


@pytest.mark.slow
def test_command_in_a_child_process_exits_1_with_one_line_per_damaged_file(tmp_path, sample_cine_path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_text("not a DICOM\n")
    result = subprocess.run([sys.executable, "-m", "echoviewer", "analyze", str(bad), str(sample_cine_path),
                             "--json", str(tmp_path / "out.json")],
                            cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (error,) = error_lines(result.stderr)
    assert error.startswith("echoviewer: ") and "bad.dcm" in error
    assert result.stderr.strip().splitlines()[-1] == "1 of 2 analysed; 1 failed"
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith(f"{sample_cine_path}: 2 beat(s)")
    assert json.loads((tmp_path / "out.json").read_text())["summary"]["analysed"] == 1


# --- CSV ---------------------------------------------------------------------------------------


def test_frame_csv_has_one_row_per_frame_with_the_events(batch) -> None:
    header, rows = read_csv(batch["outputs"] / "out.csv")
    assert header == FRAME_HEADER
    assert len(rows) == sum(cine["frames"] for cine in batch["cines"].values())
    for name, cine in batch["cines"].items():
        mine = [row for row in rows if row["file"] == cine["file"]]
        assert [int(row["frame"]) for row in mine] == list(range(cine["frames"])), name
        assert [float(row["time_ms"]) for row in mine] == cine["frame_times_ms"]
        assert [float(row["area_px"]) for row in mine] == cine["area_px"]
        cm2 = [number(row["area_cm2"]) for row in mine]
        assert cm2 == (cine["area_cm2"] or [None] * cine["frames"])
        assert [int(row["frame"]) for row in mine if row["event"] == "ED"] == cine["ed_frames"]
        assert {row["contour"] for row in mine} == {"model"}  # the command line never has the user's
        assert [int(row["frame"]) for row in mine if row["event"] == "ES"] == cine["es_frames"]
        assert {row["event"] for row in mine} <= {"", "ED", "ES"}
        for flag in cine["flags"]:
            for frame in flag["frames"]:
                assert flag["code"] in mine[frame]["flags"].split(";")
    # the one-frame uncalibrated DICOM has a frame flag, so the column is exercised
    assert any(row["flags"] for row in rows)


def test_beats_csv_has_unit_named_columns_and_matches_the_json(batch) -> None:
    header, rows = read_csv(batch["outputs"] / "out_beats.csv")
    assert header[:len(BEAT_START)] == BEAT_START
    # calibrated and uncalibrated cines in one batch: both column sets
    assert set(CM_COLUMNS + PX_COLUMNS + RATIO_COLUMNS) <= set(header)
    for name, cine in batch["cines"].items():
        mine = [row for row in rows if row["file"] == cine["file"]]
        units = cine["units"]
        assert [row["beat"] for row in mine] == [str(i + 1) for i in range(len(cine["beats"]))] + ["mean", "sd"]
        own = CM_COLUMNS if units == CM_UNITS else PX_COLUMNS
        other = PX_COLUMNS if units == CM_UNITS else CM_COLUMNS
        for row, beat in zip(mine, cine["beats"]):
            assert int(row["ed_frame"]) == beat["ed_frame"] and int(row["es_frame"]) == beat["es_frame"]
            assert float(row["ed_time_ms"]) == pytest.approx(beat["ed_time_ms"])
            for column in own + RATIO_COLUMNS:
                measure = column.rsplit("_", 1)[0] if column in own else column
                assert number(row[column]) == beat[measure], (name, column)
            assert all(row[column] == "" for column in other), name
        for statistic, row in zip(("mean", "sd"), mine[-2:]):
            for column in own + RATIO_COLUMNS:
                measure = column.rsplit("_", 1)[0] if column in own else column
                assert number(row[column]) == cine["summary"][measure][statistic], (name, column, statistic)
    sample = [row for row in rows if row["file"].endswith("sample_a4c.dcm")]
    assert all(float(sample[0][column]) > 0 for column in ("ed_area_cm2", "edv_disks_mL", "ef_disks_percent",
                                                           "heart_rate_bpm"))


def test_single_calibrated_cine_beats_csv_has_only_cm_columns(single) -> None:
    header, rows = read_csv(single["folder"] / "out_beats.csv")
    assert set(CM_COLUMNS + RATIO_COLUMNS) <= set(header) and not set(PX_COLUMNS) & set(header)
    assert [row["beat"] for row in rows] == ["1", "2", "mean", "sd"]
    beats = single["json"]["cines"][0]["beats"]
    assert [float(row["edv_disks_mL"]) for row in rows[:2]] == [beat["edv_disks"] for beat in beats]
    assert float(rows[2]["ef_disks_percent"]) == pytest.approx(np.mean([b["ef_disks_percent"] for b in beats]),
                                                               abs=1e-3)


# --- uncalibrated cines ------------------------------------------------------------------------


def test_uncalibrated_cine_is_measured_in_pixels(batch, truth) -> None:
    cine = batch["cines"][UNCALIBRATED]
    assert cine["calibration"] is None and cine["area_cm2"] is None
    assert cine["units"] == PX_UNITS
    flags = {flag["code"]: flag for flag in cine["flags"]}
    assert flags["uncalibrated"]["severity"] == "info"
    assert flags["frame_rate_assumed"]["severity"] == "info"  # a .npy stores no frame rate: 30 fps assumed
    # the sample's own frames: the same beats, measured in px
    assert all(abs(a - b) <= 2 for a, b in zip(cine["ed_frames"], truth["ed_frames"]))
    assert all(abs(a - b) <= 2 for a, b in zip(cine["es_frames"], truth["es_frames"]))
    assert len(cine["beats"]) == 2
    for beat in cine["beats"]:
        assert beat["ed_area"] == cine["area_px"][beat["ed_frame"]]
    assert cine["summary"]["ef_disks_percent"]["mean"] == pytest.approx(truth["ef_percent"], abs=10)
    line = next(line for line in batch["out"].splitlines() if line.startswith(cine["file"]))
    assert "px2" in line and "cm2" not in line


def test_uncalibrated_dicom_beats_csv_has_pixel_columns_only(tmp_path, sample_cine_path) -> None:
    frames = load_cine(sample_cine_path).frames[:40, ::2, ::2].copy()
    cine_path = write_dicom(tmp_path / "plain.dcm", frames, fps=30.0)  # no calibration
    status, _, _ = analyze(cine_path, "--json", tmp_path / "o.json", "--csv", tmp_path / "o.csv")
    assert status == 0
    cine = json.loads((tmp_path / "o.json").read_text())["cines"][0]
    assert cine["area_cm2"] is None and cine["units"] == PX_UNITS
    assert "uncalibrated" in {flag["code"] for flag in cine["flags"]}
    header, rows = read_csv(tmp_path / "o_beats.csv")
    assert set(PX_COLUMNS) <= set(header) and not set(CM_COLUMNS) & set(header)
    assert len(rows) == len(cine["beats"]) + 2
    _, frame_rows = read_csv(tmp_path / "o.csv")
    assert len(frame_rows) == 40 and all(row["area_cm2"] == "" for row in frame_rows)


# --- masks and outputs -------------------------------------------------------------------------


def test_batch_masks_are_native_booleans_keyed_by_index_and_stem(batch) -> None:
    document = batch["json"]
    expected = [f"{index:03d}_{Path(cine['file']).stem}" for index, cine in enumerate(document["cines"])]
    with np.load(batch["outputs"] / "masks.npz", allow_pickle=False) as masks:
        assert masks.files == expected
        for key, cine in zip(expected, document["cines"]):
            mask = masks[key]
            native = load_cine(cine["file"])
            assert mask.dtype == np.bool_, key
            assert mask.shape == (cine["frames"], native.height, native.width), key
            assert mask.reshape(len(mask), -1).sum(axis=1).tolist() == cine["area_px"], key


def test_batch_outputs_leave_no_temporary_files(batch) -> None:
    assert sorted(p.name for p in batch["outputs"].iterdir()) == [
        "masks.npz", "out.csv", "out.json", "out_beats.csv"]
    assert not [p for p in batch["folder"].iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("option", ["--json", "--csv", "--masks"])
def test_output_folder_that_does_not_exist_is_refused_before_any_work(tmp_path, sample_cine_path, option) -> None:
    missing = tmp_path / "missing" / "out.x"
    status, out, err = analyze(sample_cine_path, option, missing, "--json" if option != "--json" else "--csv",
                               tmp_path / "other.out")
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("echoviewer: ") and str(missing) in lines[0]
    assert "does not exist" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_output_path_that_is_a_folder_is_refused(tmp_path, sample_cine_path) -> None:
    (tmp_path / "out.json").mkdir()
    status, _, err = analyze(sample_cine_path, "--json", tmp_path / "out.json")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


# --- command line ------------------------------------------------------------------------------


def test_help_documents_outputs_and_exit_status(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--model", "--compare", "--json", "--csv", "--masks", "OUT_beats.csv", "sha256",
                 "area_cm2", "Exit status"):
        assert word in text


def test_no_path_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze"])
    assert exit_info.value.code == 2
    assert "usage: echoviewer analyze" in capsys.readouterr().err


def test_a_file_name_with_control_characters_still_prints_one_line(tmp_path, sample_cine_path) -> None:
    odd = tmp_path / "a\nb\x1b[31m.dcm"
    shutil.copy(sample_cine_path, odd)
    status, out, _ = analyze(odd)
    assert status == 0 and len(out.strip().splitlines()) == 1 and "\x1b" not in out


# ---- biplane -----------------------------------------------------------------------------------
def named_copy(path: Path, view_meaning: str) -> Path:
    """The sample (same study) saved with a header that names ``view_meaning`` and a plain name."""
    import pydicom
    from pydicom.dataset import Dataset
    ds = pydicom.dcmread(SAMPLE_CINE)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "0", "99TEST", view_meaning
    ds.ViewCodeSequence = [code]
    ds.save_as(path)
    return path


def test_an_a4c_and_an_a2c_of_one_study_give_biplane_volumes(tmp_path, sample_cine_path) -> None:
    two = named_copy(tmp_path / "second view.dcm", "Apical two chamber")
    status, out, err = analyze(sample_cine_path, two, "--json", tmp_path / "out.json", "--csv", tmp_path / "out.csv")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "(single-plane A2C, disks)" in lines[1]
    assert lines[2].startswith("biplane sample_a4c.dcm (A4C) + second view.dcm (A2C): 2 beat pair(s); EDV ")
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    biplane, = document["biplane"]
    cines = document["cines"]
    assert [c["volumes"] for c in cines] == ["single-plane A4C", "single-plane A2C"]
    assert cines[1]["view"]["named"] == "A2C" and cines[1]["view"]["named_in"] == "DICOM header"
    assert (biplane["four_chamber"], biplane["two_chamber"]) == (str(sample_cine_path), str(two))
    # the same pixels in both views: a = b, so biplane is the single-plane A4C method of disks
    for pair, beat in zip(biplane["beats"], cines[0]["beats"]):
        assert pair["edv"] == pytest.approx(beat["edv_disks"], rel=1e-3)
        assert pair["ef_percent"] == pytest.approx(beat["ef_disks_percent"], abs=0.05)
    header, rows = read_csv(tmp_path / "out_biplane.csv")
    assert header[:3] == ["four_chamber", "two_chamber", "pair"] and "edv_biplane_mL" in header
    assert [r["pair"] for r in rows] == ["1", "2", "mean", "sd"]
    assert float(rows[2]["ef_biplane_percent"]) == pytest.approx(biplane["summary"]["ef_percent"]["mean"], abs=1e-3)
    _, beat_rows = read_csv(tmp_path / "out_beats.csv")
    assert {r["volumes"] for r in beat_rows} == {"single-plane A4C", "single-plane A2C"}
    uid = str(load_cine(sample_cine_path).identifiers.study_instance_uid)
    assert uid not in (tmp_path / "out.json").read_text(encoding="utf-8")  # the pairing key stays inside


def test_pair_names_two_files_the_headers_do_not(tmp_path, sample_cine_path) -> None:
    plain = tmp_path / "clip.npy"
    np.save(plain, load_cine(sample_cine_path).frames)
    status, out, err = analyze(sample_cine_path, "--pair", sample_cine_path, plain, "--json", tmp_path / "out.json")
    assert status == 0, err
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert len(document["cines"]) == 2  # the pair's second file was analysed too, the first once
    assert document["cines"][1]["volumes"] == "single-plane A2C"  # as --pair says
    assert document["cines"][1]["view"]["named_in"] == "--pair"
    biplane, = document["biplane"]
    assert biplane["two_chamber"] == str(plain)
    assert biplane["beats"] == [] and biplane["flags"][0]["code"] == "biplane_uncalibrated"
    assert "EDV n/a" in out.strip().splitlines()[-1]
    # two A4C cines of one study: a note, no guess
    again = tmp_path / "again_a4c.dcm"
    shutil.copy(sample_cine_path, again)
    status, out, err = analyze(sample_cine_path, again, named_copy(tmp_path / "x.dcm", "Apical 2 chamber"))
    assert status == 0 and "biplane" not in out and "pair them by hand (--pair A4C A2C)" in err


# ---- provenance --------------------------------------------------------------------------------
def test_every_result_says_who_made_it_without_the_uids(tmp_path, sample_cine_path, private_data_dir) -> None:
    from echoviewer import __version__
    from echoviewer.user_data import Preferences
    Preferences().reader = "Dr  A.\nReader"  # one line in the exports
    out = tmp_path / "out"
    status, _, err = analyze(sample_cine_path, "--json", f"{out}.json", "--csv", f"{out}.csv")
    assert status == 0, err
    cine, = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))["cines"]
    made = cine["provenance"]
    assert made["app"] == f"echoviewer {__version__}" and made["reader"] == "Dr A. Reader"
    assert made["model_sha256"] == sha256(DEFAULT_FILE) and made["model"] == cine["model"]["name"]
    ids = load_cine(sample_cine_path).identifiers
    text = Path(f"{out}.json").read_text(encoding="utf-8") + Path(f"{out}_beats.csv").read_text(encoding="utf-8")
    assert ids.study_instance_uid not in text and ids.sop_instance_uid not in text
    assert len(made["study_key"]) == 20 and made["study_key"] != made["instance_key"]
    assert all(pick["by"] == "model" and pick["model_frame"] == pick["frame"] for pick in cine["picks"])
    assert [p["frame"] for p in cine["picks"] if p["event"] == "ED"] == cine["ed_frames"]
    header, rows = read_csv(Path(f"{out}_beats.csv"))
    assert header[-len(PROVENANCE):] == PROVENANCE
    assert {r["study_key"] for r in rows} == {made["study_key"]} and {r["ed_by"] for r in rows[:-2]} == {"model"}
    # the same study on this machine: the same key, run after run; another salt: another key
    analyze(sample_cine_path, "--json", tmp_path / "again.json", "--reader", "")
    again, = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))["cines"]
    assert again["provenance"]["study_key"] == made["study_key"] and again["provenance"]["reader"] is None
    (private_data_dir / "salt").unlink()
    analyze(sample_cine_path, "--json", tmp_path / "salted.json")
    salted, = json.loads((tmp_path / "salted.json").read_text(encoding="utf-8"))["cines"]
    assert salted["provenance"]["study_key"] != made["study_key"]


@pytest.mark.parametrize("folder", ["/proc", "/proc/self", "/sys/kernel", "/dev"])
def test_the_systems_virtual_folders_are_refused_at_once(folder) -> None:
    status, out, err = analyze(folder)
    assert status == 1 and out == ""
    (error,) = error_lines(err)
    assert "system's virtual folders" in error and folder in error


def test_a_file_name_that_looks_like_a_formula_is_inert_in_every_csv(tmp_path, sample_cine_path, monkeypatch) -> None:
    """Issue 20 (6): a cell that starts with = + - @ is run by spreadsheets (CSV injection)."""
    name = "=HYPERLINK(1)-@x.dcm"
    shutil.copy(sample_cine_path, tmp_path / name)
    monkeypatch.chdir(tmp_path)  # a relative path: the file cell starts with "="
    status, _, err = analyze(name, "--csv", "out.csv")
    assert status == 0, err
    for table in ("out.csv", "out_beats.csv"):
        _, rows = read_csv(tmp_path / table)
        assert rows and all(row["file"] == "'" + name for row in rows)
        assert all(not value.startswith(("=", "+", "@")) for row in rows for value in row.values())
    from echoviewer.analysis.report import inert
    assert inert("-3.5") == "-3.5" and inert(-3.5) == -3.5 and inert("-x") == "'-x" and inert("=1+1") == "'=1+1"


def test_pseudonymise_names_cines_by_a_stable_key_and_keeps_the_map_local(tmp_path, sample_cine_path,
                                                                         private_data_dir) -> None:
    """Issue 20 (6): file and folder names, often a patient's, went verbatim into every output."""
    folder = tmp_path / "DOE_JOHN"
    folder.mkdir()
    cine = folder / "DOE_JOHN_a4c.dcm"
    shutil.copy(sample_cine_path, cine)
    (folder / "DOE_JOHN_broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    outputs = ["--json", tmp_path / "out.json", "--csv", tmp_path / "out.csv", "--masks", tmp_path / "m.npz"]
    status, _, err = analyze(folder, "--pseudonymise", *outputs)
    assert status == 1, err  # the broken file failed, the other was analysed
    written = [tmp_path / name for name in ("out.json", "out.csv", "out_beats.csv")]
    for path in written:
        assert "DOE" not in path.read_text(encoding="utf-8"), path.name
    with np.load(tmp_path / "m.npz") as masks:
        assert len(masks.files) == 1 and "DOE" not in masks.files[0] and "cine-" in masks.files[0]
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    key = document["cines"][0]["file"]
    assert key.startswith("cine-") and len(key) == len("cine-") + 12
    assert document["failed"][0]["file"].startswith("cine-")
    mapping = (private_data_dir / "pseudonyms.csv").read_text(encoding="utf-8")
    assert f"{key},{cine.resolve()}" in mapping  # the map stays here, in the data folder
    analyze(cine, "--pseudonymise", "--json", tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["cines"][0]["file"] == key  # stable
    assert mapping.count(key) == 1 and (private_data_dir / "pseudonyms.csv").read_text().count(key) == 1
    status, _, err = analyze(cine, "--pseudonymise", "--out", tmp_path / "run")
    assert status == 2 and "--pseudonymise applies to" in err
    (private_data_dir / "pseudonyms.csv").unlink()
    assert analyze(cine, "--pseudonymise", "--masks", tmp_path / "only.npz")[0] == 0  # masks alone: still mapped
    assert f"{key},{cine.resolve()}" in (private_data_dir / "pseudonyms.csv").read_text(encoding="utf-8")
