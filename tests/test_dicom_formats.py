"""Transfer syntaxes, photometric interpretations and SOP classes, on files written here."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless, SecondaryCaptureImageStorage

from echoviewer.io import dicom_jpeg, load_cine
from tests.helpers import moving_frames, recompress, write_dicom


def test_uncompressed_grey_roundtrip_is_exact(tmp_path) -> None:
    frames = moving_frames()
    cine = load_cine(write_dicom(tmp_path / "grey.dcm", frames, compression="none"))
    assert np.array_equal(cine.frames, frames)
    assert cine.rgb is None and cine.metadata.photometric == "MONOCHROME2"


def test_uncompressed_rgb_keeps_colour_and_grey(tmp_path) -> None:
    frames = moving_frames(colour=True)
    cine = load_cine(write_dicom(tmp_path / "rgb.dcm", frames, compression="none"))
    assert np.array_equal(cine.rgb, frames)
    assert np.abs(cine.frames[:, :-6].astype(int) - frames[:, :-6, :, 0]).max() <= 1


def test_grey_content_stored_as_rgb_has_no_colour_copy(tmp_path) -> None:
    grey = moving_frames()
    cine = load_cine(write_dicom(tmp_path / "rgb.dcm", np.repeat(grey[..., None], 3, -1),
                                 compression="none"))
    assert cine.rgb is None and np.array_equal(cine.frames, grey)


@pytest.mark.parametrize("colour", [False, True])
def test_jpeg_baseline_fast_path_matches_pydicom(tmp_path, monkeypatch, colour) -> None:
    path = write_dicom(tmp_path / "jpeg.dcm", moving_frames(colour=colour), compression="jpeg")
    fast = load_cine(path)
    monkeypatch.setattr(dicom_jpeg, "decode", lambda *args: None)  # force the fallback
    slow = load_cine(path)
    assert (fast.metadata.decoder, slow.metadata.decoder) == ("opencv", "pydicom")
    assert np.abs(fast.frames.astype(int) - slow.frames).mean() < 2.0
    if colour:
        assert np.abs(fast.rgb.astype(int) - slow.rgb).mean() < 2.0


def test_jpeg_baseline_is_close_to_the_original(tmp_path) -> None:
    frames = moving_frames(colour=True)
    cine = load_cine(write_dicom(tmp_path / "jpeg.dcm", frames, compression="jpeg", quality=95))
    assert cine.metadata.photometric == "YBR_FULL_422"
    assert np.abs(cine.rgb.astype(int) - frames).mean() < 3.0


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
@pytest.mark.parametrize("colour", [False, True])
def test_lossless_syntaxes_decode_exactly(tmp_path, syntax, colour) -> None:
    frames = moving_frames(colour=colour)
    plain = write_dicom(tmp_path / "plain.dcm", frames, compression="none")
    cine = load_cine(recompress(plain, tmp_path / "packed.dcm", syntax))
    assert cine.metadata.transfer_syntax_uid == str(syntax)
    expected = load_cine(plain)
    assert np.array_equal(cine.frames, expected.frames)


def test_monochrome1_is_inverted(tmp_path) -> None:
    frames = moving_frames()
    path = write_dicom(tmp_path / "m1.dcm", frames, compression="none")
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(path)
    assert np.array_equal(load_cine(path).frames, 255 - frames)


def test_sixteen_bit_grey_is_scaled_over_the_whole_cine(pydicom_data) -> None:
    cine = load_cine(pydicom_data / "emri_small.dcm")
    big_endian = load_cine(pydicom_data / "emri_small_big_endian.dcm")
    assert cine.frames.shape == (10, 64, 64) and cine.frames.max() == 255
    assert np.array_equal(cine.frames, big_endian.frames)


def test_single_frame_secondary_capture_is_a_one_frame_cine(tmp_path) -> None:
    path = write_dicom(tmp_path / "sc.dcm", moving_frames(n_frames=1), compression="none")
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    del ds.NumberOfFrames, ds.FrameTime, ds.FrameIncrementPointer, ds.CineRate
    ds.save_as(path)
    cine = load_cine(path)
    assert cine.n_frames == 1 and cine.metadata.sop_class_name == "Secondary Capture Image Storage"
    assert cine.timing.assumed and cine.timing.duration_s > 0


def test_patient_identifiers_kept_apart_and_never_in_repr_or_summary(tmp_path) -> None:
    path = write_dicom(tmp_path / "named.dcm", moving_frames(), compression="none")
    ds = pydicom.dcmread(path)
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-123456"
    ds.save_as(path)
    cine = load_cine(path)
    assert cine.identifiers.patient_name == "Doe^Jane"
    assert cine.identifiers.patient_id == "MRN-123456"
    for text in (repr(cine), str(cine.identifiers), repr(cine.identifiers), str(cine.describe())):
        assert "Doe" not in text and "MRN-123456" not in text


def test_a_transfer_syntax_pydicom_does_not_know_is_said_to_be_unknown_not_damaged(tmp_path) -> None:
    """Issue 20 (9): a real GE Vivid JPEG XL file, newer than pydicom, was reported as "damaged or
    truncated" (JPEG XL itself is decoded now: tests/test_jpeg_xl.py)."""
    from echoviewer.io import CineLoadError
    from echoviewer.io.preview import first_frame
    from echoviewer.resources import SAMPLE_CINE

    from pydicom.filebase import DicomFileLike
    from pydicom.filewriter import write_dataset, write_file_meta_info

    ds = pydicom.dcmread(SAMPLE_CINE)
    uid = "1.2.840.10008.1.2.4.199"  # not (yet) a transfer syntax
    ds.file_meta.TransferSyntaxUID = uid
    path = tmp_path / "future.dcm"
    with open(path, "wb") as handle:  # written by parts: pydicom's save_as refuses an unknown syntax
        handle.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(handle, ds.file_meta, enforce_standard=True)
        body = DicomFileLike(handle)
        body.is_little_endian, body.is_implicit_VR = True, False
        write_dataset(body, ds)
    with pytest.raises(CineLoadError) as raised:
        load_cine(path)
    message = str(raised.value)
    assert f"a transfer syntax this pydicom does not know ({uid}), which echoviewer cannot decode" in message
    assert "damaged" not in message
    assert first_frame(path) is None  # no preview, no traceback


def test_number_of_frames_0_loads_as_one_frame_and_says_so(tmp_path) -> None:
    """Issue 20 (9): ``NumberOfFrames = 0`` loaded silently as one frame."""
    from echoviewer.analysis import analyze, load_model

    path = write_dicom(tmp_path / "zero.dcm", moving_frames(1, 64, 80, seed=2), fps=25.0, compression="none")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 0
    ds.save_as(path)
    cine = load_cine(path)
    assert cine.n_frames == 1
    (note,) = cine.describe()["header_notes"]
    assert "NumberOfFrames is 0" in note and "read as one frame" in note
    flags = {flag.code: flag.message for flag in analyze(cine, load_model("student")).flags}
    assert flags["header_damaged"] == note
