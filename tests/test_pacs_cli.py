"""``echoviewer pacs``: nodes, echo, find, get and send against the session's Orthanc, run in process
(one line on stderr per failure; exit 1 for the PACS, 2 for the command line, 130 for Ctrl-C)."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from tqdm import tqdm

import echoviewer.cli.pacs
from echoviewer.cli.main import main
from echoviewer.pacs import finished_series
from echoviewer.pacs.cache import PARTIAL, cache_dir
from tests.helpers import ROOT, moving_frames, write_dicom
from tests.orthanc_server import free_port

PATIENT = {"PatientID": "EV-CLI-1", "PatientName": "Cli^Patient", "AccessionNumber": "ACC-CLI-1",
           "StudyDate": "20240202", "SeriesDescription": "CLI cine"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["pacs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def cine(path: Path, n_frames: int, **attributes: object) -> Path:
    write_dicom(path, moving_frames(n_frames, seed=n_frames))
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def stored(orthanc, tmp_path_factory) -> pydicom.Dataset:
    """A six-frame cine of the patient EV-CLI-1 in the PACS; its header."""
    path = cine(tmp_path_factory.mktemp("pacs-cli") / "cli.dcm", 6, **PATIENT)
    orthanc.upload(path)
    return pydicom.dcmread(path)


@pytest.fixture
def nodes(orthanc, capsys, monkeypatch) -> None:
    """The nodes ``pacs`` (DIMSE) and ``web`` (DICOMweb, password from the environment)."""
    monkeypatch.setenv("ORTHANC_PASSWORD", orthanc.password)
    assert run(capsys, "node", "add", "pacs", "--dimse", f"127.0.0.1:{orthanc.dicom_port}", "--aet", orthanc.aet) \
        == (0, f"saved pacs: 127.0.0.1:{orthanc.dicom_port} ({orthanc.aet})\n", "")
    assert run(capsys, "node", "add", "web", "--dicomweb", orthanc.dicomweb_url, "--user", orthanc.user,
               "--password-env", "ORTHANC_PASSWORD")[0] == 0


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("echoviewer: "), err
    return lines[0].removeprefix("echoviewer: ")


def test_nodes_are_added_listed_and_removed_without_showing_the_password(orthanc, nodes, capsys,
                                                                         private_data_dir) -> None:
    code, out, _ = run(capsys, "node", "list")
    assert code == 0 and orthanc.password not in out
    assert out.splitlines()[1:] == [
        f"pacs  dimse     127.0.0.1:{orthanc.dicom_port} (ORTHANC)",
        f"web   dicomweb  {orthanc.dicomweb_url}  user {orthanc.user}"]
    book = private_data_dir / "pacs_nodes.json"
    assert stat.S_IMODE(book.stat().st_mode) == 0o600 and orthanc.password in book.read_text()
    assert run(capsys, "node", "remove", "web") == (0, "removed web\n", "")
    assert [line.split()[0] for line in run(capsys, "node", "list")[1].splitlines()] == ["NAME", "pacs"]
    code, _, err = run(capsys, "node", "remove", "web")
    assert code == 2 and error_line(err) == ("no PACS node named 'web' (known: pacs); add one with "
                                             "'echoviewer pacs node add'")


@pytest.mark.parametrize("argv, message", [
    (["--dimse", "127.0.0.1:104"], "--dimse needs --aet, the PACS's AE title"),
    (["--dimse", "pacs-without-port", "--aet", "PACS"], "--dimse takes HOST:PORT"),
    (["--dicomweb", "http://pacs/dicom-web", "--aet", "PACS"], "--aet and --calling-aet are for --dimse"),
    (["--dicomweb", "http://pacs/dicom-web", "--user", "u", "--password-env", "UNSET_VARIABLE_FOR_TEST"],
     "the environment variable UNSET_VARIABLE_FOR_TEST is not set or empty"),
])
def test_a_node_that_cannot_work_is_a_usage_error(capsys, argv, message) -> None:
    code, _, err = run(capsys, "node", "add", "x", *argv)
    assert code == 2 and error_line(err).startswith(message)


def test_echo_both_nodes_and_a_node_that_is_down(orthanc, nodes, capsys) -> None:
    assert run(capsys, "echo", "pacs") == (0, f"pacs (127.0.0.1:{orthanc.dicom_port} (ORTHANC)) answered\n", "")
    assert run(capsys, "echo", "web")[:2] == (0, f"web ({orthanc.dicomweb_url}) answered\n")
    port = free_port()
    run(capsys, "node", "add", "down", "--dimse", f"127.0.0.1:{port}", "--aet", "ORTHANC")
    code, out, err = run(capsys, "echo", "down")
    assert (code, out) == (1, "") and error_line(err) == (
        f"cannot connect to 127.0.0.1:{port}: connection refused; is the PACS running and the port right?")
    code, _, err = run(capsys, "echo", "nowhere")
    assert code == 2 and "no PACS node named 'nowhere'" in error_line(err)


@pytest.mark.parametrize("node", ["pacs", "web"])
def test_find_prints_a_table_or_json_lines(nodes, stored, capsys, node) -> None:
    code, out, err = run(capsys, "find", node, "--patient-id", "EV-CLI-1", "--modality", "US")
    header, row = out.splitlines()
    assert code == 0 and err == f"1 study found on {node}\n"
    assert header.split() == ["DATE", "PATIENT", "ID", "PATIENT", "NAME", "ACCESSION", "MODALITIES", "SERIES",
                              "INSTANCES", "DESCRIPTION", "STUDY", "UID"]
    assert row.split() == ["20240202", "EV-CLI-1", "Cli^Patient", "ACC-CLI-1", "US", "1", "1", stored.StudyInstanceUID]
    code, out, _ = run(capsys, "find", node, "--name", "cli*", "--from", "20240201", "--to", "20240203", "--json")
    [study] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and (study["study_uid"], study["patient_id"], study["n_instances"]) == (
        stored.StudyInstanceUID, "EV-CLI-1", 1)
    code, out, _ = run(capsys, "find", node, "--series", stored.StudyInstanceUID, "--json")
    [series] = [json.loads(line) for line in out.splitlines()]
    assert (series["series_uid"], series["description"], series["frame_counts"], series["n_frames"]) == (
        stored.SeriesInstanceUID, "CLI cine", [6], 6)
    code, out, err = run(capsys, "find", node, "--patient-id", "NOBODY-HERE")
    assert (code, out.splitlines()[1:], err) == (0, [], f"0 studies found on {node}\n")
    code, _, err = run(capsys, "find", node, "--from", "2024-02-01")
    assert code == 2 and error_line(err) == "date_from must be a date as YYYYMMDD; got '2024-02-01'"
    code, _, err = run(capsys, "find", node, "--series", stored.StudyInstanceUID, "--modality", "US")
    assert code == 2 and error_line(err) == "--series lists one study's series: it takes no search keys"


@pytest.mark.parametrize("node", ["pacs", "web"])
def test_get_prints_the_folders_it_retrieved(nodes, stored, capsys, tmp_path, node) -> None:
    code, out, err = run(capsys, "get", node, stored.StudyInstanceUID, "--series", stored.SeriesInstanceUID,
                         "--cache", str(tmp_path))
    [series] = finished_series(tmp_path)
    assert (code, out) == (0, f"{series.folder}\n") and series.n_frames == 6
    assert pydicom.dcmread(series.files[0]).PixelData == stored.PixelData
    assert run(capsys, "get", node, stored.StudyInstanceUID)[:2] == (0, f"{cache_dir() / series.folder.relative_to(tmp_path)}\n")
    unknown = pydicom.uid.generate_uid()
    code, out, err = run(capsys, "get", node, unknown)
    assert (code, out) == (1, "") and error_line(err) == (
        f"nothing found on {node} for study {unknown}; check the UID (echoviewer pacs find)")
    code, _, err = run(capsys, "get", node, "not-a-uid")
    assert code == 2 and error_line(err).startswith("'not-a-uid' is not a DICOM UID")


@pytest.mark.parametrize("node", ["pacs", "web"])
def test_ctrl_c_during_get_keeps_nothing(nodes, stored, capsys, monkeypatch, tmp_path, node) -> None:
    class CtrlC(tqdm):
        """Ctrl-C once the first instance has arrived (for DIMSE, from the network thread)."""

        def update(self, n: float | None = 1) -> bool | None:
            signal.raise_signal(signal.SIGINT)
            return super().update(n)

    monkeypatch.setattr(echoviewer.cli.pacs, "tqdm", CtrlC)
    code, out, err = run(capsys, "get", node, stored.StudyInstanceUID, "--cache", str(tmp_path))
    assert (code, out) == (130, "") and error_line(err) == "cancelled; nothing of the unfinished retrieve was kept"
    assert finished_series(tmp_path) == [] and list((tmp_path / PARTIAL).iterdir()) == []


@pytest.mark.parametrize("node", ["pacs", "web"])
def test_send_stores_files_and_refuses_what_is_not_dicom(nodes, capsys, tmp_path, node) -> None:
    patient = f"EV-CLI-SEND-{node}"
    path = cine(tmp_path / "send.dcm", 3, PatientID=patient, PatientName="Sent^Cine")
    assert run(capsys, "send", node, str(path))[:2] == (0, f"sent 1 file(s) to {node}\n")
    code, out, _ = run(capsys, "find", "web" if node == "pacs" else "pacs", "--patient-id", patient, "--json")
    assert json.loads(out)["study_uid"] == pydicom.dcmread(path).StudyInstanceUID
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = run(capsys, "send", node, str(path), str(tmp_path / "notes.txt"))
    assert (code, out) == (2, "") and error_line(err) == f"{tmp_path / 'notes.txt'}: not a DICOM file (no DICM " \
                                                         "preamble and file meta)"


def test_the_pacs_commands_load_neither_qt_nor_torch() -> None:
    code = ("import sys; from echoviewer.cli.main import main; assert main(['pacs', 'node', 'list']) == 0; "
            "print(sorted(m for m in ('PySide6', 'torch', 'distill') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == "[]", result.stderr
