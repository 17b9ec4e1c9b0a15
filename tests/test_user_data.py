"""Per-user state (saved edits, recent files, file identity) and the model catalog."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import platformdirs
import pydicom
import pytest

from echoviewer.model_catalog import ModelEntry, available_models
from echoviewer.analysis.models import BUNDLED
from echoviewer.io import load_cine
from echoviewer.resources import BUNDLED_MODELS, SAMPLE_CINE, STUDENT_MODEL
from echoviewer.user_data import (BUNDLED_SPECS, EditStore, RecentFiles, SavedEdits, data_dir,
                                  file_identity, user_models_dir)
from tests.helpers import moving_frames, write_dicom


@pytest.fixture(autouse=True)
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder; the real one is never touched."""
    folder = tmp_path / "data"
    monkeypatch.setenv("ECHOVIEWER_DATA_DIR", str(folder))
    return folder


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def edits(**changes) -> SavedEdits:
    return SavedEdits(**{"ed_frames": (3, 20), "es_frames": (11,), "model": "teacher", "edited_ed": (20,),
                         "edited_es": (), "n_frames": 30, **changes})


# --- data folder ------------------------------------------------------------------------------

def test_data_dir_comes_from_the_environment_else_platformdirs(user_folder: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_dir() == user_folder and user_models_dir() == user_folder / "models"
    monkeypatch.delenv("ECHOVIEWER_DATA_DIR")
    assert data_dir() == Path(platformdirs.user_data_dir("echoviewer", appauthor=False))


def test_reading_creates_nothing(user_folder: Path) -> None:
    assert EditStore().load("sop-0123") is None
    assert RecentFiles().paths() == []
    assert [e.spec for e in available_models()] == ["student", "teacher", "student-camus", "teacher-camus"]
    assert not user_folder.exists()


# --- file identity ----------------------------------------------------------------------------

def test_dicom_identity_survives_renaming_and_hides_the_uid(tmp_path: Path) -> None:
    sample = load_cine(SAMPLE_CINE)
    uid = sample.identifiers.sop_instance_uid
    assert uid
    identity = file_identity(sample)
    assert identity == "sop-" + hashlib.sha256(uid.encode()).hexdigest()[:32]
    assert uid not in identity and uid.replace(".", "") not in identity
    moved = tmp_path / "elsewhere" / "renamed.dcm"
    moved.parent.mkdir()
    shutil.copyfile(SAMPLE_CINE, moved)
    assert file_identity(load_cine(moved)) == identity
    other = write_dicom(tmp_path / "other.dcm", moving_frames())
    assert file_identity(load_cine(other)).startswith("sop-")
    assert file_identity(load_cine(other)) != identity


def test_dicom_without_uid_and_numpy_files_are_keyed_by_their_bytes(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(SAMPLE_CINE)
    del dataset.SOPInstanceUID
    no_uid = tmp_path / "no_uid.dcm"
    dataset.save_as(no_uid)
    assert file_identity(load_cine(no_uid)) == "sha256-" + hashlib.sha256(no_uid.read_bytes()).hexdigest()

    array = tmp_path / "clip.npy"
    np.save(array, moving_frames())
    identity = file_identity(load_cine(array))
    assert identity == "sha256-" + hashlib.sha256(array.read_bytes()).hexdigest()
    copy = tmp_path / "copy.npy"
    shutil.copyfile(array, copy)
    assert file_identity(load_cine(copy)) == identity
    np.save(array, moving_frames(seed=1))
    assert file_identity(load_cine(array)) != identity


# --- saved edits ------------------------------------------------------------------------------

def test_edits_round_trip_and_forget(user_folder: Path) -> None:
    store, identity = EditStore(), file_identity(load_cine(SAMPLE_CINE))
    saved = edits(model=str(STUDENT_MODEL))
    store.save(identity, saved)
    assert store.load(identity) == saved
    record = json.loads((user_folder / "edits" / f"{identity}.json").read_text())
    assert record["version"] == 1 and record["ed_frames"] == [3, 20]
    assert files_under(user_folder) == [user_folder / "edits" / f"{identity}.json"]  # no partial left

    automatic = edits(ed_frames=None, es_frames=None, edited_ed=(), model=None)
    store.save(identity, automatic)
    assert store.load(identity) == automatic
    assert store.load(identity).matches(30) and not store.load(identity).matches(31)
    store.forget(identity)
    store.forget(identity)
    assert store.load(identity) is None and files_under(user_folder) == []


def test_an_explicit_root_is_used(tmp_path: Path, user_folder: Path) -> None:
    EditStore(tmp_path / "elsewhere").save("sha256-ab", edits())
    assert EditStore(tmp_path / "elsewhere").load("sha256-ab") == edits()
    assert EditStore().load("sha256-ab") is None and not user_folder.exists()


def test_saved_files_hold_no_patient_identifiers(user_folder: Path) -> None:
    cine = load_cine(SAMPLE_CINE)
    EditStore().save(file_identity(cine), edits())
    RecentFiles().add(SAMPLE_CINE)
    ids = cine.identifiers
    secrets = [v for v in (ids.sop_instance_uid, ids.study_instance_uid, ids.series_instance_uid,
                           ids.patient_name, ids.patient_id) if v]
    written = [str(p) + p.read_text() for p in files_under(user_folder)]
    assert secrets and not [s for s in secrets for text in written if s in text]


DAMAGED = {
    "not json": b"{ed_frames: [1]",
    "not utf-8": b'{"version": 1, "model": "\xff\xfe"}',
    "empty": b"",
    "a list": b"[1, 2]",
    "deeply nested": b"[" * 100_000,
    "huge int": b'{"version": 1, "n_frames": ' + b"9" * 5000 + b"}",
}
FIELD_DAMAGE = {
    "no version": {"version": None},
    "future version": {"version": 2},
    "version as text": {"version": "1"},
    "missing field": {"edited_es": KeyError},
    "negative frame": {"ed_frames": [-1, 20]},
    "frame past the end": {"es_frames": [30]},
    "float frame": {"ed_frames": [3.0, 20]},
    "bool frame": {"ed_frames": [True, 20]},
    "frames as text": {"ed_frames": "3,20"},
    "frames as object": {"es_frames": {"0": 1}},
    "edited not picked": {"edited_ed": [5]},
    "edited without picks": {"ed_frames": None},
    "n_frames zero": {"n_frames": 0},
    "n_frames as text": {"n_frames": "30"},
    "n_frames float": {"n_frames": 30.0},
    "model relative path": {"model": "../models/x.onnx"},
    "model as number": {"model": 7},
    "model as list": {"model": ["student"]},
}


@pytest.mark.parametrize("content", list(DAMAGED.values()) + [
    json.dumps({k: v for k, v in {"version": 1, **edits().__dict__, **change}.items() if v is not KeyError},
               default=list).encode() for change in FIELD_DAMAGE.values()],
    ids=list(DAMAGED) + list(FIELD_DAMAGE))
def test_damaged_or_foreign_files_load_as_none_and_stay(user_folder: Path, content: bytes) -> None:
    path = user_folder / "edits" / "sop-1234.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert EditStore().load("sop-1234") is None
    assert path.read_bytes() == content


def test_a_folder_where_the_file_should_be_loads_as_none(user_folder: Path) -> None:
    (user_folder / "edits" / "sop-1234.json").mkdir(parents=True)
    assert EditStore().load("sop-1234") is None


@pytest.mark.parametrize("identity", ["../escape", "..", "a/b", "a\\b", "/tmp/x", "sop-ABC", "", "x.json",
                                      "sop-1\x00", "sop-é", "a" * 101, 42, None])
def test_crafted_identities_are_rejected(tmp_path: Path, user_folder: Path, identity) -> None:
    store = EditStore()
    for call in (lambda: store.load(identity), lambda: store.save(identity, edits()),
                 lambda: store.forget(identity)):
        with pytest.raises(ValueError, match="not a file identity"):
            call()
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("change", [{"ed_frames": [3, 20]}, {"n_frames": 0}, {"es_frames": (30,)},
                                    {"edited_es": (4,)}, {"model": "model.onnx"}, {"ed_frames": (True, 20)},
                                    {"ed_frames": (-1, 20)}])
def test_inconsistent_edits_cannot_be_made(change: dict) -> None:
    with pytest.raises(ValueError):
        edits(**change)


def test_bundled_specs_match_the_bundled_models() -> None:
    assert BUNDLED_SPECS == tuple(BUNDLED)


# --- recent files -----------------------------------------------------------------------------

def make_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"cine{i}.dcm").write_bytes(b"x")
    return [(folder / f"cine{i}.dcm").resolve() for i in range(count)]


def test_recent_files_order_dedup_and_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_files(tmp_path / "cines", 5)
    recent = RecentFiles(limit=3)
    for path in files[:3]:
        recent.add(path)
    assert recent.paths() == [files[2], files[1], files[0]]
    monkeypatch.chdir(tmp_path / "cines")
    recent.add("cine1.dcm")  # relative: resolved, and the older entry goes
    assert recent.paths() == [files[1], files[2], files[0]]
    assert json.loads(recent.file.read_text())["paths"] == [str(files[i]) for i in (1, 2, 0)]
    recent.add(files[3])
    recent.add(files[4])
    assert recent.paths() == [files[4], files[3], files[1]]
    assert RecentFiles(limit=12).paths() == [files[4], files[3], files[1]]
    assert RecentFiles(limit=2).paths() == [files[4], files[3]]
    recent.clear()
    recent.clear()
    assert recent.paths() == []


def test_recent_files_skip_files_that_are_gone(tmp_path: Path) -> None:
    files = make_files(tmp_path / "cines", 3)
    recent = RecentFiles()
    for path in files:
        recent.add(path)
    files[1].unlink()
    assert recent.paths() == [files[2], files[0]]
    recent.add(files[0])
    assert recent.paths() == [files[0], files[2]]


@pytest.mark.parametrize("content", [b"nonsense", b"\xff\xfe", b"{}", b'{"version": 1, "paths": "/x"}',
                                     b'{"version": 1, "paths": [1]}', b'{"version": 2, "paths": []}',
                                     b"[" * 100_000])
def test_a_damaged_recent_list_reads_as_empty_and_is_replaced(tmp_path: Path, user_folder: Path,
                                                              content: bytes) -> None:
    user_folder.mkdir()
    (user_folder / "recent.json").write_bytes(content)
    recent = RecentFiles()
    assert recent.paths() == []
    file = make_files(tmp_path / "cines", 1)[0]
    recent.add(file)
    assert recent.paths() == [file]


def test_recent_entries_must_be_absolute(tmp_path: Path, user_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = make_files(tmp_path / "cines", 1)[0]
    monkeypatch.chdir(file.parent)
    user_folder.mkdir()
    (user_folder / "recent.json").write_text(json.dumps({"version": 1, "paths": [file.name, str(file), str(file)]}))
    assert RecentFiles().paths() == [file]


def test_recent_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        RecentFiles(limit=0)


# --- model catalog ----------------------------------------------------------------------------

BUNDLED_ENTRIES = [ModelEntry(spec, f"{spec.capitalize()} (bundled)", path, True) for spec, path in BUNDLED_MODELS.items()]
BUNDLED_LABELS = [entry.label for entry in BUNDLED_ENTRIES]
N_BUNDLED = len(BUNDLED_ENTRIES)


def test_catalog_with_the_bundled_models_only(tmp_path: Path) -> None:
    assert available_models() == BUNDLED_ENTRIES  # the data folder does not exist
    assert available_models(user_dir=tmp_path) == BUNDLED_ENTRIES
    assert available_models(user_dir=tmp_path / "missing") == BUNDLED_ENTRIES


def copy_model(folder: Path, stem: str, sidecar: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.onnx"
    shutil.copyfile(STUDENT_MODEL, target)
    if sidecar is None:
        shutil.copyfile(STUDENT_MODEL.with_suffix(".json"), target.with_suffix(".json"))
    else:
        target.with_suffix(".json").write_bytes(sidecar)
    return target


def test_catalog_lists_the_user_folder_by_name(tmp_path: Path) -> None:
    folder = user_models_dir()
    mine = copy_model(folder, "mine")
    damaged = copy_model(folder, "damaged", b"\xff not json")
    unnamed = copy_model(folder, "a_unnamed", b'{"name": "  \\n "}')
    control = copy_model(folder, "b_control", b'{"name": "bad\\u0000name"}')
    renamed = copy_model(folder, "c_renamed", b'{"name": "Hospital\\n  model"}')
    listed = copy_model(folder, "d_list", b'["name"]')
    nested = copy_model(folder, "e_nested", b"[" * 100_000)
    shutil.copyfile(STUDENT_MODEL, folder / "no_sidecar.onnx")
    (folder / "notes.json").write_text("{}")
    entries = available_models()
    assert entries[:N_BUNDLED] == BUNDLED_ENTRIES
    assert [(e.spec, e.label, e.path, e.bundled) for e in entries[N_BUNDLED:]] == [
        (str(p.resolve()), label, p.resolve(), False) for p, label in
        [(unnamed, "a_unnamed"), (control, "b_control"), (renamed, "Hospital model"),
         (listed, "d_list"), (damaged, "damaged"), (nested, "e_nested"), (mine, "echoviewer bundled student")]]
    assert all(Path(e.spec).is_absolute() for e in entries[N_BUNDLED:])


def test_catalog_adds_extra_files_that_exist_once(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    mine = copy_model(folder, "mine")
    outside = copy_model(tmp_path / "outside", "theirs", b'{"name": "Theirs"}')
    bare = tmp_path / "bare.onnx"
    shutil.copyfile(STUDENT_MODEL, bare)
    extra = ["student", STUDENT_MODEL, tmp_path / "missing.onnx", mine, outside,
             tmp_path / "outside" / ".." / "outside" / "theirs.onnx", str(bare)]
    entries = available_models(extra, user_dir=folder)
    assert [e.label for e in entries] == [*BUNDLED_LABELS, "echoviewer bundled student", "Theirs", "bare"]
    assert [e.path for e in entries[N_BUNDLED:]] == [mine.resolve(), outside.resolve(), bare.resolve()]
