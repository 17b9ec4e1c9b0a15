"""``echoviewer analyze`` at cohort scale: Dask workers give the serial results, ``--out`` resumes.

A handful of small cines (the bundled sample twice, two simulated discs, one empty file); each
Dask run starts its own local cluster (a few seconds), so only two of them run here.
"""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from helpers import lock_held_by_a_killed_process, moving_frames, write_dicom

from echoviewer import batch
from echoviewer.cli import main
from echoviewer.resources import SAMPLE_CINE

GOOD = ["a_a4c.dcm", "b_a4c.dcm", "disc0.dcm", "disc1.dcm"]
SALT = "5a" * 32  # one salt for every run here, so the study keys of two runs match


@pytest.fixture(autouse=True)
def same_salt(private_data_dir) -> None:
    (private_data_dir / "salt").write_text(SALT)


def analyze(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["analyze", *map(str, args)])
    return status, out.getvalue(), err.getvalue()


def without_time(line: str) -> dict:
    """A result line less the one field that differs between runs: when it was exported."""
    result = json.loads(line)
    del result["provenance"]["exported_utc"]
    return result


def sorted_lines(path: Path) -> list[str]:
    return sorted(path.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    for name in GOOD[:2]:
        shutil.copy(SAMPLE_CINE, folder / name)
    for seed in (0, 1):
        write_dicom(folder / f"disc{seed}.dcm", moving_frames(24, 64, 80, seed=seed))
    return folder


@pytest.fixture(scope="module")
def serial(cohort, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("serial")
    (out / "data").mkdir()
    (out / "data" / "salt").write_text(SALT)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECHOVIEWER_DATA_DIR", str(out / "data"))
        status, stdout, err = analyze(cohort, "--out", out / "dir", "--json", out / "all.json", "--masks",
                                      out / "masks.npz", "--masks-out")
    return {"status": status, "out": stdout, "err": err, "dir": out / "dir", "root": out}


def test_serial_run_streams_every_table_into_the_folder(serial) -> None:
    assert serial["status"] == 0, serial["err"]
    folder = serial["dir"]
    assert len(serial["out"].splitlines()) == len(GOOD)
    assert len(sorted_lines(folder / "results.jsonl")) == len(GOOD)
    assert (folder / "failed.jsonl").read_text() == ""
    assert len(list((folder / "masks").glob("*.npz"))) == len(GOOD)
    frames = sorted_lines(folder / "frames.csv")
    assert len(frames) == 1 + sum(json.loads(line)["frames"] for line in sorted_lines(folder / "results.jsonl"))
    document = json.loads((serial["root"] / "all.json").read_text())
    assert [Path(cine["file"]).name for cine in document["cines"]] == GOOD  # the files' order


@pytest.mark.parametrize("where", [("--workers", "2"), ("--cluster", "local")], ids=["workers", "cluster"])
def test_dask_workers_give_the_serial_results(serial, cohort, tmp_path, where) -> None:
    status, stdout, err = analyze(cohort, *where, "--out", tmp_path / "dir", "--json", tmp_path / "all.json",
                                  "--masks", tmp_path / "masks.npz")
    assert status == 0, err
    assert sorted(stdout.splitlines()) == sorted(serial["out"].splitlines())
    for table in ("frames.csv", "beats.csv"):
        assert sorted_lines(tmp_path / "dir" / table) == sorted_lines(serial["dir"] / table)
    mine, theirs = (sorted(map(without_time, sorted_lines(d / "results.jsonl")), key=lambda r: r["file"])
                    for d in (tmp_path / "dir", serial["dir"]))
    assert mine == theirs
    documents = [json.loads(path.read_text()) for path in (tmp_path / "all.json", serial["root"] / "all.json")]
    for document in documents:
        for cine in document["cines"]:
            del cine["provenance"]["exported_utc"]
    assert documents[0] == documents[1]
    with np.load(tmp_path / "masks.npz") as mine_masks, np.load(serial["root"] / "masks.npz") as serial_masks:
        assert sorted(mine_masks.files) == sorted(serial_masks.files)
        assert all(np.array_equal(mine_masks[key], serial_masks[key]) for key in serial_masks.files)


def manifest_entries(folder: Path) -> list[str]:
    return (folder / "manifest.jsonl").read_text().splitlines()


def test_a_rerun_redoes_only_the_damaged_and_the_missing(serial, cohort, tmp_path) -> None:
    folder = tmp_path / "dir"
    shutil.copytree(serial["dir"], folder)
    before = len(manifest_entries(folder))
    results = sorted((folder / "results").glob("*.json"))
    results[0].write_text(results[0].read_text()[:100])  # damaged: cut short
    results[1].unlink()  # missing
    with open(folder / "manifest.jsonl", "a") as manifest:
        manifest.write('{"key": "' + results[2].stem + '", "sha256": "00')  # a line cut by a kill
    status, stdout, err = analyze(cohort, "--out", folder, "--masks-out")
    assert status == 0, err
    assert f"skipped {len(GOOD) - 2}: analysed before" in err
    entries = manifest_entries(folder)
    assert len(entries) == before + 1 + 2  # the cut line, then the two redone
    assert all(json.loads(line) for line in entries[before + 1:])
    assert len(stdout.splitlines()) == len(GOOD) and len(sorted_lines(folder / "results.jsonl")) == len(GOOD)
    assert sorted_lines(folder / "beats.csv") == sorted_lines(serial["dir"] / "beats.csv")



def test_a_failing_cine_is_one_line_listed_and_retried(cohort, tmp_path) -> None:
    folder = tmp_path / "cines"
    shutil.copytree(cohort, folder)
    (folder / "empty.dcm").write_bytes(b"")
    status, stdout, err = analyze(folder, "--out", tmp_path / "dir")
    assert status == 1 and len(stdout.splitlines()) == len(GOOD)
    errors = [line for line in err.splitlines() if "empty.dcm" in line]
    assert len(errors) == 2 and errors[1].startswith("not analysed (1): empty.dcm")  # as it failed, at the end
    assert err.splitlines()[-1] == f"{len(GOOD)} of {len(GOOD) + 1} analysed; 1 failed"
    (failure,) = map(json.loads, sorted_lines(tmp_path / "dir" / "failed.jsonl"))
    assert failure["file"] == str(folder / "empty.dcm")
    shutil.copy(SAMPLE_CINE, folder / "empty.dcm")  # mended: the next run retries it
    status, stdout, err = analyze(folder, "--out", tmp_path / "dir")
    assert status == 0 and f"skipped {len(GOOD)}" in err and len(stdout.splitlines()) == len(GOOD) + 1
    assert (tmp_path / "dir" / "failed.jsonl").read_text() == ""


def test_an_interrupted_write_never_counts_as_done(cohort, tmp_path, monkeypatch) -> None:
    calls = []

    def interrupted_fsync(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == 3:  # the second cine's result file, half written: Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(batch.os, "fsync", interrupted_fsync)
    status, _, err = analyze(cohort, "--out", tmp_path / "dir")
    assert status == 130 and "resume" in err
    assert len(manifest_entries(tmp_path / "dir")) == 1
    assert len(list((tmp_path / "dir" / "results").iterdir())) == 1  # no partial file left behind
    monkeypatch.undo()
    status, _, err = analyze(cohort, "--out", tmp_path / "dir")
    assert status == 0 and "skipped 1:" in err
    assert len(manifest_entries(tmp_path / "dir")) == len(GOOD)


def test_temporaries_a_killed_run_left_are_removed_by_the_next(serial, cohort, tmp_path) -> None:
    folder = tmp_path / "dir"
    shutil.copytree(serial["dir"], folder)
    left = [folder / "results" / ".a_a4c-0123.json.4242-beef.partial", folder / "masks" / ".x.npz.4242-beef.partial.npz"]
    for stale in left:  # what kill -9 leaves mid-write
        stale.write_bytes(b"half")
    status, _, err = analyze(cohort, "--out", folder, "--masks-out")
    assert status == 0, err
    assert not any(stale.exists() for stale in left)
    assert f"skipped {len(GOOD)}" in err


def test_a_second_run_on_a_folder_being_written_is_refused_and_a_dead_holder_does_not_lock_it(cohort, tmp_path) -> None:
    import fcntl

    folder = tmp_path / "dir"
    folder.mkdir()
    with open(folder / ".analyze.lock", "a+") as held:  # another analyze writes it now
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        status, stdout, err = analyze(cohort, "--out", folder)
        assert status == 2 and stdout == ""
        assert err.strip() == (f"echoviewer: --out {folder} is in use by another process (pid 4242); "
                               "wait for it to end or choose another folder")
        assert not (folder / "manifest.jsonl").exists()
    lock_held_by_a_killed_process(folder / ".analyze.lock")
    status, _, err = analyze(cohort, "--out", folder)
    assert status == 0, err


def test_one_odd_file_or_a_model_failure_is_that_cines_failure_and_the_rest_are_written(tmp_path, monkeypatch) -> None:
    """Issue 20 (3): an NPZ with fps=1e308, a DICOM with FrameTime=1e-300 and a run-time failure
    of the model used to end the batch with a traceback and no JSON or CSV at all."""
    import pydicom

    folder = tmp_path / "cines"
    folder.mkdir()
    np.savez(folder / "fps.npz", frames=moving_frames(12, 64, 64, seed=1), fps=np.float64(1e308))
    ds = pydicom.dcmread(SAMPLE_CINE)
    ds.FrameTime = "1e-300"
    ds.save_as(folder / "frame_time.dcm")
    shutil.copy(SAMPLE_CINE, folder / "good.dcm")
    shutil.copy(SAMPLE_CINE, folder / "runtime.dcm")
    real = batch.analyze

    def failing(cine, model, **kwargs):
        if cine.path.name == "runtime.dcm":
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code")
        return real(cine, model, **kwargs)

    monkeypatch.setattr(batch, "analyze", failing)
    status, out, err = analyze(folder, "--json", tmp_path / "out.json", "--csv", tmp_path / "out.csv")
    assert status == 1 and "Traceback" not in err
    failure_lines = [line for line in err.splitlines() if "runtime.dcm" in line and "RUNTIME_EXCEPTION" in line]
    assert len(failure_lines) == 1 and "could not be analysed (RuntimeError" in failure_lines[0]
    document = json.loads((tmp_path / "out.json").read_text())
    assert sorted(Path(c["file"]).name for c in document["cines"]) == ["fps.npz", "frame_time.dcm", "good.dcm"]
    assert [Path(f["file"]).name for f in document["failed"]] == ["runtime.dcm"]
    timing = {Path(c["file"]).name: c for c in document["cines"]}
    # the implausible rates are ignored: the NPZ's 30 fps assumed, the DICOM's next source (CineRate)
    assert (timing["fps.npz"]["fps"], timing["fps.npz"]["fps_source"]) == (30.0, "assumed")
    assert (timing["frame_time.dcm"]["fps"], timing["frame_time.dcm"]["fps_source"]) == (30.0, "CineRate")
    assert (tmp_path / "out.csv").is_file() and (tmp_path / "out_beats.csv").is_file()
