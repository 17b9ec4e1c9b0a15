"""``python -m distill train-teacher``: a teacher trained on human-labelled frames, on tiny labelled
files built here from simulated cines whose truth is known (nothing here reads ``../shared``).

The patient-wise split, the model view of frames and masks, the refusals (one line, exit 2), the
model card (data, licence, scores through the product path), the exported ONNX in the viewer,
stop and resume, and that a few dozen steps learn the LV."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from distill.cli import main
from distill.datasets.labelled import open_labelled
from distill.errors import UsageError
from distill.networks import build
from distill.networks.checkpoints import read_checkpoint
from distill.synth import simulate
from distill.synth.writers import write_case, write_tables
from distill.train_teacher import (CAMUS_LICENCE, Cancelled, TeacherConfig, _batch_dice, _Trainer, in_validation,
                                   labelled_frames, patient_of, prepare, split_entries, train_teacher)
from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.preprocess import SquareCrop, model_view
from echoviewer.io import load_cine
from tests.helpers import ctrl_c_child, one_error_line, torch_on_one_thread

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

assert torch_on_one_thread  # an autouse fixture, imported to take effect here
PATIENTS = 12


def camus_npz(path: Path, patients: int, *, height: int = 128, width: int = 160) -> Path:
    """A CAMUS-layout npz of simulated A4C frames (ED and ES of each patient), label 1 the truth,
    a myocardium ring around it (label 2) so that only label 1 may be learnt."""
    names, images, labels = [], [], []
    for index in range(patients):
        cine = simulate(100 + index, height=height, width=width, n_frames=8)
        for phase, frame in (("ED", 0), ("ES", 4)):
            label = cine.masks[frame].astype(np.uint8)
            grown = cv2.dilate(label, np.ones((7, 7), np.uint8)) > 0
            label[grown & (label == 0)] = 2
            names.append(f"patient{index + 1:04d}_4CH_{phase}")
            images.append(cine.frames[frame])
            labels.append(label)
    np.savez(path, names=np.array(names), images=np.stack(images), labels=np.stack(labels))
    return path


@pytest.fixture(scope="module")
def camus(tmp_path_factory) -> Path:
    return camus_npz(tmp_path_factory.mktemp("camus") / "camus_train.npz", PATIENTS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, camus) -> tuple[Path, dict]:
    """A short run (three steps): its folder and model card."""
    out = tmp_path_factory.mktemp("teacher") / "run"
    card = train_teacher(TeacherConfig(str(camus), str(out), val_share=0.25, steps=3, batch=4, seed=1))
    return out, card


def weights(path: Path) -> dict:
    return read_checkpoint(path)["state_dict"]


# --- the split and the model view -------------------------------------------------------------

def test_the_validation_share_is_patient_wise_stable_and_about_its_size(tmp_path) -> None:
    names = np.array([f"patient{p:04d}_{v}_{ph}" for p in range(1, 201) for v in ("2CH", "4CH") for ph in ("ED", "ES")])
    path = tmp_path / "many.npz"
    np.savez(path, names=names, images=np.zeros((len(names), 4, 4), np.uint8),
             labels=np.zeros((len(names), 4, 4), np.uint8))
    labelled = open_labelled(path)
    train, val = split_entries(labelled, None, 0.1)
    train_patients = {patient_of(n) for n, _ in train}
    val_patients = {patient_of(n) for n, _ in val}
    assert not train_patients & val_patients and len(train_patients | val_patients) == 200
    assert 10 <= len(val_patients) <= 32  # about 20 of 200
    assert all(sum(patient_of(n) == p for n, _ in val) == 4 for p in val_patients)  # every frame of a patient
    assert [n for n, _ in split_entries(labelled, None, 0.1)[1]] == [n for n, _ in val]  # stable
    assert in_validation("patient0001", 0.1) == in_validation("patient0001", 0.1)
    assert patient_of("patient0042_2CH_ES") == "patient0042" and patient_of("0X1A2B") == "0X1A2B"


@pytest.mark.slow
def test_frames_and_masks_take_the_viewers_model_view(camus, tmp_path) -> None:
    labelled = open_labelled(camus)
    case = next(labelled.cases())
    (image, mask, name), = labelled_frames(case, tmp_path)
    cine_path = tmp_path / "one.npz"
    np.savez(cine_path, frames=case.image[None])
    cine = load_cine(cine_path)
    frames, _, crop = model_view(cine)
    assert name == f"{case.name}:ED" and np.array_equal(image, frames[0])
    reference = case.labels[0].mask
    assert reference is not None
    nearest = SquareCrop.of_sector(cine.sector_mask).to_model(reference[None].astype(np.uint8),
                                                             interpolation=cv2.INTER_NEAREST)[0] > 0
    assert mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1
    assert (mask > 0.5).sum() == pytest.approx(nearest.sum(), rel=0.05)
    assert ((mask > 0.5) & nearest).sum() / nearest.sum() > 0.95
    assert crop == SquareCrop.of_sector(cine.sector_mask)


# --- refusals ---------------------------------------------------------------------------------

def test_bad_paths_layouts_and_too_few_cases_are_one_line_errors(camus, tmp_path, capsys) -> None:
    def refused(*argv: str) -> str:
        assert main(["train-teacher", "--out", str(tmp_path / "run"), "--progress", "none", *argv]) == 2
        return one_error_line(capsys.readouterr().err)

    assert "no such file or folder" in refused("--labelled", str(tmp_path / "missing.npz"))
    (tmp_path / "notes.txt").write_text("hello")
    assert "not labelled data" in refused("--labelled", str(tmp_path / "notes.txt"))
    (tmp_path / "empty").mkdir()
    assert "no labelled data found" in refused("--labelled", str(tmp_path / "empty"))
    small = camus_npz(tmp_path / "small.npz", 1)
    assert "too few cases" in refused("--labelled", str(small))
    assert "--val-share" in refused("--labelled", str(camus), "--val-share", "1.5")
    assert "shares" in refused("--labelled", str(camus), "--val", str(camus))
    assert not (tmp_path / "run").exists()


def test_a_non_empty_folder_and_a_resume_without_a_run_are_refused(camus, tmp_path, capsys) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["train-teacher", "--labelled", str(camus), "--out", str(tmp_path / "full"), "--val-share", "0.25",
                 "--progress", "none"]) == 2
    assert "not empty" in one_error_line(capsys.readouterr().err)
    assert main(["train-teacher", "--labelled", str(camus), "--out", str(tmp_path / "new"), "--val-share", "0.25",
                 "--resume", "--progress", "none"]) == 2
    assert "nothing to resume" in one_error_line(capsys.readouterr().err)


def test_a_stop_while_the_cases_are_read_ends_before_any_step_and_writes_nothing(camus, tmp_path) -> None:
    config = TeacherConfig(str(camus), str(tmp_path / "run"), val_share=0.25, steps=3, batch=4)
    with pytest.raises(Cancelled, match="while reading the train cases, before any step"):
        train_teacher(config, cancelled=lambda: True)
    assert not (tmp_path / "run").exists()


# --- EchoNet-Dynamic folders ------------------------------------------------------------------

@pytest.mark.slow
def test_an_echonet_folder_needs_its_licence_and_gives_two_frames_a_video(tmp_path, capsys) -> None:
    root = tmp_path / "EchoNet-Dynamic"
    for folder in ("Masks", "Videos"):
        (root / folder).mkdir(parents=True)
    names = [f"0X{index:04X}" for index in range(6)]
    for index, name in enumerate(names):
        write_case(root, name, simulate(200 + index, n_frames=40, fps=30.0), "echonet")
    write_tables(root, names, "echonet")
    shutil.rmtree(root / "Masks")
    assert main(["train-teacher", "--labelled", str(root), "--out", str(tmp_path / "run"), "--progress", "none"]) == 2
    assert "--data-licence" in one_error_line(capsys.readouterr().err)
    labelled = open_labelled(root)
    frames = prepare(labelled.entries(), labelled.count, "train", "none")
    assert len(frames.names) == 2 * len(names) and not frames.failed
    assert {n.split(":")[1] for n in frames.names} == {"ED", "ES"} and frames.images.shape[1:] == (112, 112)
    assert all(0.02 < (m > 0.5).mean() < 0.5 for m in frames.masks)  # an LV, not nothing, not everything


# --- a run: card, ONNX, resume, learning ------------------------------------------------------

@pytest.mark.slow
def test_the_card_records_data_licence_and_scores_through_the_product_path(trained, camus) -> None:
    out, card = trained
    assert card["licence"]["licence"] == CAMUS_LICENCE["licence"] == "CC BY-NC-SA 4.0"
    assert "non-commercial" in card["licence"]["use"] and "Leclerc" in card["licence"]["citation"]
    assert "IEEE TMI" in card["licence"]["citation"]
    data = card["data"]
    assert data["name"] == camus.name and data["layout"] == "camus-npz"
    assert data["train"]["patients"] + data["validation"]["patients"] == PATIENTS
    assert data["train"]["frames"] + data["validation"]["frames"] == 2 * PATIENTS
    assert data["validation"]["patients"] >= 1 and "sha256 of the patient id" in data["validation"]["source"]
    scores = card["metrics"]["labelled_validation"]
    assert scores["frames_scored"] == data["validation"]["frames"] and not scores["failed"]
    assert {(s["view"], s["phase"]) for s in scores["summary"]} == {("A4C", "ED"), ("A4C", "ES")}
    assert card["parameters"] == 2_483_969 and card["training"]["total_steps"] == 3
    written = json.loads((out / "teacher.json").read_text(encoding="utf-8"))
    assert written["sha256"] == card["sha256"] and written["licence"] == card["licence"]
    rows = json.loads((out / "validation.json").read_text(encoding="utf-8"))["rows"]
    val_patients = {patient_of(r["name"]) for r in rows}
    assert len(val_patients) == data["validation"]["patients"]


@pytest.mark.slow
def test_the_exported_teacher_loads_in_the_viewer_and_segments(trained, tmp_path) -> None:
    out, card = trained
    model = load_model(out / "teacher.onnx")
    cine = simulate(7, height=128, width=160, n_frames=6)
    path = tmp_path / "cine.npz"
    np.savez(path, frames=cine.frames)
    analysis = analyze(load_cine(path), model)
    assert analysis.segmentation.n_frames == 6
    assert analysis.segmentation.native_mask(0).shape == (128, 160)
    assert json.loads((out / "teacher.json").read_text(encoding="utf-8"))["temporal"] == "frame"


@pytest.mark.slow
def test_a_stopped_run_resumed_equals_an_uninterrupted_one(camus, tmp_path, monkeypatch) -> None:
    settings = {"val_share": 0.25, "steps": 4, "epochs": 1, "batch": 4, "seed": 3}
    whole = tmp_path / "whole"
    train_teacher(TeacherConfig(str(camus), str(whole), **settings))
    parts = tmp_path / "parts"
    steps = {"n": 0}
    step = _Trainer.train_step

    def counted(trainer: _Trainer) -> float:
        steps["n"] += 1
        return step(trainer)

    monkeypatch.setattr(_Trainer, "train_step", counted)
    with pytest.raises(Cancelled, match="--resume"):
        train_teacher(TeacherConfig(str(camus), str(parts), **settings), cancelled=lambda: steps["n"] >= 2)
    assert read_checkpoint(parts / "last.pt")["step"] == 2 and not (parts / "teacher.onnx").exists()
    train_teacher(TeacherConfig(str(camus), str(parts), **settings), resume=True)
    for name in ("last.pt", "best.pt"):
        a, b = weights(whole / name), weights(parts / name)
        assert all(torch.equal(a[key], b[key]) for key in a), name
    with pytest.raises(UsageError, match="other settings"):
        train_teacher(TeacherConfig(str(camus), str(parts), **{**settings, "lr": 0.01}), resume=True)


@pytest.mark.slow
def test_ctrl_c_stops_after_a_step_and_resume_finishes(camus, tmp_path) -> None:
    out = tmp_path / "run"
    argv = ["train-teacher", "--labelled", str(camus), "--out", str(out), "--val-share", "0.25", "--steps", "400",
            "--batch", "2", "--progress", "json"]
    code, err = ctrl_c_child(argv, ready=(out / "last.pt").is_file)  # after the first validation
    assert code == 130 and "--resume" in err and "Traceback" not in err
    step = read_checkpoint(out / "last.pt")["step"]
    assert 0 < step < 400
    assert main(["train-teacher", "--labelled", str(camus), "--out", str(out), "--val-share", "0.25",
                 "--steps", "400", "--batch", "2", "--progress", "none", "--minutes", "0.01", "--resume"]) == 0
    card = json.loads((out / "teacher.json").read_text(encoding="utf-8"))
    assert card["training_summary"]["stopped"] == "time" and card["training_summary"]["steps"] >= step


@pytest.mark.slow
def test_a_few_dozen_steps_learn_the_lv(camus, tmp_path) -> None:
    config = TeacherConfig(str(camus), str(tmp_path / "run"), val_share=0.25, steps=60, batch=8, lr=3e-3, seed=0,
                           augment=0.3)
    _, val_entries = split_entries(open_labelled(camus), None, config.val_share)
    val = prepare(val_entries, len(val_entries), "validation", "none")
    torch.manual_seed(config.seed)
    untrained = build("teacher").eval()
    with torch.inference_mode():
        x = torch.from_numpy(val.images).float()[:, None, None]
        baseline = float(_batch_dice(untrained(x), torch.from_numpy(val.masks)[:, None, None]).mean())
    card = train_teacher(config)
    learnt = card["training_summary"]["best_val_dice"]
    product = card["metrics"]["labelled_validation"]["dice_mean"]
    assert learnt > baseline + 0.3 and learnt > 0.6, (baseline, learnt)  # measured: 0.23 → 0.75
    assert product > 0.6, product  # the same frames through load_cine → analyze
