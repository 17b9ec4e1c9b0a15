"""Biplane method-of-disks volumes from an A4C and an A2C cine: the views files name, pairing by
study, and the volumes of an analytic half-ellipsoid drawn as the user's contours."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.biplane import Biplane, pair_by_study, view_disks
from echoviewer.analysis.contour import Contour
from echoviewer.io import load_cine
from echoviewer.io.apical_view import view_in_text, without_view
from echoviewer.resources import SAMPLE_CINE


@pytest.mark.parametrize("texts, view", [
    (["Apical four chamber"], "A4C"), (["patient0001_2CH_ED"], "A2C"), (["AP4 LV focus"], "A4C"),
    (["a2c"], "A2C"), (["Apical 2-chamber"], "A2C"), (["3fa4c9e1"], None), (["A4C and A2C"], None),
    (["", "LV A2C"], "A2C"), (["PLAX"], None), (["sample_a4c"], "A4C"), ([], None)])
def test_the_view_a_text_names(texts, view) -> None:
    assert view_in_text(texts) == view


def test_an_a4c_and_its_a2c_partner_share_a_name_without_the_view() -> None:
    assert without_view("patient0001_4CH_half_sequence") == without_view("Patient0001_2CH_half_sequence")
    assert without_view("patient0001_4CH") != without_view("patient0002_2CH")


def dicom_copy(path, view_meaning: str | None, series: str = ""):
    """The sample under a name that names no view, its header naming ``view_meaning``."""
    ds = pydicom.dcmread(SAMPLE_CINE)
    if view_meaning:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "0", "99TEST", view_meaning
        ds.ViewCodeSequence = [code]
    if series:
        ds.SeriesDescription = series
    ds.save_as(path)
    return path


def test_the_header_names_the_view_before_the_file_name(tmp_path) -> None:
    cine = load_cine(dicom_copy(tmp_path / "cine_a4c.dcm", "Apical two chamber"))
    assert (cine.metadata.view, cine.metadata.view_source) == ("A2C", "DICOM header")
    cine = load_cine(dicom_copy(tmp_path / "clip.dcm", None, series="LV 4CH"))
    assert (cine.metadata.view, cine.metadata.view_source) == ("A4C", "DICOM header")
    cine = load_cine(dicom_copy(tmp_path / "clip 2ch.dcm", None))
    assert (cine.metadata.view, cine.metadata.view_source) == ("A2C", "file name")
    assert load_cine(dicom_copy(tmp_path / "clip.dcm", None)).metadata.view == ""
    assert load_cine(SAMPLE_CINE).describe()["view"] == "A4C"


def dome(shape: tuple[int, int], spacing: float, length_cm: float, radius_cm: float) -> np.ndarray:
    """A half-ellipse on a flat base, apex up: one section of a half-ellipsoid LV."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    x, y = (xs - width / 2) * spacing, (height * 0.8 - ys) * spacing
    return (y >= 0) & ((x / radius_cm) ** 2 + (y / length_cm) ** 2 <= 1)


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    """The sample's analysis as A4C, and a copy's as A2C (same study), by the bundled student."""
    folder = tmp_path_factory.mktemp("biplane")
    model = load_model("student")
    four = analyze(load_cine(SAMPLE_CINE), model)
    two = analyze(load_cine(dicom_copy(folder / "copy.dcm", "Apical two chamber")), model)
    return four, two


def drawn(analysis, sizes: dict[str, tuple[float, float]]):
    """``analysis`` with the user's contours on every ED and ES frame: half-ellipses of (length,
    radius) cm for each phase."""
    spacing = analysis.cine.calibration.cm_per_px_x
    shape = (analysis.cine.height, analysis.cine.width)
    contours = {}
    for phase, frames in (("ed", analysis.ed_frames), ("es", analysis.es_frames)):
        for frame in frames:
            contours[frame] = Contour.from_mask(dome(shape, spacing, *sizes[phase]))
    return analysis.with_contours(contours)


def test_biplane_volumes_of_a_half_ellipsoid_drawn_as_contours(views) -> None:
    four, two = views
    assert (four.cine.metadata.view, two.cine.metadata.view) == ("A4C", "A2C")
    # semi-axes: A4C width a, A2C width b, length L (ED, then ES)
    four = drawn(four, {"ed": (8.0, 2.6), "es": (7.0, 2.0)})
    two = drawn(two, {"ed": (7.8, 1.8), "es": (6.9, 1.4)})
    biplane = Biplane(view_disks(four), view_disks(two))
    n = min(len(four.beats), len(two.beats))
    assert n >= 1 and len(biplane.beats) == n
    edv, esv = 2 / 3 * np.pi * 2.6 * 1.8 * 8.0, 2 / 3 * np.pi * 2.0 * 1.4 * 7.0  # 78.4, 41.1 mL
    for beat in biplane.beats:
        assert beat.edv == pytest.approx(edv, rel=0.04) and beat.esv == pytest.approx(esv, rel=0.04)
        assert beat.ef_percent == pytest.approx(100 * (edv - esv) / edv, abs=2.0)
        assert beat.ed_length_difference_percent == pytest.approx(2.5, abs=1.5)
    summary = biplane.summary
    assert summary["edv"]["n"] == n and summary["edv"]["mean"] == pytest.approx(edv, rel=0.04)
    assert [f.code for f in biplane.flags] == []
    # the single-plane A4C volume of the same contours is another number: a circle, not an ellipse
    assert four.beats[0].edv_disks == pytest.approx(2 / 3 * np.pi * 2.6 ** 2 * 8.0, rel=0.04)
    result = biplane.as_dict()
    assert result["four_chamber"] == str(four.cine.path) and result["units"] == {"volume": "mL"}
    assert set(result) == {"method", "four_chamber", "two_chamber", "units", "beats", "summary", "flags"}
    assert result["beats"][0]["ed_frames"] == [four.beats[0].ed_frame, two.beats[0].ed_frame]


def test_a_foreshortened_view_and_uncalibrated_cines_are_flagged(views) -> None:
    four, two = views
    short = Biplane(view_disks(drawn(four, {"ed": (8.0, 2.6), "es": (7.0, 2.0)})),
                    view_disks(drawn(two, {"ed": (6.5, 1.8), "es": (6.0, 1.4)})))
    codes = {f.code: f.beats for f in short.flags}
    assert codes["biplane_length_mismatch"] == list(range(len(short.beats)))
    plain = replace(two.cine, calibration=None)
    uncalibrated = Biplane(view_disks(four), view_disks(analyze(plain, load_model("student"))))
    assert uncalibrated.beats == () and [f.code for f in uncalibrated.flags] == ["biplane_uncalibrated"]
    assert uncalibrated.summary["edv"] == {"mean": None, "sd": None, "n": 0}


def test_pairs_are_found_by_study_and_by_name(views, tmp_path) -> None:
    four, two = view_disks(views[0]), view_disks(views[1])
    pairs, notes = pair_by_study([four, two])
    assert [(p.four_chamber, p.two_chamber) for p in pairs] == [(four, two)] and notes == []
    assert four.study == two.study and four.study not in str(pairs[0].as_dict())
    pairs, notes = pair_by_study([four, two, four])  # two A4C cines of one study
    assert pairs == [] and len(notes) == 1 and "pair them by hand" in notes[0]
    # no StudyInstanceUID (NumPy files): the names, once the view is taken out, pair them
    model = load_model("student")
    frames = views[0].cine.frames
    named = []
    for name in ("patient7_4CH.npy", "patient7_2CH.npy", "patient8_2CH.npy"):
        np.save(tmp_path / name, frames)
        named.append(view_disks(analyze(load_cine(tmp_path / name), model)))
    pairs, notes = pair_by_study(named)
    assert [(Path(p.four_chamber.file).name, Path(p.two_chamber.file).name) for p in pairs] == [
        ("patient7_4CH.npy", "patient7_2CH.npy")]
    assert notes == []  # patient 8 has no A4C: nothing to pair, nothing to say
