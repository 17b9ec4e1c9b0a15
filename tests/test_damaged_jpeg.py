"""Issue 20 (8): damaged frames inside a DICOM that still loads are counted and flagged
(``frames_damaged``), and libjpeg's raw warnings never reach stderr: one line per file at most."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import RLELossless

from echoviewer.analysis import analyze, load_model
from echoviewer.io import load_cine
from echoviewer.io.libjpeg_warnings import LibjpegWarnings
from tests.helpers import moving_frames, recompress, write_dicom

DAMAGED = (2, 6)


def _with_frames(path: Path, change) -> Path:
    """The file with its encapsulated frames replaced by ``change(index, frame)``."""
    ds = pydicom.dcmread(path)
    frames = generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames))
    ds.PixelData = encapsulate([change(index, frame) for index, frame in enumerate(frames)])
    ds.save_as(path)
    return path


def _scrambled(index: int, frame: bytes) -> bytes:
    """The frames in DAMAGED lose 200 bytes from the middle of their entropy-coded data: every
    marker stays in place, so only libjpeg, decoding, can tell ("Corrupt JPEG data: premature end
    of data segment"). Bytes overwritten in place are not always seen even by libjpeg."""
    if index not in DAMAGED:
        return frame
    middle = len(frame) // 2
    return frame[:middle] + frame[middle + 200:]


def _jpeg_cine(tmp_path: Path, colour: bool = False) -> tuple[Path, Path]:
    frames = moving_frames(n_frames=10, rows=96, cols=128, colour=colour)
    intact = write_dicom(tmp_path / "intact.dcm", frames, compression="jpeg")
    damaged = write_dicom(tmp_path / "damaged.dcm", frames, compression="jpeg")
    return intact, _with_frames(damaged, _scrambled)


def test_corrupt_jpeg_frames_are_counted_kept_and_silent(tmp_path, capfd) -> None:
    intact_path, damaged_path = _jpeg_cine(tmp_path)
    intact, cine = load_cine(intact_path), load_cine(damaged_path)
    assert cine.metadata.decoder == "opencv" and cine.metadata.damaged_frames == DAMAGED
    assert intact.metadata.damaged_frames == ()
    others = [i for i in range(10) if i not in DAMAGED]
    np.testing.assert_array_equal(cine.frames[others], intact.frames[others])
    assert cine.damage_summary() == "2 of 10 frames damaged (JPEG data corrupt): frames 2, 6"
    assert cine.describe()["frames_damaged"] == [2, 6]
    assert capfd.readouterr().err == ""  # libjpeg said nothing on stderr


def test_a_truncated_jpeg_frame_keeps_what_it_holds(tmp_path) -> None:
    frames = moving_frames(n_frames=6, rows=96, cols=128)
    path = _with_frames(write_dicom(tmp_path / "cut.dcm", frames, compression="jpeg"),
                        lambda index, frame: frame[: len(frame) * 2 // 3] if index == 3 else frame)
    cine = load_cine(path)
    assert cine.metadata.decoder == "opencv" and cine.metadata.damaged_frames == (3,)
    # its first rows are intact, the rest is what libjpeg makes of the missing data
    assert np.abs(cine.frames[3, :16].astype(int) - frames[3, :16]).mean() < 3


def test_damaged_colour_frames_are_shown_without_a_word_on_stderr(tmp_path, capfd) -> None:
    _, path = _jpeg_cine(tmp_path, colour=True)
    cine = load_cine(path)
    assert cine.colour is not None and cine.metadata.damaged_frames == DAMAGED
    for index in range(cine.n_frames):
        assert cine.display_frame(index).shape == (96, 128, 3)
    assert capfd.readouterr().err == ""


def test_info_says_it_in_one_stderr_line_per_file(tmp_path) -> None:
    intact, damaged = _jpeg_cine(tmp_path)
    result = subprocess.run([sys.executable, "-m", "echoviewer", "info", str(damaged), str(intact)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stderr == "echoviewer: damaged.dcm: 2 of 10 frames damaged (JPEG data corrupt): frames 2, 6\n"
    described = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["frames_damaged"] for d in described] == [[2, 6], []]


def test_the_analysis_flags_the_damaged_frames(tmp_path) -> None:
    _, path = _jpeg_cine(tmp_path)
    flags = {flag.code: flag for flag in analyze(load_cine(path), load_model("student")).flags}
    flag = flags["frames_damaged"]
    assert flag.severity == "warning" and flag.frames == list(DAMAGED)  # so the CLI line names it
    assert flag.message.startswith("2 of 10 frames damaged (JPEG data corrupt): frames 2, 6;")


def test_an_undecodable_frame_in_the_decode_worker_costs_only_that_frame(tmp_path) -> None:
    frames = moving_frames(n_frames=5)
    plain = write_dicom(tmp_path / "plain.dcm", frames, compression="none")
    rle = recompress(plain, tmp_path / "rle.dcm", RLELossless)
    # An RLE header whose first segment starts past the frame's end: no decoder takes it.
    bad = _with_frames(rle, lambda index, frame: frame[:4] + bytes([0, 0, 1, 0]) + frame[8:] if index == 2 else frame)
    cine = load_cine(bad)
    assert cine.metadata.decoder == "pydicom" and cine.metadata.damaged_frames == (2,)
    np.testing.assert_array_equal(cine.frames[[0, 1, 3, 4]], frames[[0, 1, 3, 4]])
    np.testing.assert_array_equal(cine.frames[2], frames[1])  # shown as the nearest intact frame
    assert "undecodable" in cine.damage_summary()


def test_captured_output_that_is_not_libjpeg_s_still_reaches_stderr(capfd) -> None:
    with LibjpegWarnings() as warnings:
        os.write(2, b"Corrupt JPEG data: 3 extraneous bytes before marker 0xd9\n")
        os.write(2, b"another thread's line\n")
        assert warnings.damaged() == 1
        os.write(2, b"Premature end of JPEG file\n")
    assert capfd.readouterr().err == "another thread's line\n"
