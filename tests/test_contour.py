"""The editable LV contour: made from a mask, edited point by point, measured, undone and saved."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.contour import MIN_POINTS, Contour
from echoviewer.analysis.geometry import long_axis
from echoviewer.io import load_cine
from echoviewer.resources import SAMPLE_CINE
from echoviewer.study import Study
from echoviewer.user_data import EditStore, SavedEdits


def ellipse_mask(shape=(200, 160), centre=(80, 110), axes=(35, 70)) -> np.ndarray:
    """An LV-like ellipse with its long axis vertical (apex at the top), cut flat at the base."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    inside = ((cols - centre[0]) / axes[0]) ** 2 + ((rows - centre[1]) / axes[1]) ** 2 <= 1
    inside[centre[1] + int(0.7 * axes[1]):] = False  # the mitral line
    return inside


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.fixture(scope="module")
def analysis():
    return analyze(load_cine(SAMPLE_CINE), load_model("student"))


def test_a_contour_from_a_mask_runs_hinge_apex_hinge_and_fills_back_to_the_mask() -> None:
    mask = ellipse_mask()
    contour = Contour.from_mask(mask)
    assert contour is not None and len(contour.points) == 24
    axis = long_axis(mask)
    assert axis is not None
    first, apex, last = contour.landmarks
    assert np.allclose(contour.points[apex], axis.apex, atol=1.5)
    hinges = sorted(map(tuple, contour.points[[first, last]]))
    assert np.allclose(hinges, sorted(axis.annulus), atol=0.75)  # on the mask's border, half a pixel out
    assert dice(contour.mask(mask.shape), mask) > 0.98
    assert contour.long_axis().length == pytest.approx(axis.length, abs=1.5)
    assert Contour.from_mask(np.zeros((50, 50), bool)) is None


def test_points_move_add_and_go_but_hinges_and_apex_only_move() -> None:
    contour = Contour.from_mask(ellipse_mask())
    assert contour is not None
    first, apex, last = contour.landmarks
    x, y = contour.points[apex]
    higher = contour.moved(apex, x, y - 10)
    assert higher.mask((200, 160)).sum() > contour.mask((200, 160)).sum()
    assert higher.long_axis().length == pytest.approx(contour.long_axis().length + 10, abs=0.5)

    between = (contour.points[3] + contour.points[4]) / 2
    added, index = contour.inserted(*between)
    assert index == 4 and len(added.points) == 25 and added.apex == apex + 1
    assert np.array_equal(added.points[index], between)
    assert added.removed(index) == contour
    # The mitral line stays straight: a point near it goes on the nearest outline segment instead.
    base_middle = (contour.points[first] + contour.points[last]) / 2
    near_base, at = contour.inserted(*base_middle)
    assert at in (1, len(contour.points) - 1) and near_base.landmarks[0] == 0

    for landmark in (first, apex, last):
        with pytest.raises(ValueError, match="cannot be removed"):
            contour.removed(landmark)
    small = contour
    while len(small.points) > MIN_POINTS:
        small = small.removed(1 if small.apex != 1 else 2)
    with pytest.raises(ValueError, match=f"at least {MIN_POINTS}"):
        small.removed(1 if small.apex != 1 else 2)


def test_bad_contours_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at least"):
        Contour(np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="inner point"):
        Contour(np.zeros((8, 2)), 0)
    with pytest.raises(ValueError, match="finite"):
        Contour(np.full((8, 2), np.nan), 3)
    for damaged in ({"points": [[1, 2]] * 8}, {"points": "x", "apex": 2}, {"points": [[1, "a"]] * 8, "apex": 2},
                    {"points": [[1, 2]] * 8, "apex": True}, [1, 2]):
        with pytest.raises(ValueError):
            Contour.from_dict(damaged)
    contour = Contour.from_mask(ellipse_mask())
    assert contour is not None and Contour.from_dict(json.loads(json.dumps(contour.as_dict()))) == contour


def test_a_contour_on_one_frame_changes_that_frame_and_the_beats_that_use_it(analysis) -> None:
    ed, es = analysis.beats[0].ed_frame, analysis.beats[0].es_frame
    contour = Contour.from_mask(analysis.native_mask(ed))
    assert contour is not None
    x, y = contour.points[contour.apex]
    longer = contour.moved(contour.apex, x, y - 12)
    edited = analysis.with_contours({ed: longer})
    assert edited.area_px[ed] == np.count_nonzero(longer.mask((analysis.cine.height, analysis.cine.width)))
    assert edited.area_px[ed] > analysis.area_px[ed]
    others = np.arange(analysis.cine.n_frames) != ed
    assert np.array_equal(edited.area_px[others], analysis.area_px[others])
    beat, before = edited.beats[0], analysis.beats[0]
    assert beat.ed_area > before.ed_area and beat.es_area == before.es_area
    assert beat.ed_length == pytest.approx(longer.long_axis(
        (analysis.cine.calibration.cm_per_px_x, analysis.cine.calibration.cm_per_px_y)).length)
    assert beat.edv_disks > before.edv_disks and beat.ef_disks_percent > before.ef_disks_percent
    assert edited.beats[1:] == analysis.beats[1:]
    assert np.array_equal(edited.native_masks()[ed], edited.native_mask(ed))
    assert edited.as_dict()["contours_edited"] == [ed] and analysis.as_dict()["contours_edited"] == []
    assert np.array_equal(analysis.native_mask(es), edited.native_mask(es))
    with pytest.raises(ValueError, match="contour frames"):
        analysis.with_contours({analysis.cine.n_frames: longer})


def test_the_study_names_every_step_and_undoes_contours_with_picks(analysis) -> None:
    study = Study(analysis)
    ed = study.picks.ed[0]
    contour = study.contour(ed)
    assert contour is not None and study.contours == {}
    x, y = contour.points[contour.apex]
    assert study.set_contour(ed, contour.moved(contour.apex, x, y - 8), "Move the apex")
    assert study.undo_step == f"Move the apex (frame {ed})" and ed in study.contours
    assert study.analysis.area_px[ed] > analysis.area_px[ed]
    assert study.move_event("ES", study.picks.es[0], study.picks.es[0] + 1)
    assert study.undo_step.startswith("Move ES")
    assert study.undo() and ed in study.contours and study.redo_step.startswith("Move ES")
    assert study.undo() and study.contours == {} and study.analysis is analysis
    assert study.redo() and study.contour(ed) != contour
    assert study.reset_contour(ed) and study.contours == {} and study.undo_step == f"Reset the contour (frame {ed})"
    assert not study.reset_contour(ed)  # nothing to reset: no step
    # A model switch keeps the user's contours.
    study.set_contour(ed, contour.moved(contour.apex, x, y - 8), "Move the apex")
    teacher = analyze(analysis.cine, load_model("teacher"))
    switched = study.with_analysis(teacher)
    assert switched.contours == study.contours and switched.analysis.area_px[ed] == study.analysis.area_px[ed]


def test_contours_are_saved_with_the_picks_and_a_damaged_record_reads_as_absent(tmp_path) -> None:
    contour = Contour.from_mask(ellipse_mask())
    assert contour is not None
    store = EditStore(tmp_path)
    edits = SavedEdits(ed_frames=None, es_frames=None, model="student", edited_ed=(), edited_es=(), n_frames=10,
                       contours=((3, contour),))
    store.save("sha256-abc", edits)
    loaded = store.load("sha256-abc")
    assert loaded is not None and loaded.contours == ((3, contour),)
    with pytest.raises(ValueError, match="contours"):
        SavedEdits(ed_frames=None, es_frames=None, model=None, edited_ed=(), edited_es=(), n_frames=3,
                   contours=((3, contour),))
    path = tmp_path / "edits" / "sha256-abc.json"
    record = json.loads(path.read_text())
    for damaged in ({"3": {"points": [[0, 0]], "apex": 0}}, {"x": contour.as_dict()}, [1]):
        path.write_text(json.dumps({**record, "contours": damaged}))
        assert store.load("sha256-abc") is None
    del record["contours"]  # a record saved before contours existed
    path.write_text(json.dumps(record))
    assert store.load("sha256-abc") is not None and store.load("sha256-abc").contours == ()
