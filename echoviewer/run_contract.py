"""The distillation run contract: what ``distill`` writes and says, defined once for both sides.

``python -m distill pipeline`` (``distill/pipeline.py``) fills a run folder and reports on stdout
in JSON lines; the viewer's wizard (``echoviewer/gui/wizard/``, ``echoviewer/distill_runs.py``)
starts it in a child process, reads those lines and then the folder. Both take from here the
folder's file names, the stages and their order, the TRAIN / VAL / TEST split, the presets and the
training recipe the wizard offers (the standard preset with the fast student is how
``reproduce-bundled`` trains the bundled student), and the JSON lines. A run may first train its
teacher on human-labelled frames (``python -m distill train-teacher``, into ``RUN/teacher``).

Standard library only, so ``distill``'s worker processes and the viewer import it for nothing.
How long the presets take and what they score on a machine: ``bench/wizard.py``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

# --- the run folder ------------------------------------------------------------------------------

PLAN, RESULT = "plan.json", "result.json"  # the settings, written when a run starts; written when it ends
DATA, TARGETS, TRAIN_FOLDER = "data", "targets", "train"  # generated cines; the teacher's masks; training
CANDIDATE, STUDENT = "candidate.onnx", "student.onnx"  # the new student before and after its scores
EVALUATION, EVALUATION_CURRENT = "evaluation", "evaluation-current"  # the new and the current student
REPORT = "evaluation.json"  # ``distill evaluate``'s report (with evaluation.md) in either folder
# ``distill train --out FOLDER``: settings, the last finished epoch, the best weights, losses, summary
CONFIG, LAST, BEST, HISTORY, SUMMARY = "config.json", "last.pt", "best.pt", "history.json", "summary.json"
TEACHER_FOLDER, TEACHER_MODEL = "teacher", "teacher.onnx"  # a teacher the run trains; the file it exports
GENERATOR_FOLDER = "generator"  # a generator of synthetic frames the run learns (``distill train-generator``)


class _Under:
    """A file or folder of a layout: ``RunFolder(path).plan`` is ``path / "plan.json"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, layout: Any, owner: type | None = None) -> Any:
        return self if layout is None else layout.path / self.name


@dataclass(frozen=True)
class TrainFolder:
    """What ``distill train --out PATH`` writes."""

    path: Path
    config = _Under(CONFIG)
    last = _Under(LAST)
    best = _Under(BEST)
    history = _Under(HISTORY)
    summary = _Under(SUMMARY)


@dataclass(frozen=True)
class TeacherFolder(TrainFolder):
    """What ``distill train-teacher --out PATH`` writes: a training folder's files, then the teacher
    (its model card beside it), written last: the teacher is finished once ``model`` exists."""

    model = _Under(TEACHER_MODEL)


@dataclass(frozen=True)
class RunFolder:
    """What ``distill pipeline --run PATH`` writes (``data`` only when the plan generates the cines,
    ``teacher`` only when it trains its teacher, ``generator`` only when it learns one)."""

    path: Path
    plan = _Under(PLAN)
    result = _Under(RESULT)
    data = _Under(DATA)
    targets = _Under(TARGETS)
    candidate = _Under(CANDIDATE)
    student = _Under(STUDENT)
    evaluation = _Under(EVALUATION)
    evaluation_current = _Under(EVALUATION_CURRENT)
    generator = _Under(GENERATOR_FOLDER)

    @property
    def train(self) -> TrainFolder:
        return TrainFolder(self.path / TRAIN_FOLDER)

    @property
    def teacher(self) -> TeacherFolder:
        return TeacherFolder(self.path / TEACHER_FOLDER)

    def report(self, which: str = "new") -> Path:
        """The evaluation report of the new student (``new``) or of the one it replaces (``current``)."""
        return (self.evaluation if which == "new" else self.evaluation_current) / REPORT


# --- the stages ----------------------------------------------------------------------------------

TEACHER_STAGE = "train-teacher"  # also the stage of train-teacher's own lines
GENERATOR_STAGE = "train-generator"  # and of train-generator's
STAGES = (TEACHER_STAGE, GENERATOR_STAGE, "generate", "targets", "train", "evaluate", "export")


def learns_generator(data: Mapping) -> bool:
    """Whether a plan's data are drawn partly by a generator the run first learns from its labelled frames."""
    return bool(data.get("generate", {}).get("generator", {}).get("learn"))


def planned_stages(data: Mapping, teacher: str, trains_teacher: bool = False) -> list[str]:
    """The stages of a plan, in order: ``train-teacher`` only for a plan that trains its teacher,
    ``train-generator`` only for one that learns its generator, ``generate`` only for generated data
    (not ``{"folder": ...}``), ``targets`` not for the simulator's truth (it is its own target)."""
    left_out = {TEACHER_STAGE: not trains_teacher, GENERATOR_STAGE: not learns_generator(data),
                "generate": "folder" in data, "targets": teacher == "truth"}
    return [stage for stage in STAGES if not left_out.get(stage, False)]


# ``distill train`` settings a plan's ``student`` may hold (and ``distill pipeline`` passes on)
TRAIN_SETTINGS = ("model", "epochs", "patience", "batch", "clip", "lr", "schedule", "dice", "augment", "seed")
# ``distill train-teacher`` settings a plan's ``teacher_training`` may hold (``labelled`` it must)
TEACHER_SETTINGS = ("labelled", "minutes", "steps", "data_licence", "seed")
# A plan's generated data may be drawn partly by a learned generator of synthetic frames:
# ``{"folder": PATH, "share": S}`` (one made by ``distill train-generator``) or ``{"learn": true, "share": S}``
# (learned in RUN/generator from the labelled frames the run trains its teacher on, by GENERATOR_TRAINING).
GENERATOR_SHARE = 0.5  # the bundled student-camus's recipe: half the cines generated, half simulated
GENERATOR_TRAINING = {"epochs": 10}  # ``distill train-generator`` settings of the bundled generator

# --- the split -----------------------------------------------------------------------------------

SPLITS = ("TRAIN", "VAL", "TEST")
# A folder without a Split column is split by a hash of each name: its first byte modulo 8 picks a
# bucket, and the bucket its split (distill.datasets.echonet.hash_split).
HASH_BUCKETS = ("TRAIN",) * 6 + ("VAL", "TEST")


def share(split: str) -> Fraction:
    """The share of the videos the hash split puts in ``split`` (TRAIN 3/4, VAL and TEST 1/8 each)."""
    return Fraction(HASH_BUCKETS.count(split), len(HASH_BUCKETS))


def expected_split(videos: int) -> dict[str, int]:
    """About how many of ``videos`` land in each split: each split its share of what the splits
    before it left, rounded down; the last split the rest."""
    counts, left, left_share = {}, videos, Fraction(1)
    for split in SPLITS[:-1]:
        counts[split] = int(left * share(split) / left_share)
        left, left_share = left - counts[split], left_share - share(split)
    counts[SPLITS[-1]] = left
    return counts


# --- presets and the training recipe -------------------------------------------------------------

@dataclass(frozen=True)
class DataPreset:
    title: str
    n: int  # cines to generate
    frames: str  # frames per cine: a count or a range
    epochs: int  # the epoch limit it suits
    patience: int

    @property
    def label(self) -> str:
        return f"{self.title}: {self.n} cines of {self.frames} frames, up to {self.epochs} epochs"

    @property
    def frame_count(self) -> float:
        """Frames the preset makes in all (its cines × their mean length)."""
        return self.n * (mean_frames(self.frames) or 0.0)


def mean_frames(text: str) -> float | None:
    """The mean length of cines of ``frames`` ``"48"`` or ``"32-64"`` (None when it is neither)."""
    low, _, high = text.strip().partition("-")
    try:
        return (int(low) + int(high)) / 2 if high else float(int(low))
    except ValueError:
        return None


DATA_PRESETS = {
    "quick": DataPreset("Quick", 160, "32-48", 50, 8),
    "standard": DataPreset("Standard", 600, "32-64", 40, 8),  # the bundled student's data and length
}


@dataclass(frozen=True)
class StudentPreset:
    label: str
    model: str
    batch: int = 8
    clip: int = 16


STUDENT_PRESETS = {
    "fast": StudentPreset("Fast U-Net (this app's real-time student)", "fast"),
    "wide": StudentPreset("Wide U-Net (the bundled student-camus's network: more accurate, about 0.85× as fast)", "wide"),
    "convlstm:1x1": StudentPreset("ConvLSTM 1×1 (the paper's smallest)", "convlstm:1x1"),
    "convlstm:2x2": StudentPreset("ConvLSTM 2×2 (the paper's)", "convlstm:2x2"),
    "convlstm:3x3": StudentPreset("ConvLSTM 3×3 (the paper's largest)", "convlstm:3x3"),
}
TRAINING = {"augment": 0.5, "dice": 0.5, "schedule": "cosine"}  # every student's recipe, the bundled one's too


def student_settings(student: StudentPreset, data: DataPreset) -> dict[str, Any]:
    """``distill train`` settings of a student preset trained as long as a data preset suits."""
    return {"model": student.model, "epochs": data.epochs, "patience": data.patience, "batch": student.batch,
            "clip": student.clip, **TRAINING}


# --- JSON lines ----------------------------------------------------------------------------------
# One JSON object a line on stdout (``--progress json``), each with a "stage":
#   progress  {"stage": "generate", "done": 3, "total": 10, "elapsed_s": 1.2, "eta_s": 2.8}: the stages'
#             own commands; train's lines add "epoch" and "loss", and "load train" / "load val"
#             (:func:`load_stage`) count the videos train reads first; train-teacher's count steps
#             (with "loss"), after "train-teacher train" / "... validation" (:func:`teacher_load_stage`)
#             counted the labelled cases it reads
#   events    {"stage": "pipeline", "event": "stage", "name": "train", "index": 3, "count": 5} before a stage;
#             {"stage": "train", "event": "epoch", "epoch", "epochs", "loss", "val_loss", "best_val_loss",
#             "best_epoch"} after an epoch; {"stage": "train-teacher", "event": "epoch", "step", "epoch",
#             "loss", "val_loss", "val_dice", "seconds", "best_val_dice", "best_step"} after a pass over its frames;
#             {"stage": "train", "event": "done", ...summary.json} (train-teacher's: "model", "sha256",
#             ...summary.json, "validation_dice_mean") and
#             {"stage": "pipeline", "event": "done", ...result.json} at the end, or, with
#             ``--train-elsewhere``, {"stage": "pipeline", "event": "handoff", "command", "copy",
#             "back", "resume"} where the training step is left to another machine (exit HANDED_OFF)
# ``distill probe`` prints one JSON object of its own instead.

PIPELINE = "pipeline"  # the stage of the pipeline's own lines
STAGE, EPOCH, DONE, HANDOFF = "stage", "epoch", "done", "handoff"  # events
HANDED_OFF = 3  # the pipeline's exit status when it stops for the training to run elsewhere


def load_stage(split: str) -> str:
    """The progress stage of ``distill train`` reading the videos of ``split``."""
    return f"load {split.lower()}"


def teacher_load_stage(part: str) -> str:
    """The progress stage of ``distill train-teacher`` reading its ``train`` or ``validation`` cases."""
    return f"{TEACHER_STAGE} {part}"


def progress_line(stage: str, done: int, total: int, elapsed_s: float, eta_s: float | None, /,
                  **fields: Any) -> dict[str, Any]:
    return {"stage": stage, "done": done, "total": total, "elapsed_s": elapsed_s, "eta_s": eta_s, **fields}


def tagged(stage: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` as a line of ``stage``."""
    return {"stage": stage, **fields}


def event_line(stage: str, event: str, /, **fields: Any) -> dict[str, Any]:
    return tagged(stage, {"event": event, **fields})


def is_event(line: Mapping[str, Any], stage: str, event: str) -> bool:
    return line.get("stage") == stage and line.get("event") == event


def write_line(line: Mapping[str, Any], file: TextIO | None = None) -> None:
    """Print ``line`` as one JSON line (stdout by default), flushed: a parent reads it at once."""
    print(json.dumps(line), file=file or sys.stdout, flush=True)


def read_line(text: str) -> dict[str, Any] | None:
    """A JSON line as a dict; None for anything else (plain text, JSON that is not an object)."""
    if not text.startswith("{"):
        return None
    try:
        line = json.loads(text)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None
