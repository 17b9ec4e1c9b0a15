"""The viewer keeps working when its own folder does not (issue 20, item 10): an unwritable data
folder is said once, the cine opens, and edits stay in memory for the session."""

from __future__ import annotations

from echoviewer.resources import SAMPLE_CINE
from tests import test_gui
from tests.test_gui import open_and_wait

app, make_window = test_gui.app, test_gui.make_window


def test_an_unwritable_data_folder_is_said_once_and_edits_stay_in_memory(qtbot, make_window, tmp_path,
                                                                         monkeypatch) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("ECHOVIEWER_DATA_DIR", str(blocker / "data"))  # cannot be created
    window = make_window()
    said: list[str] = []
    window.controller.error.connect(said.append)
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    assert c.study is not None  # the cine opened
    c.set_frame(c.study.analysis.ed_frames[0] + 1)
    c.mark_here("ED")
    c.mark_here("ES")
    assert c.study.user_edited and c.frame in c.study.picks.ed + c.study.picks.es  # in memory
    unsaved = [text for text in said if "not saved" in text]
    assert len(unsaved) == 1 and "\n" not in unsaved[0] and "ECHOVIEWER_DATA_DIR" in unsaved[0]
