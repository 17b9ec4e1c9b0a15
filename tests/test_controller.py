"""The viewer's controller without a window: opening, cancelling, model switches and their races,
the model-choice policy and saved edits, on real cines and the real bundled ONNX models.

A test drives a bare :class:`StudyController` (pytest-qt runs the event loop that delivers its
tasks' results) and records every signal it emits, in order.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool

from echoviewer.analysis import BUNDLED, DEFAULT_MODEL
from echoviewer.gui.controller import StudyController
from echoviewer.io import load_cine
from echoviewer.resources import PARTNER, SAMPLE_CINE, STUDENT_MODEL
from echoviewer.user_data import ActiveStudent, EditStore, SavedEdits, file_identity

TIMEOUT_MS = 60_000
SIGNALS = ("opening", "preview", "cine_loaded", "study_changed", "frame_changed", "busy", "error",
           "model_changed", "compare_changed")
COLOUR_CINE = "color3d_jpeg_baseline.dcm"  # pydicom-data: 120 JPEG frames, decoded for a while


class Recorder:
    """Every signal of a controller as (name, payload), in the order emitted."""

    def __init__(self, controller: StudyController) -> None:
        self.seen: list[tuple[str, object]] = []
        for name in SIGNALS:
            getattr(controller, name).connect(lambda payload, name=name: self.seen.append((name, payload)))

    def names(self, *only: str) -> list[str]:
        return [name for name, _ in self.seen if not only or name in only]

    def payloads(self, name: str) -> list:
        return [payload for seen, payload in self.seen if seen == name]


@pytest.fixture
def store(tmp_path) -> EditStore:
    return EditStore(tmp_path / "edits-root")


@pytest.fixture
def make_controller(qtbot, store):
    """Bare controllers on the test's edit store; no task outlives the test."""
    made: list[StudyController] = []

    def make(**kwargs) -> tuple[StudyController, Recorder]:
        controller = StudyController(store, **kwargs)
        made.append(controller)
        return controller, Recorder(controller)

    yield make
    for controller in made:
        controller.cancel()
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


@pytest.fixture
def colour_path(pydicom_data) -> Path:
    return pydicom_data / COLOUR_CINE


def idle(qtbot, controller: StudyController) -> None:
    qtbot.waitUntil(lambda: not controller.working and controller.study is not None, timeout=TIMEOUT_MS)


def settle(qtbot) -> None:
    """Let every task finish and its queued signals arrive (those of a dropped task included)."""
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)
    qtbot.wait(50)


def one_line(text: str) -> str:
    assert text and "\n" not in text and text.isprintable(), text
    return text


def model_copy(folder: Path, name: str = "mine") -> Path:
    """The bundled student under another name, with its model card: a user's model file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.onnx"
    shutil.copyfile(STUDENT_MODEL, target)
    shutil.copyfile(STUDENT_MODEL.with_suffix(".json"), target.with_suffix(".json"))
    return target.resolve()


# ---- opening --------------------------------------------------------------------------------------
def test_open_shows_the_preview_then_the_cine_then_the_study(qtbot, make_controller):
    c, seen = make_controller()
    c.open(SAMPLE_CINE)
    assert c.working and seen.names() == ["opening", "busy"]
    idle(qtbot, c)
    assert seen.names("preview", "cine_loaded", "study_changed") == ["preview", "cine_loaded", "study_changed"]
    assert seen.payloads("busy") == [f"Opening {SAMPLE_CINE.name}…", ""]
    assert seen.payloads("error") == []
    preview, = seen.payloads("preview")
    cine, = seen.payloads("cine_loaded")
    study, = seen.payloads("study_changed")
    assert preview.shape[:2] == (cine.height, cine.width)
    assert c.cine is cine and c.study is study and study.analysis.cine is cine
    assert c.frame == 0 and seen.payloads("frame_changed")[-1] == 0
    assert c.model_spec == DEFAULT_MODEL and seen.payloads("model_changed") == [DEFAULT_MODEL]
    assert study.analysis.segmentation.model.file == BUNDLED[DEFAULT_MODEL].name
    assert (study.picks.ed, study.picks.es) == ((8, 36), (19, 45))


def test_a_second_open_while_the_first_decodes_drops_the_first(qtbot, make_controller, colour_path):
    c, seen = make_controller()
    c.open(colour_path)
    c.open(SAMPLE_CINE)  # before the first has reported anything
    idle(qtbot, c)
    settle(qtbot)
    assert seen.payloads("opening") == [str(colour_path), str(SAMPLE_CINE)]
    assert [cine.path for cine in seen.payloads("cine_loaded")] == [SAMPLE_CINE]
    assert len(seen.payloads("preview")) == 1 and len(seen.payloads("study_changed")) == 1
    assert c.cine.path == SAMPLE_CINE and c.study.analysis.cine is c.cine and c.study.n_frames == 60
    assert seen.payloads("error") == [] and not c.working


def test_a_second_open_after_the_first_decoded_still_drops_its_analysis(qtbot, make_controller, colour_path):
    c, seen = make_controller()
    c.open(colour_path)
    qtbot.waitUntil(lambda: c.cine is not None, timeout=TIMEOUT_MS)  # decoded, being analysed
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    settle(qtbot)
    assert [study.analysis.cine.path for study in seen.payloads("study_changed")] == [SAMPLE_CINE]
    assert c.cine.path == SAMPLE_CINE and c.study.analysis.cine is c.cine


def test_cancel_drops_an_open_and_keeps_the_study_that_was_open(qtbot, make_controller, colour_path):
    c, seen = make_controller()
    c.open(colour_path)
    c.cancel()
    assert not c.working and seen.payloads("busy")[-1] == ""
    settle(qtbot)
    assert seen.names("preview", "cine_loaded", "study_changed", "error") == []
    assert c.cine is None and c.study is None
    c.cancel()  # nothing running: nothing happens
    assert seen.payloads("busy").count("") == 1

    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    study, cine = c.study, c.cine
    seen.seen.clear()
    c.open(colour_path)
    c.cancel()
    settle(qtbot)
    assert c.study is study and c.cine is cine and not c.working
    assert seen.names("cine_loaded", "study_changed", "error") == []


def test_a_file_that_fails_says_one_line_and_keeps_the_open_study(qtbot, make_controller, tmp_path):
    c, seen = make_controller()
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    study = c.study
    c.set_frame(20)
    bad = tmp_path / "notes.txt"
    bad.write_text("not a cine\n", encoding="utf-8")
    c.open(bad)
    qtbot.waitUntil(lambda: not c.working, timeout=TIMEOUT_MS)
    assert "notes.txt" in one_line(seen.payloads("error")[-1])
    assert c.study is study and c.frame == 20
    assert seen.payloads("frame_changed")[-1] == 20  # views that showed a preview redraw the study


# ---- models ---------------------------------------------------------------------------------------
def test_a_model_chosen_while_a_file_opens_is_used_once_it_has_opened(qtbot, make_controller):
    c, seen = make_controller()
    c.open(SAMPLE_CINE)
    c.set_model("teacher")  # before anything is decoded
    assert c.model_spec == "teacher" and seen.payloads("model_changed") == ["teacher"]
    idle(qtbot, c)
    assert c.study.analysis.segmentation.model.file == "teacher.onnx"

    c.open(SAMPLE_CINE)
    qtbot.waitUntil(lambda: c.study is None and c.cine is not None, timeout=TIMEOUT_MS)  # being analysed
    c.set_model(DEFAULT_MODEL)
    c.set_compare(True)
    idle(qtbot, c)
    assert (c.model_spec, c.compare) == (DEFAULT_MODEL, True)
    analysis = c.study.analysis
    assert analysis.segmentation.model.file == BUNDLED[DEFAULT_MODEL].name, "the model chosen while opening was dropped"
    assert analysis.comparison is not None and analysis.comparison.model.file == BUNDLED[PARTNER[DEFAULT_MODEL]].name
    assert seen.payloads("model_changed")[-1] == DEFAULT_MODEL and seen.payloads("compare_changed")[-1] is True


def test_a_model_switch_keeps_the_picks_and_a_second_one_uses_the_cache(qtbot, make_controller):
    c, seen = make_controller()
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    student = c.study.analysis.segmentation
    c.set_frame(30)
    c.add_here("ES")
    picks = c.study.picks
    c.set_model("teacher")
    assert c.working and c.model_spec == DEFAULT_MODEL  # changes once the new analysis exists
    idle(qtbot, c)
    assert c.model_spec == "teacher" and c.study.picks == picks
    assert c.study.analysis.segmentation.model.file == "teacher.onnx"
    c.set_model(DEFAULT_MODEL)
    idle(qtbot, c)
    assert c.study.analysis.segmentation is student and c.study.picks == picks


def test_a_model_that_fails_keeps_the_old_one_and_says_one_line(qtbot, make_controller, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an ONNX model\x00\xff" * 20)
    c, seen = make_controller()
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    study, segmentation = c.study, c.study.analysis.segmentation
    seen.seen.clear()
    c.set_model(str(broken))
    qtbot.waitUntil(lambda: not c.working, timeout=TIMEOUT_MS)
    error, = seen.payloads("error")
    one_line(error)
    assert c.model_spec == DEFAULT_MODEL and c.study is study and c.study.analysis.segmentation is segmentation
    assert seen.payloads("model_changed") == [DEFAULT_MODEL]  # the menus are told what is still in use
    assert seen.names("study_changed") == []
    c.add_here("ES")  # still usable
    assert 0 in c.study.picks.es


# ---- the model policy -----------------------------------------------------------------------------
def test_the_session_starts_with_the_last_model_then_the_active_student_then_the_bundled(make_controller,
                                                                                        tmp_path):
    assert make_controller()[0].model_spec == DEFAULT_MODEL  # nothing stored, no active student
    assert make_controller(last_model="teacher")[0].model_spec == "teacher"
    mine = model_copy(tmp_path / "models")
    assert make_controller(last_model=str(mine))[0].model_spec == str(mine)
    for gone in ("/no/such/model.onnx", "", 7, None):
        assert make_controller(last_model=gone)[0].model_spec == DEFAULT_MODEL
    ActiveStudent().set(str(mine))
    assert make_controller(last_model="/no/such/model.onnx")[0].model_spec == str(mine)
    assert make_controller(last_model="teacher")[0].model_spec == "teacher"
    mine.unlink()  # the active student's file has gone: the bundled student
    assert make_controller()[0].model_spec == DEFAULT_MODEL


def test_the_files_saved_model_wins_over_the_sessions(qtbot, make_controller, store):
    identity = file_identity(load_cine(SAMPLE_CINE))
    store.save(identity, SavedEdits(None, None, "teacher", (), (), 60))
    c, seen = make_controller(last_model=DEFAULT_MODEL)
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    assert c.model_spec == "teacher" and c.study.analysis.segmentation.model.file == "teacher.onnx"
    assert seen.payloads("error") == []


def test_a_saved_model_that_is_gone_falls_back_with_a_note(qtbot, make_controller, store, tmp_path):
    identity = file_identity(load_cine(SAMPLE_CINE))
    gone = str(tmp_path / "deleted.onnx")
    store.save(identity, SavedEdits((10, 36), (19, 46), gone, (10,), (), 60))
    c, seen = make_controller(last_model="teacher")
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    note, = seen.payloads("error")
    assert "saved model unavailable" in one_line(note) and "teacher" in note
    assert c.model_spec == "teacher" and c.study.analysis.segmentation.model.file == "teacher.onnx"
    assert c.study.picks.ed == (10, 36) and c.study.picks.edited_ed == {10}  # the picks still come back


# ---- saved edits ----------------------------------------------------------------------------------
def test_edits_and_the_model_are_saved_and_reopen_with_the_file(qtbot, make_controller, store):
    c, _ = make_controller()
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    assert store.load(c.identity) is None  # opening saves nothing
    c.move_event("ED", 8, 10)
    c.set_frame(30)
    c.add_here("ES")
    saved = store.load(c.identity)
    assert (saved.ed_frames, saved.es_frames, saved.model) == ((10, 36), (19, 30, 45), DEFAULT_MODEL)
    assert (saved.edited_ed, saved.edited_es) == ((10,), (30,))
    c.set_model("teacher")
    idle(qtbot, c)
    assert store.load(c.identity).model == "teacher"  # a model switch is saved too
    c.undo()
    assert store.load(c.identity).es_frames == (19, 45)
    c.redo()
    picks = c.study.picks

    again, _ = make_controller()  # the app started again
    assert again.model_spec == DEFAULT_MODEL
    again.open(SAMPLE_CINE)
    idle(qtbot, again)
    assert again.study.picks == picks and again.study.user_edited and not again.study.can_undo
    assert again.model_spec == "teacher" and again.study.analysis.segmentation.model.file == "teacher.onnx"

    again.reset_picks()
    assert store.load(again.identity).ed_frames is None  # the automatic picks again


def test_a_damaged_active_student_falls_back_to_the_bundled_one_and_every_file_still_opens(
        qtbot, make_controller, tmp_path):
    """Issue 20 (10): a bad active_student.json (a truncated ONNX) made every open fail."""
    broken = tmp_path / "student.onnx"
    broken.write_bytes(STUDENT_MODEL.read_bytes()[:4000])  # cut short by a full disk, say
    broken.with_suffix(".json").write_text(STUDENT_MODEL.with_suffix(".json").read_text())
    ActiveStudent().set(str(broken))
    c, seen = make_controller()
    assert c.model_spec == str(broken)  # it exists, so the policy starts with it
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    note, = seen.payloads("error")
    assert "model unavailable: student.onnx" in note and f"showing {DEFAULT_MODEL}" in note and "\n" not in note
    assert c.study is not None and c.model_spec == DEFAULT_MODEL
    c.open(SAMPLE_CINE)  # the next open goes straight to the bundled student
    idle(qtbot, c)
    assert c.study is not None and len(seen.payloads("error")) == 1


def test_a_cine_left_behind_is_freed_with_its_tasks(qtbot, store, tmp_path):
    """The soak (bench/soak.py) found the viewer growing by about 1 MiB a cine: every task lived for
    ever (PySide kept the QRunnable, Qt the slots that close over it), and with it the cine that
    its model switch analysed."""
    import gc
    import weakref

    from echoviewer.gui.tasks import Task

    c = StudyController(store)  # no Recorder: it would hold every cine it sees
    second = shutil.copy(SAMPLE_CINE, tmp_path / "second.dcm")
    c.open(SAMPLE_CINE)
    idle(qtbot, c)
    c.set_model("teacher")
    idle(qtbot, c)
    first = weakref.ref(c.cine)
    c.open(second)
    idle(qtbot, c)
    settle(qtbot)
    gc.collect()
    assert first() is None, "the first cine is still held after another was opened"
    assert [o for o in gc.get_objects() if type(o) is Task] == []  # type(): isinstance would wake lazy module attributes
    c.cancel()
