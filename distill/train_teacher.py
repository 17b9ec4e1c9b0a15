"""``python -m distill train-teacher``: a teacher trained on human-labelled real frames, exported.

The labelled data is read by :mod:`distill.datasets.labelled` (a CAMUS ``.npz``, the CAMUS NIfTI
release, an EchoNet-Dynamic folder with ``VolumeTracings.csv``). Every labelled frame goes to the
model view exactly as the viewer feeds the model: the case becomes a cine (a single CAMUS frame a
one-frame ``.npz`` cine, as ``realeval`` writes it) → ``load_cine`` → ``model_view`` (the sector's
square, 112 × 112); its LV reference takes the same :class:`SquareCrop`, area-averaged into a soft
mask, so training and inference see the same geometry.

Validation: ``--val PATH`` (other labelled data, no patient in common), or a share of the patients
of ``--labelled`` (``--val-share``, by a stable hash of the patient id: every frame of a patient
falls on one side). Checkpoint selection (``best.pt``) looks at the validation frames only.

The network is the bundled teacher's (``networks.build("teacher")``), trained per frame: BCE + soft
Dice (``train.loss_terms``), AdamW with a cosine schedule over the steps, the augmentation of
:mod:`distill.augment` (rotation, scale, shift, gain, gamma, blur, noise, shadow; geometry applied
alike to frame and mask). Seeded and reproducible. Files in ``--out``: ``config.json``,
``last.pt`` (after every validation, and at a stop), ``best.pt``, ``history.json``,
``summary.json``, ``validation.json`` (every scored row), then, last, ``teacher.onnx`` ("teacher
trained on NAME") with its model card ``teacher.json`` (the training data, its licence, and the
scores on the validation cases through ``load_cine`` → ``analyze``, as ``realeval`` computes them).
Ctrl-C or SIGTERM stops after the step in progress, writes ``last.pt``; ``--resume`` continues
with the same results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from distill.augment import augment
from distill.datasets.labelled import LabelledCase, LabelledSet, open_labelled
from distill.errors import UsageError
from distill.export import export
from distill.networks import build, parameter_count
from distill.networks.checkpoints import read_checkpoint, save_checkpoint
from distill.progress import Progress
from distill.realeval import one_frame_cine, score_case
from distill.scores import summarize
from distill.train import before_first_epoch, clear_for_start, loss_terms, save_last
from echoviewer.analysis import load_model
from echoviewer.analysis.phases import MASK_THRESHOLD
from echoviewer.analysis.preprocess import model_view
from echoviewer.io import CineLoadError, load_cine
from echoviewer.io.atomic import write_json
from echoviewer.io.errors import one_line
from echoviewer.run_contract import (DONE, EPOCH, TEACHER_STAGE, TeacherFolder, TrainFolder, event_line, tagged,
                                     teacher_load_stage, write_line)

STAGE = TEACHER_STAGE
NETWORK = "teacher"
MIN_TRAIN_FRAMES = 4
MIN_VAL_FRAMES = 1
VALIDATION = "validation.json"
CAMUS_LICENCE = {
    "licence": "CC BY-NC-SA 4.0",
    "use": "non-commercial research use only; a model trained on CAMUS images inherits this licence",
    "citation": "S. Leclerc et al., \"Deep Learning for Segmentation using an Open Large-Scale Dataset in 2D "
                "Echocardiography\", IEEE TMI 38(9):2198-2210, 2019, doi:10.1109/TMI.2019.2900516",
}
REFERENCE = {"camus-npz": "CAMUS label 1 (LV cavity)", "camus-nifti": "CAMUS label 1 (LV cavity)",
             "echonet": "EchoNet-Dynamic VolumeTracings polygon (LV cavity)"}
_PATIENT = re.compile(r"(patient\d+)_")

EventCallback = Callable[[dict], None]


class Cancelled(Exception):
    """Training stopped on request; ``last.pt`` holds the state after the last finished step."""


@dataclass
class TeacherConfig:
    labelled: str
    out: str
    val: str = ""  # other labelled data to validate on; empty: --val-share of --labelled's patients
    val_share: float = 0.1
    split: str = "all"  # EchoNet folders: the split of --labelled trained on (TRAIN, VAL, TEST, all)
    epochs: int = 40  # passes over the training frames, unless --steps says otherwise
    steps: int = 0  # total optimiser steps (0: epochs × ceil(training frames / batch))
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-2
    dice: float = 0.5  # weight of the soft Dice term added to BCE
    augment: float = 1.0  # distill.augment strength
    seed: int = 0
    minutes: float = 0.0  # time budget: stop (then validate and export) after this many minutes; 0: none
    device: str = "auto"
    data_licence: str = ""  # required for data other than CAMUS
    name: str = ""  # the model's name in its card (default "teacher trained on <data>")

    def identity(self) -> dict:
        """What must not change between a run and its resumption."""
        return {k: v for k, v in asdict(self).items() if k not in ("out", "minutes", "device", "data_licence", "name")}


@dataclass
class Frames:
    """Labelled frames in the model view: uint8 images, soft LV masks (0-1), and where they came from."""

    images: np.ndarray  # (N, 112, 112) uint8
    masks: np.ndarray  # (N, 112, 112) float32
    names: list[str]
    patients: list[str]
    cases: list[LabelledCase]  # kept for scoring the validation cases through the product path
    failed: list[dict]

    def describe(self) -> dict:
        return {"patients": len(set(self.patients)), "cases": len(self.cases), "frames": len(self.names),
                "failed": len(self.failed)}


def patient_of(name: str) -> str:
    """The patient id of a case: CAMUS ``patientNNNN``; an EchoNet video is its own patient."""
    match = _PATIENT.match(name)
    return match.group(1) if match else name


def in_validation(patient: str, share: float) -> bool:
    """Whether a patient falls in the validation share: a stable hash (sha256) of the id in [0, 1)."""
    value = int.from_bytes(hashlib.sha256(patient.encode()).digest()[:8], "big") / 2 ** 64
    return value < share


def labelled_frames(case: LabelledCase, scratch: Path) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(model-view frame, soft model-view LV mask, name) of every labelled frame of a case, through
    ``load_cine`` and ``model_view`` as the viewer feeds the model."""
    cine = load_cine(case.path) if case.path is not None else one_frame_cine(case, scratch)
    frames, _, crop = model_view(cine)
    out = []
    for label in case.labels:
        if not 0 <= label.frame < len(frames):
            raise ValueError(f"{case.name}: labelled frame {label.frame} is outside the cine's {len(frames)} frames")
        reference = label.reference(cine.frames.shape[1:]).astype(np.float32)
        mask = crop.to_model(reference[None], interpolation=cv2.INTER_AREA)[0]
        out.append((frames[label.frame], np.clip(mask, 0, 1), f"{case.name}:{label.phase}"))
    return out


def prepare(entries: Iterable[tuple[str, Callable[[], LabelledCase]]], total: int, what: str,
            progress: str, cancelled: Callable[[], bool] = lambda: False) -> Frames:
    """Read and cut the cases of ``entries``; a damaged case is recorded and left out. Cancelled
    (nothing written yet) when ``cancelled()`` says so between two cases."""
    images, masks, names, patients, cases, failed = [], [], [], [], [], []
    bar = Progress(teacher_load_stage(what), total=total, mode=progress, unit="case")
    try:
        with tempfile.TemporaryDirectory(prefix="train-teacher-") as scratch:
            for name, read in entries:
                if cancelled():
                    raise Cancelled(f"stopped while reading the {what} cases, before any step; run the same "
                                    "command again")
                try:
                    case = read()
                    rows = labelled_frames(case, Path(scratch))
                except (CineLoadError, ValueError) as exc:
                    failed.append({"name": name, "error": one_line(exc)})
                else:
                    cases.append(case)
                    for image, mask, frame_name in rows:
                        images.append(image)
                        masks.append(mask)
                        names.append(frame_name)
                        patients.append(patient_of(name))
                bar.advance()
    finally:
        bar.close()
    shape = (0, 112, 112)
    return Frames(np.stack(images) if images else np.zeros(shape, np.uint8),
                  np.stack(masks) if masks else np.zeros(shape, np.float32), names, patients, cases, failed)


def _open(path: str, split: str, option: str) -> LabelledSet:
    try:
        return open_labelled(path, split)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"{option}: {one_line(exc)}") from exc


def split_entries(labelled: LabelledSet, val: LabelledSet | None, share: float) -> tuple[list, list]:
    """(training, validation) entries: all of ``labelled`` and all of ``val``, or ``labelled``'s
    patients split by :func:`in_validation`. UsageError when a patient would be on both sides."""
    entries = list(labelled.entries())
    if val is not None:
        val_entries = list(val.entries())
        common = {patient_of(n) for n, _ in entries} & {patient_of(n) for n, _ in val_entries}
        if common:
            raise UsageError(f"--val {val.root} shares {len(common)} patient(s) with --labelled "
                             f"(e.g. {sorted(common)[0]}); validate on other patients")
        return entries, val_entries
    if not 0 < share < 1:
        raise UsageError(f"--val-share must lie between 0 and 1, not {share}; or give --val PATH")
    held = [entry for entry in entries if in_validation(patient_of(entry[0]), share)]
    kept = [entry for entry in entries if not in_validation(patient_of(entry[0]), share)]
    return kept, held


def data_licence(layout: str, text: str) -> dict:
    """The licence the model card records: CAMUS's own (with ``text`` added if given), else ``text``."""
    if layout.startswith("camus"):
        return {**CAMUS_LICENCE, **({"note": text} if text else {})}
    if not text:
        raise UsageError("give --data-licence TEXT: a model trained on these images inherits the data's licence, "
                         "and its model card must say which")
    return {"licence": text, "use": "as the data's licence says"}


def _device(name: str) -> torch.device:
    return torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)


def _batch_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame Dice of the mask at the model card's threshold against the reference (> 0.5)."""
    predicted = (torch.sigmoid(logits) > MASK_THRESHOLD / 255).flatten(1).float()
    truth = (target > 0.5).flatten(1).float()
    both = predicted.sum(1) + truth.sum(1)
    return torch.where(both > 0, 2 * (predicted * truth).sum(1) / both.clamp_min(1), torch.ones_like(both))


def check_out(config: TeacherConfig, resume: bool) -> None:
    """UsageError unless ``--out`` is new or empty (or, with ``--resume``, a run of the same settings)."""
    files = TrainFolder(Path(config.out))
    out, last = files.path, files.last
    if resume and not last.is_file() and before_first_epoch(files):
        return  # killed before its first saved step: the trainer starts it afresh
    if resume:
        if not last.is_file():
            raise UsageError(f"{out}: nothing to resume (no {last.name}); start without --resume")
        saved = json.loads(files.config.read_text(encoding="utf-8"))
        if saved.get("identity") != config.identity():
            raise UsageError(f"{out} was trained with other settings; resume with the same ones or choose "
                             "a new --out")
    elif out.exists() and any(out.iterdir()) and not before_first_epoch(files):
        raise UsageError(f"{out} is not empty; choose a new --out folder or pass --resume")


class _Trainer:
    """One training run: the network, the optimiser, their state and the files of ``--out``."""

    def __init__(self, config: TeacherConfig, train: Frames, val: Frames, resume: bool) -> None:
        self.config, self.train, self.val = config, train, val
        self.files = TrainFolder(Path(config.out))
        self.device = _device(config.device)
        torch.manual_seed(config.seed)
        self.model = build(NETWORK).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.steps_per_epoch = math.ceil(len(train.names) / config.batch)
        self.total = config.steps or config.epochs * self.steps_per_epoch
        self.step, self.best, self.best_step = 0, -1.0, -1
        self.history: list[dict[str, Any]] = []
        self._prepare_out(resume)

    def _prepare_out(self, resume: bool) -> None:
        check_out(self.config, resume)
        resume = clear_for_start(self.files, resume)
        if resume:
            checkpoint = read_checkpoint(self.files.last)
            self.model.load_state_dict(checkpoint["state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.step, self.best, self.best_step = checkpoint["step"], checkpoint["best"], checkpoint["best_step"]
            self.history = json.loads(checkpoint["history"])
            self.generator.set_state(checkpoint["torch_rng"])
            torch.set_rng_state(checkpoint["torch_global_rng"])
        else:
            self.files.path.mkdir(parents=True, exist_ok=True)

    def save_last(self) -> None:
        save_last(self.files, self.config, self.model, self.optimizer, self.history, step=self.step,
                  best=self.best, best_step=self.best_step, torch_rng=self.generator.get_state())

    def _learning_rate(self) -> float:
        """Cosine from --lr to 0 over the run's steps: a function of the step alone (resumable)."""
        return self.config.lr * 0.5 * (1 + math.cos(math.pi * self.step / self.total))

    def _indices(self) -> np.ndarray:
        """This step's frames: a seeded permutation per epoch, so a resumed run draws the same."""
        epoch, within = divmod(self.step, self.steps_per_epoch)
        order = np.random.default_rng([self.config.seed, 2, epoch]).permutation(len(self.train.names))
        return order[within * self.config.batch:(within + 1) * self.config.batch]

    def train_step(self) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        chosen = self._indices()
        x = torch.from_numpy(self.train.images[chosen]).float()[:, None, None]
        y = torch.from_numpy(self.train.masks[chosen])[:, None, None]
        x, y = augment(x, y, self.config.augment, self.generator)
        x, y = x.to(self.device), y.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss = loss_terms(self.model(x), y, self.config.dice)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def validate(self) -> tuple[float, float]:
        """(mean loss, mean Dice at the card's threshold) over the validation frames, in the model view."""
        self.model.eval()
        losses, dices = [], []
        with torch.inference_mode():
            for start in range(0, len(self.val.names), 32):
                x = torch.from_numpy(self.val.images[start:start + 32]).float()[:, None, None].to(self.device)
                y = torch.from_numpy(self.val.masks[start:start + 32])[:, None, None].to(self.device)
                logits = self.model(x)
                losses.append(float(loss_terms(logits, y, self.config.dice)) * len(x))
                dices.append(_batch_dice(logits, y).cpu())
        self.model.train()
        return sum(losses) / len(self.val.names), float(torch.cat(dices).mean())

    def checkpoint(self, losses: list[float], seconds: float) -> dict:
        """Validate, keep the best weights (by validation Dice), write last.pt; the history entry."""
        val_loss, val_dice = self.validate()
        if val_dice > self.best:
            self.best, self.best_step = val_dice, self.step
            save_checkpoint(self.files.best, self.model, epoch=self.step / self.steps_per_epoch, step=self.step,
                            val_loss=val_loss, val_dice=val_dice, train=json.dumps(self.card_training()))
        entry = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                 "loss": float(np.mean(losses)) if losses else None, "val_loss": val_loss, "val_dice": val_dice,
                 "seconds": round(seconds, 2)}
        self.history.append(entry)
        self.save_last()
        return entry

    def card_training(self) -> dict:
        settings = {k: v for k, v in asdict(self.config).items() if k != "out"}
        settings["labelled"] = Path(self.config.labelled).name  # names, not this machine's paths
        settings["val"] = Path(self.config.val).name if self.config.val else ""
        return {**settings, "network": NETWORK, "optimizer": "AdamW", "schedule": "cosine",
                "loss": f"BCE + {self.config.dice} x (1 - soft Dice)", "total_steps": self.total,
                "steps_per_epoch": self.steps_per_epoch, "targets": "human labels",
                "selection": "best validation Dice (model view, mask threshold of the card)"}

    def fit(self, cancelled: Callable[[], bool], on_event: EventCallback, progress: str) -> dict:
        start = time.monotonic()
        budget = self.config.minutes * 60
        bar = Progress(STAGE, total=self.total, done=self.step, mode=progress, unit="step")
        losses: list[float] = []
        tick = time.monotonic()
        stopped = "steps"
        self.model.train()
        try:
            while self.step < self.total:
                if cancelled():
                    self.save_last()
                    raise Cancelled(f"stopped after step {self.step} of {self.total}; 'python -m distill "
                                    f"train-teacher --resume --out {self.files.path} ...' continues from there")
                if budget and time.monotonic() - start >= budget:
                    stopped = "time"
                    break
                losses.append(self.train_step())
                bar.advance(1, loss=round(float(np.mean(losses[-20:])), 5))
                if self.step % self.steps_per_epoch == 0 or self.step == self.total:
                    entry = self.checkpoint(losses, time.monotonic() - tick)
                    losses, tick = [], time.monotonic()
                    on_event({"event": EPOCH, **entry, "best_val_dice": self.best, "best_step": self.best_step})
            if stopped == "time" and (not self.history or self.history[-1]["step"] != self.step):
                self.checkpoint(losses, time.monotonic() - tick)
        finally:
            bar.close()
        summary = {"steps": self.step, "total_steps": self.total, "stopped": stopped, "best_step": self.best_step,
                   "best_val_dice": self.best, "parameters": parameter_count(self.model),
                   "seconds": round(time.monotonic() - start, 1), "device": str(self.device)}
        write_json(self.files.summary, summary, allow_nan=True)
        return summary


def score_validation(onnx: Path, cases: list[LabelledCase]) -> tuple[list[dict], list[dict]]:
    """realeval's rows for the validation cases, through load_cine → analyze with the exported model."""
    model = load_model(onnx)
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="train-teacher-") as scratch:
        for case in cases:
            try:
                rows.extend(score_case(case, model, Path(scratch)))
            except (CineLoadError, ValueError) as exc:
                failed.append({"name": case.name, "error": one_line(exc)})
    return rows, failed


def export_teacher(config: TeacherConfig, labelled: LabelledSet, val_source: str, train: Frames, val: Frames,
                   summary: dict) -> dict:
    """best.pt → an ONNX teacher scored on the validation cases → teacher.onnx with the scores, the
    last file written (a run that has it is finished)."""
    folder = TeacherFolder(Path(config.out))
    name = config.name or f"teacher trained on {labelled.root.name}"
    extra: dict[str, Any] = {
        "teacher": f"human labels: {REFERENCE[labelled.layout]}",
        "data": {"name": labelled.root.name, "layout": labelled.layout, "reference": REFERENCE[labelled.layout],
                 "train": train.describe(), "validation": {**val.describe(), "source": val_source}},
        "licence": data_licence(labelled.layout, config.data_licence),
        "training_summary": summary,
    }
    with tempfile.TemporaryDirectory(prefix="train-teacher-") as scratch:
        unscored = Path(scratch) / folder.model.name
        export(folder.best, unscored, name=name, card_extra=extra)
        rows, failed = score_validation(unscored, val.cases)
    metrics = {"labelled_validation": {
        "path": "load_cine -> analyze -> native mask (as python -m distill realeval)",
        "frames_scored": len(rows), "failed": failed, "summary": summarize(rows),
        "dice_mean": float(np.mean([r["dice"] for r in rows])) if rows else None}}
    write_json(folder.path / VALIDATION, {**metrics["labelled_validation"], "rows": rows}, allow_nan=True)
    return export(folder.best, folder.model, name=name, metrics=metrics, card_extra=extra)


def train_teacher(config: TeacherConfig, *, resume: bool = False, cancelled: Callable[[], bool] | None = None,
                  on_event: EventCallback | None = None, progress: str = "none") -> dict:
    """Read, split, train, export; returns the model card. UsageError for what the user can fix."""
    if config.batch < 1 or config.epochs < 1 or config.steps < 0 or config.lr <= 0:
        raise UsageError("--batch and --epochs must be at least 1, --steps at least 0 and --lr positive")
    labelled = _open(config.labelled, config.split, "--labelled")
    val_set = _open(config.val, "all", "--val") if config.val else None
    data_licence(labelled.layout, config.data_licence)  # refuse before any work
    check_out(config, resume)
    train_entries, val_entries = split_entries(labelled, val_set, config.val_share)
    val_source = str(Path(config.val).name) if config.val else \
        f"{config.val_share:g} of the patients of {labelled.root.name} by sha256 of the patient id"
    if len(train_entries) < MIN_TRAIN_FRAMES or not val_entries:
        raise UsageError(f"too few cases: {len(train_entries)} to train on and {len(val_entries)} to validate "
                         f"on (at least {MIN_TRAIN_FRAMES} and {MIN_VAL_FRAMES}); give more labelled data, "
                         "another --val-share or --val PATH")
    cancelled = cancelled or (lambda: False)
    train = prepare(train_entries, len(train_entries), "train", progress, cancelled)
    val = prepare(val_entries, len(val_entries), "validation", progress, cancelled)
    if len(train.names) < MIN_TRAIN_FRAMES or len(val.names) < MIN_VAL_FRAMES:
        first = (train.failed + val.failed or [{"error": "none"}])[0]["error"]
        raise UsageError(f"too few readable frames: {len(train.names)} to train on, {len(val.names)} to validate on "
                         f"(first failure: {first})")
    trainer = _Trainer(config, train, val, resume)
    summary = trainer.fit(cancelled, on_event or (lambda event: None), progress)
    card = export_teacher(config, labelled, val_source, train, val, summary)
    return card


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TeacherConfig("", "")
    parser.add_argument("--labelled", required=True, metavar="PATH",
                        help="human-labelled frames: a CAMUS .npz, a CAMUS patientNNNN/ NIfTI folder or an "
                             "EchoNet-Dynamic folder with VolumeTracings.csv")
    parser.add_argument("--out", required=True, metavar="DIR", help="run folder: checkpoints, teacher.onnx + card")
    parser.add_argument("--val", default="", metavar="PATH",
                        help="labelled data to validate on (default: --val-share of --labelled's patients)")
    helps = {"val_share": "share of the patients held out for validation (stable hash of the patient id)",
             "split": "EchoNet folder: the split to train on", "steps": "total steps (0: --epochs passes)",
             "minutes": "time budget; stops, validates and exports (0: none)",
             "data_licence": "the data's licence, recorded in the model card (required for non-CAMUS data)",
             "name": "the model's name in its card (default: 'teacher trained on' the data's name)"}
    for field in fields(TeacherConfig):
        if field.name in ("labelled", "out", "val"):
            continue
        default = getattr(defaults, field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=type(default), default=default,
                            help=f"{helps.get(field.name, '')} (default {default!r})".strip())
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def run(args: argparse.Namespace) -> int:
    config = TeacherConfig(**{f.name: getattr(args, f.name) for f in fields(TeacherConfig)})
    stop = {"requested": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["requested"] = True

    def on_event(event: dict) -> None:
        if args.progress == "json":
            write_line(tagged(STAGE, event))
        elif args.progress == "bar":
            tqdm.write(f"step {event['step']}: loss {event['loss']:.4f}, val loss {event['val_loss']:.4f}, "
                       f"val Dice {event['val_dice']:.3f} (best {event['best_val_dice']:.3f} at step "
                       f"{event['best_step']})", file=sys.stderr)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        card = train_teacher(config, resume=args.resume, cancelled=lambda: stop["requested"], on_event=on_event,
                             progress=args.progress)
    except Cancelled as exc:
        print(str(exc), file=sys.stderr)
        return 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    scores = card["metrics"]["labelled_validation"]
    dice = "-" if scores["dice_mean"] is None else f"{scores['dice_mean']:.3f}"
    onnx = TeacherFolder(Path(config.out)).model
    if args.progress == "json":
        write_line(event_line(STAGE, DONE, model=str(onnx), sha256=card["sha256"], **card["training_summary"],
                              validation_dice_mean=scores["dice_mean"]))
    else:
        print(f"{onnx}: {card['training_summary']['steps']} steps, best validation Dice "
              f"{card['training_summary']['best_val_dice']:.3f} (model view); through analyze on "
              f"{scores['frames_scored']} validation frames: Dice mean {dice}; "
              f"sha256 {card['sha256'][:16]}…")
    if stop["requested"]:  # after the last step: the teacher is finished, and whoever asked stops too
        print("stopped after the teacher was finished", file=sys.stderr)
        return 130
    return 0
