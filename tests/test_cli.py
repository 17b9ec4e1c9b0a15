"""The echoviewer command line as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from echoviewer.cli import main
from tests.helpers import ROOT

INFO_KEYS = {"file", "frames", "width", "height", "fps", "fps_source", "duration_s",
             "calibration", "region", "transfer_syntax"}


def test_info_prints_one_json_line_per_file(capsys, pydicom_data, sample_cine_path) -> None:
    assert main(["info", str(pydicom_data / "color3d_jpeg_baseline.dcm"), str(sample_cine_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert INFO_KEYS <= first.keys()
    assert (first["frames"], first["width"], first["height"]) == (120, 640, 480)
    assert first["fps"] == pytest.approx(30.0, abs=0.01) and first["fps_source"] == "FrameTime"
    assert first["duration_s"] == pytest.approx(4.0, abs=0.01)
    assert first["calibration"]["cm_per_px_x"] == pytest.approx(0.05105, abs=1e-5)
    assert first["calibration"]["source"].startswith("US region")
    assert first["region"] == {"x0": 84, "y0": 31, "x1": 595, "y1": 414,
                               "source": first["calibration"]["source"]}
    assert first["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert second["calibration"] is not None and second["frames"] > 1


def test_info_uncalibrated_gives_null_and_the_reason(capsys, pydicom_data) -> None:
    assert main(["info", str(pydicom_data / "US1_UNCR.dcm")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["calibration"] is None and "no Sequence of Ultrasound Regions" in info["calibration_note"]
    assert info["fps_source"] == "assumed" and info["fps_assumed"] is True


def test_info_help_explains_the_keys() -> None:
    result = subprocess.run([sys.executable, "-m", "echoviewer", "info", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for word in ("fps_source", "calibration", "region", "Exit status"):
        assert word in result.stdout


@pytest.mark.slow
def test_echoviewer_without_arguments_opens_the_bundled_sample(tmp_path) -> None:
    shot = tmp_path / "window.png"
    result = subprocess.run([sys.executable, "-m", "echoviewer", "--screenshot", str(shot)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_main_py_starts_the_same_way(sample_cine_path, tmp_path) -> None:
    shot = tmp_path / "window.png"
    result = subprocess.run([sys.executable, "main.py", "--screenshot", str(shot), str(sample_cine_path)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_screenshot_of_a_file_that_cannot_load_says_why_and_fails(tmp_path) -> None:
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    shot = tmp_path / "window.png"
    result = subprocess.run([sys.executable, "-m", "echoviewer", "--screenshot", str(shot), str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "broken.dcm" in result.stderr
    assert shot.exists()  # the window still rendered, with the message in its status bar


@pytest.mark.slow
def test_echoviewer_on_a_folder_lists_its_cines_and_opens_the_first(tmp_path, sample_cine_path) -> None:
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(sample_cine_path, folder / "a.dcm")
    shot = tmp_path / "window.png"
    result = subprocess.run([sys.executable, "-m", "echoviewer", "--screenshot", str(shot), str(folder)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes().startswith(b"\x89PNG")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    result = subprocess.run([sys.executable, "-m", "echoviewer", "--screenshot", str(shot), str(broken)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "a.dcm" in result.stderr  # the folder's first cine was opened
