"""Distillation runs as the viewer sees them, without Qt, torch or ``distill`` imported.

The wizard runs ``python -m distill pipeline`` and ``python -m distill probe`` in child processes
(:func:`distill_command`), one run folder per run under ``data_dir()/runs``. This module reads a
run's files (plan, training history, evaluations, result; their names, the presets and the JSON
lines are :mod:`echoviewer.run_contract`'s) and installs a finished student into the user's model
folder. Labelled data for a teacher the run trains is told apart by its file names here
(:func:`labelled_layout`); ``distill train-teacher`` reads it and has the last word.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoviewer.analysis.onnx_model import OnnxModel, file_sha256, sidecar_path
from echoviewer.analysis.overlay import draw_overlay
from echoviewer.analysis.quality import dice_per_frame
from echoviewer.analysis.segmentation import segment
from echoviewer.io.atomic import write_json
from echoviewer.io.cine import Cine
from echoviewer.run_contract import RunFolder, expected_split
from echoviewer.user_data import data_dir, read_json, user_models_dir


def runs_dir() -> Path:
    return data_dir() / "runs"


DISTILL_EXTRA = 'pip install "echoviewer[distill]"'


def distill_unavailable() -> str | None:
    """Why the wizard cannot run here (one line naming what to install), or None.

    The viewer installs without torch and onnx; ``distill``'s training needs both. Found without
    importing them, so asking costs nothing.
    """
    missing = [name for name in ("distill", "torch", "onnx") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"The distillation wizard needs {', '.join(missing)}, which this installation lacks; "
            f"install them with: {DISTILL_EXTRA}")


def distill_command(*arguments: str) -> tuple[str, list[str], dict[str, str]]:
    """(program, arguments, extra environment) running ``python -m distill ARGUMENTS``.

    ``distill`` is found without importing it, so the viewer stays free of torch.
    """
    spec = importlib.util.find_spec("distill")
    if spec is None or spec.origin is None:
        raise RuntimeError(distill_unavailable() or "the distill package is not installed")
    root = str(Path(spec.origin).parent.parent)
    path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    return sys.executable, ["-m", "distill", *arguments], {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def _safe_stem(text: str, limit: int, default: str) -> str:
    """``text`` as a file name: other characters become ``-``; no leading or trailing ``-`` or ``.``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit] or default


def _first_free(stem: str, path: Callable[[str], Path], taken: Callable[[Path], bool]) -> Path:
    """``path(stem)``, else ``path(stem-2)``, ``path(stem-3)``, … whichever ``taken`` refuses first."""
    candidate, count = path(stem), 1
    while taken(candidate):
        count += 1
        candidate = path(f"{stem}-{count}")
    return candidate


def new_run_folder(name: str) -> Path:
    """A fresh folder under :func:`runs_dir` named after the date and ``name``."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_safe_stem(name, 40, 'run')}"
    return _first_free(stem, lambda s: runs_dir() / s, Path.exists)


@dataclass(frozen=True)
class Run:
    """One run folder: its plan, and whether it finished (``result.json``)."""

    folder: Path
    plan: dict
    problem: str = ""  # why its plan.json is damaged ("" when it is sound)

    @property
    def files(self) -> RunFolder:
        return RunFolder(self.folder)

    @property
    def name(self) -> str:
        return str(self.plan.get("name") or self.folder.name)

    @property
    def result(self) -> dict | None:
        result = read_json(self.files.result)
        return result if isinstance(result, dict) else None

    @property
    def history(self) -> list[dict]:
        """Per-epoch losses so far (``train/history.json``)."""
        history = read_json(self.files.train.history)
        return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []

    def evaluation(self, which: str = "new") -> dict | None:
        """The evaluation report of the new student (``new``) or of the one it replaces (``current``)."""
        report = read_json(self.files.report(which))
        return report if isinstance(report, dict) and isinstance(report.get("summary"), dict) else None

    def describe(self) -> str:
        """One line for a list of runs."""
        if self.problem:
            return f"{self.folder.name}: damaged ({self.problem}); it cannot be resumed, start a new run"
        data, student = self.plan.get("data", {}), self.plan.get("student", {})
        source = (f"{data['generate'].get('n')} generated cines" if isinstance(data.get("generate"), dict)
                  else f"data in {Path(str(data.get('folder'))).name}")
        epochs = f"epoch {len(self.history)} of {student.get('epochs', '?')}"
        trained = self.plan.get("teacher_training") or {}
        teacher = (f"teacher trained on {Path(str(trained.get('labelled'))).name}" if trained
                   else f"teacher {self.plan.get('teacher')}")
        return f"{self.name}: {student.get('model', '?')} on {source}, {teacher}; {epochs}"


def _plan_problem(plan: object) -> str:
    """What is wrong with a plan's shape, as far as the viewer reads it ("" when nothing)."""
    if not isinstance(plan, dict):
        return "plan.json is not a JSON object"
    kinds = {"name": str, "teacher": str, "data": dict, "student": dict, "teacher_training": dict}
    for key, kind in kinds.items():
        if plan.get(key) is not None and not isinstance(plan[key], kind):
            return f"plan.json's {key} is not a {'text' if kind is str else 'JSON object'}"
    data = plan.get("data") or {}
    if not isinstance(data.get("generate", {}), dict) or "generate" not in data and "folder" not in data:
        return "plan.json's data names neither cines to generate nor a folder"
    return ""


def read_run(folder: Path) -> Run | None:
    """The run in ``folder``; None when it holds no plan, and a run with its ``problem`` when its
    plan is damaged (listed, so the user sees it, never resumed with a guess)."""
    path = RunFolder(folder).plan
    if not path.is_file():
        return None
    plan = read_json(path)
    problem = "plan.json is not readable JSON" if plan is None else _plan_problem(plan)
    return Run(folder, plan if isinstance(plan, dict) and not problem else {}, problem)


def list_runs(finished: bool | None = None) -> list[Run]:
    """Runs under :func:`runs_dir`, newest first; ``finished`` filters by state."""
    runs = (read_run(folder) for folder in sorted(runs_dir().glob("*/"), reverse=True))
    return [run for run in runs if run is not None and (finished is None or (run.result is not None) == finished)]


# The layouts ``distill train-teacher --labelled PATH`` reads, as the wizard names them
LABELLED_LAYOUTS = {"camus-npz": "CAMUS .npz file", "camus-nifti": "CAMUS NIfTI folder",
                    "echonet": "EchoNet-Dynamic folder with VolumeTracings.csv"}
LABELLED_EXPECTED = ("a CAMUS .npz file, a CAMUS folder of patientNNNN/ NIfTI files, or an EchoNet-Dynamic folder "
                     "with VolumeTracings.csv")
_NIFTI = (".nii", ".nii.gz")


def _nifti_patient(folder: Path) -> bool:
    """Whether ``folder`` is a CAMUS patient folder: ``patient…`` holding ``…_gt.nii`` or ``…_gt.nii.gz``."""
    return folder.name.startswith("patient") and folder.is_dir() and any(
        path.name.endswith(tuple(f"_gt{suffix}" for suffix in _NIFTI)) for path in folder.iterdir())


def labelled_layout(path: Path) -> str:
    """The :data:`LABELLED_LAYOUTS` key ``path`` looks like, by its file names alone (nothing is read);
    ValueError, one line, when it looks like none of them."""
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder; choose {LABELLED_EXPECTED}")
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise ValueError(f"{path.name} is not a .npz file; choose {LABELLED_EXPECTED}")
        return "camus-npz"
    for root in (path, path / "database_nifti"):
        if root.is_dir() and (_nifti_patient(root) or any(_nifti_patient(p) for p in root.glob("patient*"))):
            return "camus-nifti"
    if any((root / "VolumeTracings.csv").is_file() for root in (path, path / "dynamic")):
        return "echonet"
    raise ValueError(f"{path}: no labelled images found; choose {LABELLED_EXPECTED}")


# Layouts ``distill train-generator`` learns from: it needs every label (cavity, myocardium, atrium).
GENERATOR_LAYOUTS = ("camus-npz", "camus-nifti")


def needs_data_licence(layout: str) -> bool:
    """Whether a teacher trained on this layout needs the data's licence typed in (CAMUS's is known)."""
    return not layout.startswith("camus")


def install_student(run: Run, name: str | None = None) -> Path:
    """Copy the run's student and its model card into the user's model folder; returns the ONNX path.

    The card's sha256 is checked against the file first, so a damaged run installs nothing.
    """
    result = run.result
    if result is None:
        raise ValueError(f"{run.folder}: the run has not finished; resume it first")
    source = Path(result["student"])
    card = read_json(sidecar_path(source))
    if not isinstance(card, dict) or card.get("sha256") != file_sha256(source):
        raise ValueError(f"{source}: the model does not match its model card; run the distillation again")
    if name and name.strip():
        card["name"] = " ".join(name.split())
    folder = user_models_dir().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    target = _first_free(_safe_stem(card["name"], 60, "student"), lambda s: folder / f"{s}.onnx",
                         lambda p: p.exists() or sidecar_path(p).exists())
    shutil.copyfile(source, target)
    write_json(sidecar_path(target), card, allow_nan=True)  # the card as export wrote it
    return target


def training_seconds(step_seconds: float, videos: int, batch: int, epochs: int) -> float:
    """Training time from one measured step: ``distill train`` takes TRAIN // batch steps an epoch."""
    return step_seconds * max(expected_split(videos)["TRAIN"] // batch, 1) * epochs


def duration(seconds: float | None) -> str:
    """``75`` → ``1 min 15 s``; for progress and estimates."""
    if seconds is None:
        return "…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def held_out_videos(run: Run, limit: int = 3) -> list[Path]:
    """Up to ``limit`` of the held-out videos the run scored, as files."""
    report = run.evaluation("new") or {}
    root = Path(str(report.get("data", "")))
    found = []
    for row in report.get("videos", []):
        name = str(row.get("name", ""))
        path = next((p for p in (root / "Videos" / f"{name}.avi", root / f"{name}.avi") if p.is_file()), None)
        if path is not None:
            found.append(path)
        if len(found) == limit:
            break
    return found


def comparison_picture(cine: Cine, new: OnnxModel, current: OnnxModel) -> tuple[np.ndarray, float]:
    """The new student's outline on the frame where its LV is largest (about end-diastole), with the
    pixels where the current student disagrees in magenta; and the two masks' Dice on that frame."""
    new_masks, current_masks = segment(cine, new), segment(cine, current)
    index = int(np.argmax(new_masks.native_area_px))
    a, b = new_masks.native_mask(index), current_masks.native_mask(index)
    dice = float(dice_per_frame(a[None], b[None])[0])
    return draw_overlay(cine.display_frame(index), a, mode="contour", other=b), dice
