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


def test_pseudonymised_exports_name_the_cine_by_its_key_and_the_choice_is_kept(qtbot, make_window, tmp_path,
                                                                              private_data_dir) -> None:
    """Issue 20 (6): the viewer's preference: JSON, CSV and masks exports without the file name."""
    import json
    import shutil

    import numpy as np

    from echoviewer.user_data import Preferences

    cine = tmp_path / "DOE_JANE_a4c.dcm"
    shutil.copy(SAMPLE_CINE, cine)
    window = make_window()
    window.actions["pseudonymise"].trigger()
    assert Preferences().pseudonymise and window.actions["pseudonymise"].isChecked()
    open_and_wait(qtbot, window, cine)
    e = window.exporter
    assert e.export_json(tmp_path / "out.json") and e.export_csv(tmp_path / "out.csv")
    assert e.export_masks(tmp_path / "masks.npz")
    for name in ("out.json", "out.csv", "out_beats.csv"):
        assert "DOE" not in (tmp_path / name).read_text(encoding="utf-8"), name
    key = json.loads((tmp_path / "out.json").read_text())["cines"][0]["file"]
    with np.load(tmp_path / "masks.npz") as masks:
        assert masks.files == [f"000_{key}"]
    assert f"{key},{cine.resolve()}" in (private_data_dir / "pseudonyms.csv").read_text(encoding="utf-8")
    (private_data_dir / "pseudonyms.csv").unlink()
    assert e.export_masks(tmp_path / "only.npz")  # the masks alone: their key is mapped too
    assert f"{key},{cine.resolve()}" in (private_data_dir / "pseudonyms.csv").read_text(encoding="utf-8")
    assert make_window().actions["pseudonymise"].isChecked()  # kept for the next window


def test_a_pseudonym_map_that_cannot_be_saved_is_that_exports_one_line_error(qtbot, make_window, tmp_path,
                                                                              private_data_dir) -> None:
    """Saving the map raised in the export's slot (a traceback) instead of saying so; an export
    whose keys could not be kept is not written, since nobody could map it back."""
    window = make_window()
    window.actions["pseudonymise"].trigger()
    said: list[str] = []
    window.exporter.error.connect(said.append)
    open_and_wait(qtbot, window, SAMPLE_CINE)
    (private_data_dir / "pseudonyms.csv").mkdir()  # where the map goes, something that cannot be written
    e = window.exporter
    assert not e.export_json(tmp_path / "out.json") and not e.export_csv(tmp_path / "out.csv")
    assert not e.export_masks(tmp_path / "masks.npz")
    assert len(said) == 3 and all("\n" not in text and "could not write" in text for text in said)
    assert not list(tmp_path.glob("out*")) and not (tmp_path / "masks.npz").exists()
