"""The LV masks as a DICOM SEG: what a PACS files and a viewer reads back."""

from __future__ import annotations

import getpass
import shutil
import socket
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import SegmentationStorage, UltrasoundImageStorage

from echoviewer import __version__
from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.contour import Contour
from echoviewer.dicom_results import (Algorithm, DicomResultsError, read_seg, reference_for, result_paths,
                                      write_results, write_seg)
from echoviewer.io import load_cine
from echoviewer.io.dicom_writer import write_ultrasound_cine
from echoviewer.resources import SAMPLE_CINE

IDENTIFIERS = {"PatientName": "Doe^Jane", "PatientID": "ID-4711", "PatientBirthDate": "19600101",
               "PatientSex": "F", "StudyDate": "20240102", "StudyTime": "101500", "StudyID": "S-1",
               "AccessionNumber": "ACC-9", "ReferringPhysicianName": "Who^Referred"}


@pytest.fixture(scope="module")
def analysis():
    return analyze(load_cine(SAMPLE_CINE), load_model("student"))


@pytest.fixture(scope="module")
def named_source(tmp_path_factory) -> Path:
    """The sample cine (same pixels and SOP Instance UID) with a patient and a study filled in."""
    ds = pydicom.dcmread(SAMPLE_CINE)
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    path = tmp_path_factory.mktemp("source") / "patient_a4c.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def edited(analysis):
    """The analysis with the reader's contour on the first beat's ED frame (its apex moved up)."""
    ed = analysis.beats[0].ed_frame
    contour = Contour.from_mask(analysis.native_mask(ed))
    assert contour is not None
    x, y = contour.points[contour.apex]
    return analysis.with_contours({ed: contour.moved(contour.apex, x, y - 12)})


@pytest.fixture(scope="module")
def written(tmp_path_factory, named_source, edited) -> list[Path]:
    return write_results(named_source, edited, tmp_path_factory.mktemp("results"), reader="Zoë Reader")


def algorithm() -> Algorithm:
    return Algorithm.of(load_model("student"))


def test_write_results_names_the_files_after_the_source_and_leaves_nothing_half_written(written, named_source) -> None:
    folder = written[0].parent
    assert written == list(result_paths(named_source, folder))
    assert [p.name for p in written] == ["patient_a4c_seg.dcm", "patient_a4c_sr.dcm"]
    assert sorted(p.name for p in folder.iterdir()) == ["patient_a4c_seg.dcm", "patient_a4c_sr.dcm"]


def test_a_batch_names_the_files_by_the_stem_it_gives(tmp_path, named_source, analysis) -> None:
    written = write_results(named_source, analysis, tmp_path, stem="2_patient_a4c")
    assert [p.name for p in written] == ["2_patient_a4c_seg.dcm", "2_patient_a4c_sr.dcm"]
    assert not read_seg(written[0]).manual  # no contour drawn: the model's masks, AUTOMATIC


def test_round_trip_gives_back_every_frames_mask_and_marks_the_edited_frame(written, edited) -> None:
    ref = read_seg(written[0], source_sop_instance_uid=edited.cine.identifiers.sop_instance_uid)
    masks = edited.native_masks()
    assert sorted(ref.masks) == list(range(edited.cine.n_frames))
    assert all(np.array_equal(ref.masks[i], masks[i]) and ref.masks[i].dtype == bool for i in ref.masks)
    ed = edited.beats[0].ed_frame
    assert not np.array_equal(ref.masks[ed], edited.segmentation.native_mask(ed))  # the contour, not the model
    assert ref.manual and ref.manual_frames == frozenset({ed})
    assert ref.label == "Left ventricle cavity" and ref.algorithm == "echoviewer"
    assert ref.source_sop_instance_uid == edited.cine.identifiers.sop_instance_uid
    ds = pydicom.dcmread(written[0])
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert "1 frame(s) edited by the reader" in ds.SeriesDescription
    assert ds.ContentCreatorName == "Zoë Reader^" and ds.SpecificCharacterSet == "ISO_IR 192"  # UTF-8


def test_every_seg_frame_references_its_source_frame_and_highdicom_reads_it(written, edited) -> None:
    source = pydicom.dcmread(SAMPLE_CINE, stop_before_pixels=True)
    ds = pydicom.dcmread(written[0])
    assert written[0].read_bytes()[128:132] == b"DICM"  # a DICOM file (preamble, file meta), not a bare dataset
    assert ds.file_meta.MediaStorageSOPClassUID == SegmentationStorage
    assert (ds.SOPClassUID, ds.Modality, ds.SegmentationType, ds.BitsAllocated) == (
        SegmentationStorage, "SEG", "BINARY", 1)
    series = ds.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == source.SeriesInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    for index, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        item = group.DerivationImageSequence[0].SourceImageSequence[0]
        assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID, item.ReferencedFrameNumber) == (
            source.SOPClassUID, source.SOPInstanceUID, index + 1)
        assert item.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        assert group.SegmentIdentificationSequence[0].ReferencedSegmentNumber == 1
    seg = hd.seg.segread(written[0])
    ed = edited.beats[0].ed_frame
    pixels = seg.get_pixels_by_source_frame(source.SOPInstanceUID, source_frame_numbers=[ed + 1, 1])
    assert np.array_equal(pixels[0, ..., 0], edited.native_mask(ed))
    assert np.array_equal(pixels[1, ..., 0], edited.native_mask(0))
    segment = seg.get_segment_description(1)
    assert segment.segmented_property_type.value == "87878005"
    assert segment.segmented_property_category.value == "91723000"


def test_the_seg_files_into_the_sources_patient_and_study_as_a_new_series(written) -> None:
    ds = pydicom.dcmread(written[0])
    for keyword, value in IDENTIFIERS.items():
        assert str(ds[keyword].value) == value, keyword
    cine = pydicom.dcmread(SAMPLE_CINE, stop_before_pixels=True)
    assert ds.StudyInstanceUID == cine.StudyInstanceUID
    assert ds.SeriesInstanceUID != cine.SeriesInstanceUID and ds.SOPInstanceUID != cine.SOPInstanceUID
    assert (ds.Manufacturer, ds.SoftwareVersions, ds.SeriesNumber) == ("echoviewer", __version__, 901)


def test_type_2_patient_and_study_attributes_are_present_and_empty_when_the_source_has_none(tmp_path) -> None:
    out = write_seg(SAMPLE_CINE, {0: np.zeros((480, 640), bool)}, tmp_path / "seg.dcm", algorithm=algorithm())
    ds = pydicom.dcmread(out)
    assert all(keyword in ds and not ds[keyword].value for keyword in IDENTIFIERS)


def test_the_algorithm_its_model_and_sha256_are_recorded(tmp_path) -> None:
    model = load_model("student")
    masks = {frame: np.random.default_rng(frame).random((480, 640)) > 0.6 for frame in (0, 7, 59)}
    out = write_seg(SAMPLE_CINE, masks, tmp_path / "seg.dcm", algorithm=algorithm())
    segment = pydicom.dcmread(out).SegmentSequence[0]
    identification = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    assert (identification.AlgorithmName, identification.AlgorithmVersion) == ("echoviewer", __version__)
    assert f"model_sha256={model.sha256}" in identification.AlgorithmParameters
    assert model.name in identification.AlgorithmParameters
    assert identification.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"  # Artificial Intelligence
    ref = read_seg(out)
    assert not ref.manual and ref.manual_frames == frozenset() and sorted(ref.masks) == [0, 7, 59]
    assert all(np.array_equal(ref.masks[f], masks[f]) for f in masks)


def test_masks_drawn_by_hand_alone_are_a_manual_segment(tmp_path) -> None:
    mask = np.zeros((480, 640), bool)
    mask[100:200, 300:400] = True
    out = write_seg(SAMPLE_CINE, {3: mask}, tmp_path / "seg.dcm", algorithm=None, manual_frames=frozenset({3}))
    assert pydicom.dcmread(out).SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    ref = read_seg(out)
    assert ref.algorithm is None and ref.manual and ref.manual_frames == frozenset({3})
    assert np.array_equal(ref.masks[3], mask)


@pytest.mark.parametrize("n_frames", [5, 1])
def test_a_tiny_cine_whose_frames_are_not_whole_bytes_round_trips_and_so_does_a_single_frame_image(
        tmp_path, n_frames) -> None:
    rng = np.random.default_rng(n_frames)
    source = write_ultrasound_cine(tmp_path / "tiny.dcm", (rng.random((n_frames, 21, 27)) * 255).astype(np.uint8),
                                   fps=30, compression="none")
    if n_frames == 1:  # an Ultrasound Image, not a multi-frame one: its frames have no number
        ds = pydicom.dcmread(source)
        del ds.NumberOfFrames, ds.FrameIncrementPointer
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UltrasoundImageStorage
        ds.save_as(source, enforce_file_format=True)
    masks = {frame: rng.random((21, 27)) > 0.5 for frame in range(n_frames)}  # 567 bits a frame
    out = write_seg(source, masks, tmp_path / "seg.dcm", algorithm=algorithm())
    item = pydicom.dcmread(out).PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert ("ReferencedFrameNumber" in item) == (n_frames > 1)
    ref = read_seg(out)
    assert sorted(ref.masks) == list(range(n_frames))
    assert all(np.array_equal(ref.masks[f], masks[f]) for f in masks)


@pytest.mark.parametrize("name, content, kind", [
    ("cine.npz", b"PK\x03\x04" + bytes(200), "a NumPy array file"),
    ("cine.avi", b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(200), "a video")])
def test_a_source_that_is_not_dicom_is_refused_in_one_line(tmp_path, name, content, kind) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(DicomResultsError) as error:
        write_seg(source, {0: np.zeros((4, 4), bool)}, tmp_path / "seg.dcm", algorithm=algorithm())
    assert str(error.value) == f"DICOM SEG and SR need a DICOM source; {name} is {kind}"
    assert not (tmp_path / "seg.dcm").exists()


def test_masks_off_the_cines_grid_or_frames_are_refused(tmp_path) -> None:
    with pytest.raises(DicomResultsError, match="on the cine's own pixel grid"):
        write_seg(SAMPLE_CINE, {0: np.zeros((112, 112), bool)}, tmp_path / "seg.dcm", algorithm=algorithm())
    with pytest.raises(DicomResultsError, match="has frames 0-59"):
        write_seg(SAMPLE_CINE, {60: np.zeros((480, 640), bool)}, tmp_path / "seg.dcm", algorithm=algorithm())
    assert list(tmp_path.iterdir()) == []


def test_a_seg_of_another_cine_is_refused_on_read(written) -> None:
    with pytest.raises(DicomResultsError) as error:
        read_seg(written[0], source_sop_instance_uid="1.2.826.0.1.3680043.8.498.1")
    message = str(error.value)
    assert message == ("patient_a4c_seg.dcm was made from another cine, not this one; open it with the cine "
                       "it segments")


def test_files_that_are_not_an_lv_seg_are_refused(tmp_path, written) -> None:
    with pytest.raises(DicomResultsError, match="is not a DICOM Segmentation"):
        read_seg(SAMPLE_CINE)
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM at all\n")
    with pytest.raises(DicomResultsError, match="is not a DICOM file that can be read"):
        read_seg(text)
    ds = pydicom.dcmread(written[0])
    code = ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0]
    code.CodeValue, code.CodeMeaning = "53085002", "Right ventricle"
    other = tmp_path / "rv_seg.dcm"
    ds.save_as(other, enforce_file_format=True)
    with pytest.raises(DicomResultsError, match="rv_seg.dcm has no left-ventricle segment"):
        read_seg(other)


def test_a_seg_is_shown_only_on_the_cine_it_was_made_from(tmp_path, written, edited) -> None:
    reference = reference_for(written[0], edited.cine)
    assert np.array_equal(reference.masks[5], edited.native_mask(5))
    other = load_cine(write_ultrasound_cine(tmp_path / "other.dcm", edited.cine.frames[:3], fps=30))
    with pytest.raises(DicomResultsError, match="was made from another cine, not this one"):
        reference_for(written[0], other)
    shorter = replace(edited.cine, frames=edited.cine.frames[:10])  # the same instance, fewer frames
    with pytest.raises(DicomResultsError, match="does not fit sample_a4c.dcm"):
        reference_for(written[0], shorter)
    np.savez(tmp_path / "frames.npz", frames=edited.cine.frames[:3])
    with pytest.raises(DicomResultsError, match="frames.npz is not a DICOM cine"):
        reference_for(written[0], load_cine(tmp_path / "frames.npz"))


def forbidden_text(*extra: str) -> list[str]:
    """What must never appear in a written element: paths, the host and the user of this machine."""
    words = [str(Path.cwd()), str(SAMPLE_CINE.parent), str(load_model("student").path.parent),
             socket.gethostname(), getpass.getuser(), *extra]
    return [w for w in words if len(w) >= 4]


def text_values(ds: pydicom.Dataset) -> list[str]:
    """Every value of ``ds`` that is text, nested sequences included (bulk binary data skipped)."""
    return [str(e.value) for e in ds.iterall() if e.VR not in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN")]


def test_no_file_path_host_or_user_name_is_written(written, named_source) -> None:
    values = text_values(pydicom.dcmread(written[0]))
    forbidden = forbidden_text(str(named_source.parent), named_source.stem, str(written[0].parent))
    assert [(w, v) for v in values for w in forbidden if w in v] == []


def test_a_folder_lists_its_cines_not_their_seg_and_sr_and_a_seg_does_not_open_as_a_cine(written, named_source) -> None:
    from echoviewer.io import CineLoadError, find_cines
    from echoviewer.io.loader import is_segmentation

    folder = written[0].parent
    shutil.copy(named_source, folder / "cine.dcm")
    assert find_cines(folder) == [folder / "cine.dcm"]  # SEG and SR sit beside it, unlisted
    assert is_segmentation(written[0]) and not is_segmentation(written[1]) and not is_segmentation(named_source)
    with pytest.raises(CineLoadError, match="is a DICOM Segmentation .SEG., not a cine: open its cine"):
        load_cine(written[0])


def test_results_are_never_written_over_their_source(tmp_path, named_source, analysis) -> None:
    source = tmp_path / "a_seg.dcm"  # a cine whose name is what its own SEG would be called with stem "a"
    shutil.copy(named_source, source)
    before = source.read_bytes()
    with pytest.raises(DicomResultsError, match="is the source cine itself"):
        write_results(source, analysis, tmp_path, stem="a")
    assert source.read_bytes() == before
