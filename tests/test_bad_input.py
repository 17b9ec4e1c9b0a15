"""Every kind of bad input gives one typed loader error with a one-line message, in the API and
in the CLI (stderr, non-zero exit, never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import MPEG4HP41, ExplicitVRLittleEndian, generate_uid

from echoviewer.io import (CineLoadError, CorruptDataError, EmptyFileError, FileMissingError,
                           NoPixelDataError, NotAFileError, UnrecognisedFormatError,
                           UnsupportedTransferSyntaxError, VideoOpenError, load_cine)
from echoviewer.io import dicom as dicom_module
from tests.helpers import moving_frames, write_dicom


def _report_without_pixels(path: Path) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.save_as(path, enforce_file_format=True)
    return path


def _mpeg_dicom(path: Path, source: Path) -> Path:
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.save_as(path)
    return path


def _bad_files(tmp_path: Path, pydicom_data: Path) -> dict[str, tuple[Path, type[CineLoadError], str]]:
    jpeg = write_dicom(tmp_path / "ok.dcm", moving_frames(n_frames=6), compression="jpeg")
    data = jpeg.read_bytes()
    (tmp_path / "notes.dcm").write_text("Echo report: EF 55 %, normal LV size.\n" * 20)
    (tmp_path / "half.dcm").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "broken.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    (tmp_path / "folder").mkdir()
    return {
        "not dicom": (tmp_path / "notes.dcm", UnrecognisedFormatError, "not a DICOM"),
        "no pixel data": (_report_without_pixels(tmp_path / "sr.dcm"), NoPixelDataError, "no image data"),
        "unsupported syntax": (_mpeg_dicom(tmp_path / "mpeg.dcm", jpeg), UnsupportedTransferSyntaxError, "MPEG-4"),
        "truncated": (tmp_path / "half.dcm", CorruptDataError, "half.dcm"),
        "zero bytes": (tmp_path / "empty.dcm", EmptyFileError, "empty"),
        "bad video": (tmp_path / "broken.avi", VideoOpenError, "video"),
        "directory": (tmp_path / "folder", NotAFileError, "folder"),
        "missing": (tmp_path / "nope.dcm", FileMissingError, "no such file"),
    }


CASES = ["not dicom", "no pixel data", "unsupported syntax", "truncated", "zero bytes",
         "bad video", "directory", "missing"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_one_typed_error_with_one_line(tmp_path, pydicom_data, case) -> None:
    path, error_type, fragment = _bad_files(tmp_path, pydicom_data)[case]
    with pytest.raises(error_type) as info:
        load_cine(path)
    message = str(info.value)
    assert fragment in message and "\n" not in message and len(message) < 300


def test_missing_decoder_names_the_plugin_to_install(monkeypatch, pydicom_data) -> None:
    class Unavailable:
        is_available = False

    monkeypatch.setattr(dicom_module, "get_decoder", lambda uid: Unavailable())
    with pytest.raises(UnsupportedTransferSyntaxError, match="pip install pylibjpeg-openjpeg"):
        load_cine(pydicom_data / "US1_J2KR.dcm")


def test_cli_reports_each_bad_file_on_one_stderr_line(tmp_path, pydicom_data, sample_cine_path) -> None:
    files = _bad_files(tmp_path, pydicom_data)
    paths = [str(sample_cine_path)] + [str(files[case][0]) for case in CASES]
    result = subprocess.run([sys.executable, "-m", "echoviewer", "info", *paths],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(CASES) and all(line.startswith("echoviewer: ") for line in errors)
    assert len(result.stdout.strip().splitlines()) == 1  # the good file still printed


@pytest.mark.slow
def test_cli_open_of_a_bad_file_fails_cleanly(tmp_path) -> None:
    """The window opens and says why in its status bar; rendered off-screen it exits 1 with the
    same line on stderr."""
    (tmp_path / "x.dcm").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "echoviewer", "--screenshot", str(tmp_path / "w.png"),
                             str(tmp_path / "x.dcm")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "empty" in result.stderr


def test_damaged_file_meta_is_reported_as_damage_not_as_a_report(pydicom_data, tmp_path) -> None:
    data = bytearray((pydicom_data / "color3d_jpeg_baseline.dcm").read_bytes())
    data[200] ^= 0xFF  # a length inside the file meta
    (tmp_path / "meta.dcm").write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="damaged"):
        load_cine(tmp_path / "meta.dcm")


def test_damaged_numpy_header_is_not_mistaken_for_pickled_objects(tmp_path) -> None:
    np.save(tmp_path / "cine.npy", moving_frames())
    data = bytearray((tmp_path / "cine.npy").read_bytes())
    data[0] ^= 0x01
    (tmp_path / "cine.npy").write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="NumPy"):
        load_cine(tmp_path / "cine.npy")


def test_malformed_jpeg_header_is_kept_from_any_native_decoder(tmp_path) -> None:
    path = write_dicom(tmp_path / "cine.dcm", moving_frames(n_frames=3), compression="jpeg")
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0", data.index(b"\xff\xc0") + 2)  # frame 1's frame header
    data[sof + 4] = 79  # sample precision 8 → 79: gdcm segfaulted on this
    path.write_bytes(bytes(data))
    cine = load_cine(path)  # the frame is never handed to gdcm; the other two load
    assert cine.metadata.damaged_frames == (1,) and cine.metadata.decoder == "pydicom"
    np.testing.assert_array_equal(cine.frames[1], cine.frames[0])  # shown as the nearest intact frame
    for at in range(0, len(data) - 1):  # every frame's header damaged: nothing to show
        if data[at:at + 2] == b"\xff\xc0":
            data[at + 4] = 79
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="frame 0 is damaged"):
        load_cine(path)


def test_messages_never_carry_control_characters() -> None:
    error = CorruptDataError("bad UID 1.2.\x1b[31mred\x07\nsecond line")
    assert str(error) == "bad UID 1.2.?[31mred? second line"


def _mutated(source: Path, target: Path, overwrites: dict[int, str]) -> Path:
    data = bytearray(source.read_bytes())
    for offset, hex_bytes in overwrites.items():
        data[offset:offset + len(bytes.fromhex(hex_bytes))] = bytes.fromhex(hex_bytes)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("seed, overwrites, what", [
    # gdcm aborts the process on this damaged JPEG-LS stream (found by fuzzing).
    ("emri_small_jpeg_ls_lossless.dcm", {2238: "ff5c", 20018: "ff51"}, "crashed"),
    # gdcm aborts when BitsAllocated (8 → 24) disagrees with an intact JPEG Lossless stream.
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", {1774: "18"}, "crashed"),
    # gdcm aborts on one damaged byte of JPEG 2000 packet data: no header check can see it.
    ("emri_small_jpeg_2k_lossless.dcm", {21576: "44"}, "crashed"),
    # openjpeg allocates without end on this damaged JPEG 2000 stream (18 GB in 24 s).
    ("US1_J2KR.dcm", {1451: "ff00"}, "cannot be decoded"),
])
def test_native_decoder_failure_costs_only_that_file(pydicom_data, tmp_path, seed, overwrites, what) -> None:
    bad = _mutated(pydicom_data / seed, tmp_path / "bad.dcm", overwrites)
    with pytest.raises(CorruptDataError, match=what):
        load_cine(bad)
    assert load_cine(pydicom_data / seed).n_frames >= 1  # the next file decodes as before


def test_a_video_of_an_unknown_codec_says_one_line_and_opencv_nothing(tmp_path) -> None:
    """bench/mutate.py: a damaged codec tag made OpenCV log "Could not find decoder" lines on stderr
    beside the loader's own line."""
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (80, 64))
    for frame in moving_frames(n_frames=5):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    path.write_bytes(path.read_bytes().replace(b"MJPG", b"XXXX"))
    result = subprocess.run([sys.executable, "-m", "echoviewer", "info", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == ("echoviewer: clip.avi: OpenCV cannot open this video (unknown container or codec); "
                             "convert it to MP4 (H.264) or AVI (MJPEG)\n")
