"""``python -m distill generate``: the dataset folders it writes, read back as a user would.

Tiny runs (a few short clips); the simulator's look may be retuned, so nothing here depends on
grey values, only on the files, their agreement with the simulator's truth and the command's
promises (determinism, refusal, resume, Ctrl-C).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from distill.cli import main
from distill.datasets import EchoNetFolder, load_npz, mask_from_tracing
from distill.datasets.echonet import SPLITS
from distill.generate import DICOM_SIZES
from distill.synth.simulator import simulate
from echoviewer.io import load_cine
from tests.helpers import ctrl_c_child

ROOT = Path(__file__).resolve().parents[1]
FILELIST_HEADER = "FileName,EF,ESV,EDV,FrameHeight,FrameWidth,FPS,NumberOfFrames,Split"
N, FRAMES = 3, 16
NAMES = [f"synth_{i:06d}" for i in range(N)]


def generate(out: Path, *extra: str, n: int = N, frames: int = FRAMES, seed: int = 0) -> int:
    return main(["generate", "--out", str(out), "--n", str(n), "--frames", str(frames),
                 "--seed", str(seed), "--progress", "none", *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by relative path."""
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def partials(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if "partial" in path.name]


def videos(folder: Path) -> list[Path]:
    """Finished videos: pathlib's glob also matches the hidden ``.<name>.<pid>.partial.avi``."""
    return sorted(path for path in folder.glob("Videos/*.avi") if not path.name.startswith("."))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    return err


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One small EchoNet-format run that tests only read (or copy before changing)."""
    out = tmp_path_factory.mktemp("gen") / "synth"
    assert generate(out) == 0
    return out


@pytest.fixture
def copy(run, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


# --- the EchoNet folder ------------------------------------------------------------------------

def test_echonet_folder_has_every_file_and_echonets_tables(run) -> None:
    for name in NAMES:
        assert (run / "Videos" / f"{name}.avi").stat().st_size > 1000
        assert (run / "Masks" / f"{name}.npz").is_file()
    assert (run / "synth.json").is_file() and not partials(run)
    lines = (run / "FileList.csv").read_text().splitlines()
    assert lines[0] == FILELIST_HEADER and len(lines) == N + 1
    rows = read_rows(run / "FileList.csv")
    assert [row["FileName"] for row in rows] == NAMES  # no ".avi" in the FileList
    for row in rows:
        assert row["Split"] in SPLITS
        assert (row["FrameHeight"], row["FrameWidth"], row["NumberOfFrames"]) == ("112", "112", str(FRAMES))
        assert 5 < float(row["EF"]) < 95 and 0 < float(row["ESV"]) < float(row["EDV"])
        assert 15 <= float(row["FPS"]) <= 150

    lines = (run / "VolumeTracings.csv").read_text().splitlines()
    assert lines[0] == "FileName,X1,Y1,X2,Y2,Frame"
    tracings = read_rows(run / "VolumeTracings.csv")
    per_frame = Counter((row["FileName"], int(row["Frame"])) for row in tracings)
    assert set(per_frame.values()) == {21}
    assert sorted({name for name, _ in per_frame}) == [f"{name}.avi" for name in NAMES]
    assert Counter(name for name, _ in per_frame) == {f"{name}.avi": 2 for name in NAMES}
    assert all(0 <= frame < FRAMES for _, frame in per_frame)
    coordinates = np.array([[float(row[k]) for k in ("X1", "Y1", "X2", "Y2")] for row in tracings])
    assert (coordinates > -1).all() and (coordinates < 113).all()


def test_echonet_folder_reads_back_with_its_truth(run) -> None:
    folder = EchoNetFolder(run)
    assert folder.layout == "echonet" and [r.name for r in folder.records] == NAMES
    for index, record in enumerate(folder.records):
        cine = load_cine(record.path)
        assert cine.n_frames == FRAMES and cine.frames.shape[:3] == (FRAMES, 112, 112)
        # MJPEG AVIs written by OpenCV hold a whole number of frames per second, so the
        # container says round(FPS); the FileList keeps the exact rate (see the report).
        assert cine.timing.fps == pytest.approx(record.fps, abs=0.01)
        frames, fps = folder.read_video(record)
        assert fps == record.fps and frames.shape[0] == FRAMES

        truth = folder.truth(record.name)
        assert truth is not None and truth.masks.shape == (FRAMES, 112, 112)
        assert truth.fps == record.fps and truth.ef == pytest.approx(record.ef, abs=0.01)
        expected = simulate([0, index], height=112, width=112, n_frames=FRAMES)  # case i = seed [seed, i]
        assert np.array_equal(truth.masks, expected.masks)
        assert truth.fps == expected.fps
        assert np.abs(frames.astype(np.int16) - expected.frames).mean() < 4  # lossy MJPEG, same cine

        arrays = load_npz(run / "Masks" / f"{record.name}.npz")
        ed, es = (int(f) for f in arrays["tracing_frames"])
        volumes = arrays["volumes_ml"]
        assert volumes[ed] > volumes[es]
        traced = folder.traced(record.name)
        assert traced is not None and (traced.ed_frame, traced.es_frame) == (ed, es)
        assert truth.masks[ed].sum() > truth.masks[es].sum()
        for frame, rows in ((ed, traced.ed_rows), (es, traced.es_rows)):
            assert rows.shape == (21, 4)
            assert dice(mask_from_tracing(rows, (112, 112)), truth.masks[frame]) >= 0.9


# --- determinism, refusal and resume -----------------------------------------------------------

@pytest.mark.slow
def test_same_seed_gives_identical_files_whatever_the_workers(run, tmp_path) -> None:
    out = tmp_path / "two_workers"
    simulate(0, n_frames=4)  # OpenCV's thread pool is busy in this process before the workers start
    assert generate(out, "--workers", "2") == 0
    assert snapshot(out) == snapshot(run)
    other = tmp_path / "other_seed"
    assert generate(other, n=1, seed=1) == 0
    assert (other / "Videos/synth_000000.avi").read_bytes() != (run / "Videos/synth_000000.avi").read_bytes()


def test_refuses_a_non_empty_folder_without_resume(copy, tmp_path, capsys) -> None:
    before = snapshot(copy)
    assert generate(copy) == 2
    assert "--resume" in error_line(capsys)
    assert snapshot(copy) == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert generate(foreign) == 2
    assert "--resume" in error_line(capsys)
    assert generate(foreign, "--resume") == 2  # no manifest: not a generate folder
    assert "synth.json" in error_line(capsys)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("change, setting", [(["--seed", "1"], "seed"), (["--frames", "9"], "frames"),
                                             (["--n", "4"], "n"), (["--format", "dicom"], "format")])
def test_refuses_to_resume_with_other_settings(copy, capsys, change, setting) -> None:
    before = snapshot(copy)
    argv = ["generate", "--out", str(copy), "--n", str(N), "--frames", str(FRAMES), "--seed", "0",
            "--progress", "none", "--resume", *change]
    assert main(argv) == 2
    message = error_line(capsys)
    assert setting in message and "--resume" in message
    assert snapshot(copy) == before


def test_resume_rebuilds_missing_files_byte_for_byte_and_clears_partials(run, copy) -> None:
    (copy / "Videos" / "synth_000001.avi").unlink()
    (copy / "Masks" / "synth_000002.npz").unlink()
    (copy / "FileList.csv").unlink()
    stale = [copy / "Videos" / ".synth_000001.4242.partial.avi", copy / "Masks" / ".synth_000002.npz.4242.partial",
             copy / ".VolumeTracings.csv.4242.partial"]
    for path in stale:
        path.write_bytes(b"half a file")
    assert generate(copy, "--resume") == 0
    assert not partials(copy)
    assert snapshot(copy) == snapshot(run)


def test_a_folder_killed_before_its_manifest_starts_again_resumed_or_not(run, tmp_path) -> None:
    for resume in ((), ("--resume",)):
        out = tmp_path / f"killed{len(resume)}"
        (out / "Masks").mkdir(parents=True)  # what prepare_folder makes just before synth.json
        (out / "Videos").mkdir()
        (out / "Masks" / ".synth_000000.npz.4242-0a1b2c3d.partial").write_bytes(b"half")
        assert generate(out, *resume) == 0
        assert snapshot(out) == snapshot(run)


def test_resume_of_a_complete_folder_changes_nothing(run, copy) -> None:
    assert generate(copy, "--resume") == 0
    assert snapshot(copy) == snapshot(run)


# --- Ctrl-C ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_leaves_complete_cases_only_and_resume_finishes(tmp_path, workers) -> None:
    n, frames = 12, 24
    out = tmp_path / "synth"
    argv = ["generate", "--out", str(out), "--n", str(n), "--frames", str(frames), "--seed", "3",
            "--workers", str(workers), "--progress", "none"]
    # a terminal's Ctrl-C reaches the whole process group, workers included
    returncode, err = ctrl_c_child(argv, lambda: bool(videos(out)), group=True, timeout=60)
    assert returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert not partials(out)
    finished = videos(out)
    assert 1 <= len(finished) < n
    for video in finished:  # a video is there only when its case is complete
        assert (out / "Masks" / f"{video.stem}.npz").is_file()
        assert load_cine(video).n_frames == frames
    for npz in out.glob("Masks/*.npz"):
        assert load_npz(npz)["masks"].shape == (frames, 112, 112)
    assert not (out / "FileList.csv").exists()

    if workers == 1:
        assert main([*argv, "--resume"]) == 0
    else:
        resumed = subprocess.run([sys.executable, "-m", "distill", *argv, "--resume"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
    assert not partials(out)
    assert len(videos(out)) == len(list(out.glob("Masks/*.npz"))) == n
    assert [row["FileName"] for row in read_rows(out / "FileList.csv")] == [f"synth_{i:06d}" for i in range(n)]
    folder = EchoNetFolder(out)
    assert all(folder.traced(r.name) is not None and load_cine(r.path).n_frames == frames for r in folder.records)


# --- DICOM -------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("compression", ["jpeg", "none"])
def test_dicom_cines_carry_the_truths_calibration_and_rate(tmp_path, compression) -> None:
    out = tmp_path / "dicom"
    assert generate(out, "--format", "dicom", "--compression", compression, n=1, frames=8) == 0
    path = out / "synth_000000.dcm"
    cine = load_cine(path)
    truth = load_npz(out / "Masks" / "synth_000000.npz")
    frames, height, width = (int(x) for x in truth["shape"])
    assert (height, width) in DICOM_SIZES  # a scanner's native size, not EchoNet's 112x112
    assert frames == cine.n_frames == 8 and cine.frames.shape[:3] == (8, height, width)
    assert truth["masks"].shape == (8, height, width)
    assert cine.calibration is not None
    assert cine.calibration.cm_per_px_x == pytest.approx(float(truth["cm_per_px"]), rel=1e-6)
    assert cine.calibration.cm_per_px_y == pytest.approx(float(truth["cm_per_px"]), rel=1e-6)
    assert cine.timing.fps == pytest.approx(float(truth["fps"]), abs=0.01)
    row, = read_rows(out / "FileList.csv")
    assert (row["FrameHeight"], row["FrameWidth"], row["NumberOfFrames"]) == (str(height), str(width), "8")
    assert not (out / "Videos").exists() and not (out / "VolumeTracings.csv").exists()
    grey = cine.frames if cine.frames.ndim == 3 else cine.frames[..., 0]
    expected = simulate([0, 0], height=height, width=width, n_frames=8)
    assert np.array_equal(truth["masks"].astype(bool), expected.masks)
    difference = np.abs(grey.astype(np.int16) - expected.frames)
    if compression == "none":
        assert difference.max() == 0
    else:
        assert difference.mean() < 3


# --- progress and errors -----------------------------------------------------------------------

def test_json_progress_lines_on_stdout(tmp_path, capsys) -> None:
    argv = ["generate", "--out", str(tmp_path / "p"), "--n", "2", "--frames", "4", "--progress", "json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) >= 2
    assert all(line["stage"] == "generate" and line["total"] == 2 for line in lines)
    done = [line["done"] for line in lines]
    assert done[0] == 0 and done[-1] == 2 and done == sorted(done)
    assert "generate" not in captured.err  # no bar on stderr in JSON mode


@pytest.mark.parametrize("argv", [["--n", "0"], ["--n", "1", "--workers", "0"], ["--n", "1", "--size", "8"]])
def test_bad_arguments_give_one_error_line_and_exit_2(tmp_path, capsys, argv) -> None:
    out = tmp_path / "never"
    assert main(["generate", "--out", str(out), "--progress", "none", *argv]) == 2
    error_line(capsys)
    assert not out.exists()


def test_an_unwritable_output_path_gives_one_error_line(tmp_path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["generate", "--out", str(blocker / "inside"), "--n", "1", "--progress", "none"]) == 2
    assert "a_file" in error_line(capsys)


def test_realism_reports_an_unreadable_real_cine_in_one_line(tmp_path, capsys) -> None:
    assert generate(tmp_path / "set", n=1) == 0
    not_a_cine = tmp_path / "notes.txt"
    not_a_cine.write_text("hello")
    assert main(["realism", str(not_a_cine), str(tmp_path / "set")]) == 2
    assert "notes.txt" in error_line(capsys)


def test_a_two_chamber_share_draws_that_share_of_the_simulated_cines_and_is_a_setting(run, tmp_path, capsys) -> None:
    assert "a2c_share" not in json.loads((run / "synth.json").read_text())  # absent at 0: old folders resume
    out = tmp_path / "biplane"
    assert generate(out, "--a2c-share", "1") == 0
    views = {json.loads(str(np.load(path)["params_json"]))["view"] for path in (out / "Masks").glob("*.npz")}
    assert views == {"A2C"} and json.loads((out / "synth.json").read_text())["a2c_share"] == 1.0
    assert generate(out, "--resume") == 2 and "a2c_share" in error_line(capsys)  # another setting
    assert generate(tmp_path / "bad", "--a2c-share", "1.5") == 2 and "--a2c-share" in error_line(capsys)


def test_a_hazy_share_brightens_the_blood_pool_of_that_share_of_cines(run, tmp_path) -> None:
    out = tmp_path / "hazy"
    assert generate(out, "--hazy-share", "1") == 0
    hazy = [json.loads(str(np.load(path)["params_json"])) for path in sorted((out / "Masks").glob("*.npz"))]
    plain = [json.loads(str(np.load(path)["params_json"])) for path in sorted((run / "Masks").glob("*.npz"))]
    assert all(6 <= h["blood_db"] <= 20 and h["apical_haze_db"] >= -14 for h in hazy)  # far less dark blood
    assert all(h["gain_db"] > p["gain_db"] for h, p in zip(hazy, plain))
    assert all(h["heart_rate_bpm"] == p["heart_rate_bpm"] for h, p in zip(hazy, plain))  # the same hearts
    assert json.loads((out / "synth.json").read_text())["hazy_share"] == 1.0
