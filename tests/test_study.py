"""The GUI-free study model (echoviewer.study): ED/ES edits, undo/redo, model switches.

Every test runs on real analyses of the bundled sample (student ED ≈ [8, 36], ES ≈ [19, 46]),
computed once per module; a Study never changes the analysis it is given.
"""

from __future__ import annotations

import pytest

from echoviewer.analysis import analyze, load_model
from echoviewer.io import load_cine
from echoviewer.resources import SAMPLE_CINE
from echoviewer.study import Picks, Study


@pytest.fixture(scope="module")
def sample():
    return load_cine(SAMPLE_CINE)


@pytest.fixture(scope="module")
def analysis(sample):
    return analyze(sample, load_model("student"))


@pytest.fixture(scope="module")
def teacher_analysis(sample):
    return analyze(sample, load_model("teacher"))


@pytest.fixture(scope="module")
def colour_analyses(pydicom_data):
    """A 120-frame, 4-beat cine on which student and teacher pick different frames."""
    cine = load_cine(pydicom_data / "color3d_jpeg_baseline.dcm")
    return analyze(cine, load_model("student")), analyze(cine, load_model("teacher"))


@pytest.fixture
def study(analysis):
    return Study(analysis)


def test_the_sample_analysis_is_what_these_tests_assume(analysis):
    assert analysis.cine.n_frames == 60
    assert analysis.ed_frames == (8, 36) and analysis.es_frames == (19, 46)
    assert len(analysis.beats) == 2


def test_a_new_study_shows_the_automatic_picks_and_the_analysis_itself(study, analysis):
    assert study.picks == study.automatic == Picks((8, 36), (19, 46))
    assert study.analysis is analysis
    assert not study.user_edited and not study.analysis.events_edited
    assert not study.can_undo and not study.can_redo
    assert study.n_frames == 60


def test_add_event_adds_a_pick_marked_edited_and_recomputes_the_measurements(study, analysis):
    assert study.add_event("ED", 12)
    assert study.picks.ed == (8, 12, 36)
    assert study.picks.edited_ed == {12} and study.picks.edited_es == frozenset()
    assert study.picks.es == (19, 46)
    assert study.user_edited
    assert study.analysis is not analysis and study.analysis.events_edited
    assert study.analysis.ed_frames == (8, 12, 36)
    # beats pair each ED with the next ES: the new ED 12 now opens the first beat
    assert [(b.ed_frame, b.es_frame) for b in study.analysis.beats] == [(12, 19), (36, 46)]
    assert study.analysis.beats[0].ed_area != analysis.beats[0].ed_area
    # the analysis a study started from is never changed
    assert analysis.ed_frames == (8, 36) and not analysis.events_edited


def test_mark_event_moves_the_pick_of_the_beat_at_the_frame(study):
    """E / S: each beat keeps one ED and one ES; the pick of the beat the frame lies in moves."""
    assert study.beat_pick("ED", 12) == 8  # systole of beat 1: its ED is 8
    assert study.beat_pick("ED", 30) == 36  # diastole before beat 2: the ED to come
    assert study.beat_pick("ES", 30) == 19 and study.beat_pick("ES", 40) == 46
    assert study.mark_event("ED", 12)
    assert study.picks.ed == (12, 36) and study.picks.edited_ed == {12}
    assert study.undo_step == "Move ED 8 → 12"
    assert study.mark_event("ES", 50)  # after the last ES, no ED between: that ES moves
    assert study.picks.es == (19, 50) and study.picks.edited_es == {50}
    assert not study.mark_event("ES", 50)  # already there
    assert study.mark_event("ES", 30)  # ES 19 → 30: no ED lies between them
    assert study.picks.es == (30, 50)


def test_mark_event_adds_a_pick_where_the_beat_has_none(study):
    study.delete_at(19)  # the first beat lost its ES
    assert study.beat_pick("ES", 12) is None  # ES 46 lies beyond ED 36
    assert study.mark_event("ES", 20)
    assert study.picks.es == (20, 46) and study.undo_step == "Add ES at frame 20"


def test_mark_event_on_the_opposite_pick_takes_its_frame(study):
    assert study.mark_event("ED", 19)  # ED 8 moves to 19; the ES there goes
    assert study.picks.ed == (19, 36) and study.picks.es == (46,)


def test_nudge_moves_the_pick_here_by_a_frame(study):
    assert study.nudge(8, 1) == 9
    assert study.picks.ed == (9, 36) and study.picks.edited_ed == {9}
    assert study.nudge(9, -1) == 8 and study.picks.ed == (8, 36)
    assert study.nudge(12, 1) is None  # no pick at 12
    assert study.nudge(19, 1) == 20
    for _ in range(13):
        study.nudge(study.picks.es[-1], 1)
    assert study.picks.es == (20, 59)  # 46 → 59, the last frame; no further
    assert study.nudge(59, 1) is None
    study.add_event("ES", 35)
    assert study.nudge(35, 1) is None  # 36 holds the ED: a nudge never replaces a pick
    assert study.picks.ed == (8, 36)


def test_add_event_on_the_opposite_mark_replaces_it(study):
    assert study.add_event("ED", 19)  # 19 is an ES: a frame is never both
    assert study.picks.ed == (8, 19, 36) and study.picks.es == (46,)
    assert study.picks.edited_ed == {19}
    assert study.event_at(19) == "ED"
    assert study.add_event("ES", 8)
    assert study.picks.ed == (19, 36) and study.picks.es == (8, 46)
    assert study.picks.edited_es == {8} and study.picks.edited_ed == {19}


def test_setting_an_existing_pick_again_is_no_change(study, analysis):
    assert not study.add_event("ED", 8)
    assert not study.can_undo and study.analysis is analysis
    assert study.picks == study.automatic


def test_move_event_moves_one_pick_and_changes_its_beat(study, analysis):
    before = analysis.beats[0]
    assert study.move_event("ED", 8, 11)
    assert study.picks.ed == (11, 36) and study.picks.edited_ed == {11}
    beat = study.analysis.beats[0]
    assert (beat.ed_frame, beat.es_frame) == (11, 19)
    assert beat.ed_area != before.ed_area
    assert beat.ed_area == pytest.approx(float(study.analysis.area_cm2[11]))
    assert study.analysis.beats[1] == analysis.beats[1]  # the other beat is untouched
    # moving an edited pick again keeps it edited; its old frame is no longer marked
    assert study.move_event("ED", 11, 10)
    assert study.picks.ed == (10, 36) and study.picks.edited_ed == {10}


def test_move_event_onto_the_opposite_mark_removes_that_mark(study):
    assert study.move_event("ES", 19, 36)
    assert study.picks.es == (36, 46) and study.picks.ed == (8,)
    assert study.picks.edited_es == {36}


def test_move_event_of_a_frame_without_that_pick_or_to_itself_is_no_change(study, analysis):
    assert not study.move_event("ED", 19, 20)  # 19 is an ES, not an ED
    assert not study.move_event("ES", 19, 19)
    assert study.picks == study.automatic and not study.can_undo and study.analysis is analysis


def test_delete_event_and_delete_at(study, analysis):
    assert study.delete_event("ES", 19)
    assert study.picks.es == (46,) and study.picks.ed == (8, 36)
    assert not study.delete_event("ES", 19)  # already gone
    assert not study.delete_event("ED", 46)  # an ES frame, not an ED one
    assert study.delete_at(36)  # whichever event sits there
    assert study.picks.ed == (8,) and study.picks.es == (46,)
    assert not study.delete_at(30)  # nothing there
    assert study.user_edited and study.analysis.events_edited
    assert study.analysis.ed_frames == (8,) and study.analysis.es_frames == (46,)
    assert [(b.ed_frame, b.es_frame) for b in study.analysis.beats] == [(8, 46)]
    assert study.event_at(36) is None and study.event_at(8) == "ED" and study.event_at(46) == "ES"


def test_deleting_an_edited_pick_drops_its_edited_mark(study):
    study.add_event("ED", 12)
    study.delete_at(12)
    assert study.picks.edited_ed == frozenset()
    assert study.picks.ed == (8, 36)


def test_undo_and_redo_walk_the_history_in_order(study, analysis):
    states = [study.picks]
    study.add_event("ED", 12)
    states.append(study.picks)
    study.move_event("ES", 19, 22)
    states.append(study.picks)
    study.delete_at(36)
    states.append(study.picks)
    assert study.can_undo and not study.can_redo

    for expected in reversed(states[:-1]):
        assert study.undo()
        assert study.picks == expected
        assert study.analysis.ed_frames == expected.ed and study.analysis.es_frames == expected.es
    assert not study.undo() and not study.can_undo
    # back at the start: the automatic picks, measured as the model's own analysis
    assert study.picks == study.automatic and not study.user_edited
    assert study.analysis is analysis

    for expected in states[1:]:
        assert study.redo()
        assert study.picks == expected
    assert not study.redo() and not study.can_redo
    assert study.analysis.beats[0].es_frame == 22


def test_a_new_edit_clears_redo(study):
    study.add_event("ED", 12)
    study.add_event("ES", 25)
    study.undo()
    assert study.can_redo
    study.delete_at(46)
    assert not study.can_redo and not study.redo()
    assert study.picks.es == (19,) and study.picks.ed == (8, 12, 36)
    study.undo()
    assert study.picks.es == (19, 46) and study.picks.ed == (8, 12, 36)  # 25 is gone for good


def test_an_edit_that_changes_nothing_keeps_redo(study):
    study.add_event("ED", 12)
    study.undo()
    assert not study.add_event("ED", 8)  # already there
    assert study.can_redo


def test_reset_to_the_automatic_picks_is_undoable(study, analysis):
    study.add_event("ED", 12)
    study.move_event("ES", 46, 50)
    edited = study.picks
    assert study.reset()
    assert study.picks == study.automatic and not study.user_edited
    assert study.analysis is analysis and not study.analysis.events_edited
    assert not study.reset()  # nothing to reset
    assert study.undo()
    assert study.picks == edited and study.user_edited
    assert study.redo()
    assert study.picks == study.automatic


@pytest.mark.parametrize("frame", [-1, 60, 1000])
def test_frames_outside_the_cine_raise_value_error(study, frame, analysis):
    with pytest.raises(ValueError, match="outside 0-59"):
        study.add_event("ED", frame)
    with pytest.raises(ValueError, match="outside 0-59"):
        study.move_event("ED", 8, frame)
    with pytest.raises(ValueError, match="outside 0-59"):
        study.move_event("ED", frame, 10)
    assert study.picks == study.automatic and not study.can_undo and study.analysis is analysis


def test_the_last_frames_are_inside(study):
    assert study.add_event("ES", 59)
    assert study.add_event("ED", 0)
    assert study.picks.ed == (0, 8, 36) and study.picks.es == (19, 46, 59)


def test_every_edit_says_whether_the_picks_changed(study):
    """What the controller saves on: True exactly when the picks changed, and then the analysis
    already follows them."""
    edits = [lambda: study.add_event("ED", 12), lambda: study.move_event("ED", 12, 13),
             lambda: study.delete_at(46), study.reset, study.undo, study.redo]
    for edit in edits:
        before = study.picks
        assert edit() is True and study.picks != before
        assert (study.analysis.ed_frames, study.analysis.es_frames) == (study.picks.ed, study.picks.es)
    for no_change in (lambda: study.add_event("ED", 8), lambda: study.delete_at(30), study.redo):
        before, analysis = study.picks, study.analysis
        assert no_change() is False
        assert study.picks == before and study.analysis is analysis


def test_a_study_made_with_saved_picks_shows_them_as_edited(analysis):
    saved = Picks((10, 36), (19, 46), edited_ed=frozenset({10}))
    study = Study(analysis, saved)
    assert study.picks == saved and study.user_edited
    assert study.analysis.events_edited and study.analysis.ed_frames == (10, 36)
    assert study.automatic == Picks((8, 36), (19, 46))
    assert study.reset() and study.picks == study.automatic


def test_next_event_finds_the_nearest_ed_or_es(study):
    assert study.next_event(0, 1) == 8
    assert study.next_event(8, 1) == 19  # strictly after
    assert study.next_event(20, 1) == 36
    assert study.next_event(46, 1) is None
    assert study.next_event(59, -1) == 46
    assert study.next_event(36, -1) == 19  # strictly before
    assert study.next_event(8, -1) is None
    study.add_event("ES", 25)
    assert study.next_event(19, 1) == 25
    study.delete_at(36)
    assert study.next_event(25, 1) == 46


def test_with_analysis_without_edits_shows_the_new_models_picks(colour_analyses):
    student, teacher = colour_analyses
    assert (student.ed_frames, student.es_frames) != (teacher.ed_frames, teacher.es_frames)
    study = Study(student)
    switched = study.with_analysis(teacher)
    assert switched.analysis is teacher
    assert switched.picks == switched.automatic == Picks(teacher.ed_frames, teacher.es_frames)
    assert not switched.user_edited
    assert switched.add_event("ED", 1) and 1 in switched.analysis.ed_frames


def test_with_analysis_keeps_edited_picks_and_the_undo_history(colour_analyses):
    student, teacher = colour_analyses
    study = Study(student)
    study.move_event("ED", student.ed_frames[0], student.ed_frames[0] + 2)
    study.add_event("ES", 70)
    edited = study.picks
    switched = study.with_analysis(teacher)
    assert switched.picks == edited and switched.user_edited
    assert switched.automatic == Picks(teacher.ed_frames, teacher.es_frames)
    assert switched.analysis.segmentation is teacher.segmentation
    assert switched.analysis.ed_frames == edited.ed and switched.analysis.es_frames == edited.es
    assert switched.analysis.events_edited
    # measured on the teacher's masks
    first = switched.analysis.beats[0]
    assert first.ed_area == pytest.approx(float(teacher.area_cm2[first.ed_frame]))
    # the history came along: undo walks back through the user's edits
    assert switched.can_undo
    assert switched.undo()
    assert 70 not in switched.picks.es
    assert switched.undo()
    assert switched.picks.ed == student.ed_frames and switched.picks.es == student.es_frames
    assert not switched.can_undo
    assert switched.redo() and switched.redo()
    assert switched.picks == edited


def test_with_analysis_of_the_sample_teacher(study, teacher_analysis):
    switched = study.with_analysis(teacher_analysis)
    assert switched.analysis is teacher_analysis
    assert switched.analysis.segmentation.model.file == "teacher.onnx"
    study.add_event("ED", 12)
    switched = study.with_analysis(teacher_analysis)
    assert switched.picks.ed == (8, 12, 36) and switched.picks.edited_ed == {12}
    assert switched.analysis.segmentation is teacher_analysis.segmentation


def test_with_analysis_refuses_another_cine(study, colour_analyses, analysis):
    with pytest.raises(ValueError, match="same cine"):
        study.with_analysis(colour_analyses[1])
    # even a second load of the same file is another cine object
    other = analyze(load_cine(SAMPLE_CINE), load_model("student"))
    with pytest.raises(ValueError, match="same cine"):
        study.with_analysis(other)
    assert study.analysis is analysis


def test_the_analysis_says_which_picks_the_user_made_and_the_models_beside_them(study):
    study.mark_event("ED", 12)  # the first beat's ED: 8 → 12
    study.add_event("ES", 30)   # a second ES in the first beat, whose model ES is 19
    origins = study.analysis.pick_origins()
    assert origins == [
        {"event": "ED", "frame": 12, "by": "user", "model_frame": 8},
        {"event": "ES", "frame": 19, "by": "model", "model_frame": 19},
        {"event": "ES", "frame": 30, "by": "user", "model_frame": 19},
        {"event": "ED", "frame": 36, "by": "model", "model_frame": 36},
        {"event": "ES", "frame": 46, "by": "model", "model_frame": 46}]
    assert study.analysis.model_ed_frames == (8, 36) and study.analysis.model_es_frames == (19, 46)
