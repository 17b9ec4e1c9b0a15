"""The measurements as a DICOM SR (TID 1500): every value, unit, code and frame a PACS reader sees."""

from __future__ import annotations

import getpass
import socket
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.multival import MultiValue
from pydicom.uid import ComprehensiveSRStorage

from echoviewer import __version__
from echoviewer.analysis import load_model
from echoviewer.analysis.biplane import Biplane, view_disks
from echoviewer.dicom_results import Algorithm, DicomResultsError, write_sr
from echoviewer.io import load_cine
from echoviewer.io.dicom_writer import write_ultrasound_cine
from echoviewer.resources import SAMPLE_CINE

from tests import test_dicom_seg
from tests.test_dicom_seg import IDENTIFIERS

analysis, named_source = test_dicom_seg.analysis, test_dicom_seg.named_source  # the SEG tests' fixtures
DISKS, AREA_LENGTH, BIPLANE_DISKS = "125208", "125205", "125207"
# The standard code (value, scheme), unit (UCUM), method and the frames of each measure of an A4C beat.
A4C = {
    "ed_area": ("399109006", "SCT", "cm2", None, ("ed",)),
    "es_area": ("399030000", "SCT", "cm2", None, ("es",)),
    "fac_percent": ("399287000", "SCT", "%", None, ("ed", "es")),
    "ed_length": ("18077-8", "LN", "cm", None, ("ed",)),
    "es_length": ("18076-0", "LN", "cm", None, ("es",)),
    "edv_disks": ("79999-9", "LN", "ml", DISKS, ("ed",)),
    "esv_disks": ("80004-5", "LN", "ml", DISKS, ("es",)),
    "ef_disks_percent": ("79993-2", "LN", "%", DISKS, ("ed", "es")),
    "edv_area_length": ("18026-5", "LN", "ml", AREA_LENGTH, ("ed",)),
    "esv_area_length": ("18148-7", "LN", "ml", AREA_LENGTH, ("es",)),
    "ef_area_length_percent": ("18043-0", "LN", "%", AREA_LENGTH, ("ed", "es")),
    "heart_rate_bpm": ("8867-4", "LN", "{H.B.}/min", None, ("ed", "next_ed")),
}
# What a cine without calibration and without a named view reports: the view-less codes.
UNITLESS = {"fac_percent": ("399287000", None), "ef_disks_percent": ("18043-0", DISKS),
            "ef_area_length_percent": ("18043-0", AREA_LENGTH), "heart_rate_bpm": ("8867-4", None)}
MEAN, SD = "373098007", "386136009"


@pytest.fixture(scope="module")
def algorithm() -> Algorithm:
    return Algorithm.of(load_model("student"))


@pytest.fixture(scope="module")
def report(tmp_path_factory, named_source, analysis, algorithm) -> Path:
    return write_sr(named_source, analysis, tmp_path_factory.mktemp("sr") / "sr.dcm", algorithm=algorithm,
                    reader="Zoë Reader")


def groups(path: Path) -> dict[str, hd.sr.MeasurementsAndQualitativeEvaluations]:
    sr = hd.sr.srread(path)
    return {group.tracking_identifier: group for group in sr.content.get_image_measurement_groups()}


def numbers(group) -> dict[tuple[str, str | None, str | None], hd.sr.Measurement]:
    """The group's measurements by (code value, method code, derivation code)."""
    found = {}
    for m in group.get_measurements():
        key = (m.name.value, m.method.value if m.method else None, m.derivation.value if m.derivation else None)
        assert key not in found, key
        found[key] = m
    return found


def frames(measurement: hd.sr.Measurement) -> list[int]:
    referenced = [image.ReferencedSOPSequence[0] for image in measurement.referenced_images]
    values = [item.ReferencedFrameNumber for item in referenced]
    return sorted(int(f) for v in values for f in (v if isinstance(v, MultiValue) else [v]))


def text_items(measurement: hd.sr.Measurement, code: str) -> list[str]:
    return [item.TextValue for item in measurement[0].ContentSequence
            if item.ConceptNameCodeSequence[0].CodeValue == code]


def code_items(measurement: hd.sr.Measurement, code: str) -> list[str]:
    return [item.ConceptCodeSequence[0].CodeValue for item in measurement[0].ContentSequence
            if item.ConceptNameCodeSequence[0].CodeValue == code]


def test_every_beats_measurements_are_the_analysis_values_with_standard_codes_and_ucum_units(report, analysis) -> None:
    found = groups(report)
    beats = analysis.as_dict()["beats"]
    assert set(found) == {f"beat {i}" for i in range(1, len(beats) + 1)} | {f"mean of {len(beats)} beat(s)"}
    for index, beat in enumerate(beats, 1):
        group = found[f"beat {index}"]
        assert group.finding_type.value == "87878005"
        measured = numbers(group)
        present = {field: spec for field, spec in A4C.items() if beat[field] is not None}
        assert len(measured) == len(present)  # the last beat has no heart rate (no next ED)
        for field, (code, scheme, unit, method, _) in present.items():
            m = measured[(code, method, None)]
            assert (m.name.scheme_designator, m.unit.value, m.unit.scheme_designator) == (scheme, unit, "UCUM")
            assert m.value == beat[field], (index, field)


def test_each_measurement_references_the_source_frames_it_was_measured_on(report, analysis) -> None:
    uid, found = analysis.cine.identifiers.sop_instance_uid, groups(report)
    for index, beat in enumerate(analysis.beats, 1):
        later = [f for f in sorted(analysis.ed_frames) if f > beat.ed_frame]
        at = {"ed": beat.ed_frame + 1, "es": beat.es_frame + 1, "next_ed": later[0] + 1 if later else None}
        measured = numbers(found[f"beat {index}"])
        for field, (code, _, _, method, on) in A4C.items():
            if getattr(beat, field) is None:
                continue
            m = measured[(code, method, None)]
            assert frames(m) == sorted(at[phase] for phase in on), field
            assert all(image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == uid for image in m.referenced_images)
            phase = {("ed",): ["416190007"], ("es",): ["416430001"]}.get(on, [])  # SCT end diastole / systole
            assert code_items(m, "272518008") == phase, field
            assert code_items(m, "111031") == ["399214001"]  # image view: apical four chamber


def test_a_two_chamber_cine_names_its_volumes_and_view_as_a2c(tmp_path, analysis, algorithm) -> None:
    cine = replace(analysis.cine, metadata=replace(analysis.cine.metadata, view="A2C"))  # as --pair names it
    found = groups(write_sr(SAMPLE_CINE, replace(analysis, cine=cine), tmp_path / "sr.dcm", algorithm=algorithm))
    measured = numbers(found["beat 1"])
    beat = analysis.as_dict()["beats"][0]
    for field, code in (("edv_disks", "79998-1"), ("esv_disks", "80003-7"), ("ef_disks_percent", "79992-4")):
        assert measured[(code, DISKS, None)].value == beat[field]
        assert code_items(measured[(code, DISKS, None)], "111031") == ["399232001"]  # apical two chamber


def test_the_summary_is_the_mean_and_sd_over_the_beats(report, analysis) -> None:
    summary = analysis.as_dict()["summary"]
    measured = numbers(groups(report)[f"mean of {len(analysis.beats)} beat(s)"])
    for field, (code, _, _, method, _) in A4C.items():
        assert measured[(code, method, MEAN)].value == summary[field]["mean"], field
        if summary[field]["sd"] is not None:
            assert measured[(code, method, SD)].value == summary[field]["sd"], field


def test_every_measurement_names_the_algorithm_version_and_model_sha256(report, algorithm) -> None:
    for group in groups(report).values():
        for m in group.get_measurements():
            assert text_items(m, "111001") == ["echoviewer"] and text_items(m, "111003") == [__version__]
            assert f"model_sha256={algorithm.model_sha256}" in text_items(m, "111002")
            assert f"model={algorithm.model_name}" in text_items(m, "111002")


def test_the_report_files_into_the_sources_patient_and_study_observed_by_the_device_and_reader(report) -> None:
    ds = pydicom.dcmread(report)
    cine = pydicom.dcmread(SAMPLE_CINE, stop_before_pixels=True)
    assert (ds.SOPClassUID, ds.Modality, ds.SeriesNumber) == (ComprehensiveSRStorage, "SR", 902)
    for keyword, value in IDENTIFIERS.items():
        assert str(ds[keyword].value) == value, keyword
    assert ds.StudyInstanceUID == cine.StudyInstanceUID and ds.SeriesInstanceUID != cine.SeriesInstanceUID
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == cine.SOPInstanceUID
    sr = hd.sr.srread(report)
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    observers = {item.ConceptNameCodeSequence[0].CodeMeaning: item.value for item in sr.content[0].ContentSequence
                 if item.RelationshipType == "HAS OBS CONTEXT"}
    assert observers["Device Observer Name"] == "echoviewer" and observers["Person Observer Name"] == "Zoë Reader^"
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    procedure = [item for item in sr.content[0].ContentSequence if item.name.value == "121058"]
    assert procedure[0].value.value == "40701008"  # SCT Echocardiography


def test_type_2_patient_and_study_attributes_are_present_and_empty_when_the_source_has_none(
        tmp_path, analysis, algorithm) -> None:
    ds = pydicom.dcmread(write_sr(SAMPLE_CINE, analysis, tmp_path / "sr.dcm", algorithm=algorithm))
    assert all(keyword in ds and not ds[keyword].value for keyword in IDENTIFIERS)
    assert not any(item.RelationshipType == "HAS OBS CONTEXT" and item.ConceptNameCodeSequence[0].CodeValue == "121008"
                   for item in ds.ContentSequence)  # no reader named: no person observer


def test_an_uncalibrated_cine_of_no_named_view_reports_only_the_ratios_and_the_heart_rate(tmp_path, analysis, algorithm) -> None:
    ds = pydicom.dcmread(SAMPLE_CINE)
    del ds.SequenceOfUltrasoundRegions
    source = tmp_path / "uncalibrated.dcm"
    ds.save_as(source, enforce_file_format=True)
    cine = load_cine(source)
    assert cine.calibration is None and cine.metadata.view == ""
    uncalibrated = replace(analysis, cine=cine)  # the same pixels, segmented once
    beats = uncalibrated.as_dict()["beats"]
    found = groups(write_sr(source, uncalibrated, tmp_path / "sr.dcm", algorithm=algorithm))
    for index, beat in enumerate(beats, 1):
        measured = numbers(found[f"beat {index}"])
        expected = {(code, method, None): beat[f] for f, (code, method) in UNITLESS.items() if beat[f] is not None}
        assert {key: m.value for key, m in measured.items()} == expected
        assert all(code_items(m, "111031") == [] for m in measured.values())  # no view named, none written


def test_a_biplane_pair_adds_its_beat_pairs_and_their_mean(tmp_path, analysis, algorithm) -> None:
    two = replace(view_disks(analysis, "A2C"), file=str(tmp_path / "partner_a2c.dcm"))
    biplane = Biplane(view_disks(analysis), two)
    found = groups(write_sr(SAMPLE_CINE, analysis, tmp_path / "sr.dcm", algorithm=algorithm, biplane=biplane))
    pairs = biplane.as_dict()["beats"]
    codes = {"edv": "79996-5", "esv": "80001-1", "ef_percent": "79991-6"}
    for index, pair in enumerate(pairs, 1):
        measured = numbers(found[f"biplane beat pair {index}"])
        assert {key: m.value for key, m in measured.items()} == {
            (code, BIPLANE_DISKS, None): pair[field] for field, code in codes.items()}
        edv = measured[("79996-5", BIPLANE_DISKS, None)]
        assert frames(edv) == [pair["ed_frames"][0] + 1]  # this cine's frame (the A4C one of the pair)
        assert code_items(edv, "111031") == [] and code_items(edv, "272518008") == ["416190007"]
    mean = numbers(found[f"biplane mean of {len(pairs)} beat pair(s)"])
    assert mean[("79991-6", BIPLANE_DISKS, MEAN)].value == biplane.as_dict()["summary"]["ef_percent"]["mean"]
    other = Biplane(replace(view_disks(analysis), file=str(tmp_path / "x_a4c.dcm")), two)
    with pytest.raises(DicomResultsError, match="does not include sample_a4c.dcm"):
        write_sr(SAMPLE_CINE, analysis, tmp_path / "other.dcm", algorithm=algorithm, biplane=other)


def test_sources_that_cannot_carry_this_report_are_refused_in_one_line(tmp_path, analysis, algorithm) -> None:
    npz = tmp_path / "cine.npz"
    npz.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(DicomResultsError) as error:
        write_sr(npz, analysis, tmp_path / "sr.dcm", algorithm=algorithm)
    assert str(error.value) == "DICOM SEG and SR need a DICOM source; cine.npz is a NumPy array file"
    other = write_ultrasound_cine(tmp_path / "other.dcm", load_cine(SAMPLE_CINE).frames[:4], fps=30)
    with pytest.raises(DicomResultsError, match="other.dcm is not the cine this analysis was made from"):
        write_sr(other, analysis, tmp_path / "sr.dcm", algorithm=algorithm)
    with pytest.raises(DicomResultsError, match="no beat"):
        write_sr(SAMPLE_CINE, analysis.with_events([], []), tmp_path / "sr.dcm", algorithm=algorithm)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cine.npz", "other.dcm"]


def test_no_file_path_host_or_user_name_is_written(report, named_source) -> None:
    words = [str(Path.cwd()), str(SAMPLE_CINE.parent), str(named_source.parent), named_source.stem,
             str(report.parent), str(load_model("student").path.parent), socket.gethostname(), getpass.getuser()]
    forbidden = [w for w in words if len(w) >= 4]
    values = [str(e.value) for e in pydicom.dcmread(report).iterall() if e.VR not in ("SQ", "OB", "OW", "UN")]
    assert [(w, v) for v in values for w in forbidden if w in v] == []
