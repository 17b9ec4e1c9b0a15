"""``python -m distill reproduce-bundled``: rebuild ``echoviewer/resources/models/`` from nothing but a seed.

The recipe is the paper's, with this project's own teacher: a teacher learns the simulator's
truth under strong domain randomisation; it labels synthetic cines; the student learns from those
labels alone; both are scored on held-out simulated cines in onnxruntime and exported with
their model cards. Every step is one ``python -m distill`` command, printed before it runs, and every step resumes:
rerunning after an interruption skips finished steps and continues the unfinished one.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from distill.pipeline import options, run_step
from echoviewer.resources import MODELS
from echoviewer.run_contract import DATA_PRESETS, REPORT, STUDENT_PRESETS, TrainFolder, student_settings

SEED = 2025
STANDARD = DATA_PRESETS["standard"]  # the wizard's standard preset: this recipe
TRAIN_CINES, TEST_CINES = STANDARD.n, 200
TRAIN_FRAMES, TEST_FRAMES = STANDARD.frames, "48-128"
TEACHER = {"model": "teacher", "epochs": 30, "patience": 6, "batch": 8, "clip": 8, "augment": 1.0, "dice": 0.5,
           "schedule": "cosine"}
STUDENT = student_settings(STUDENT_PRESETS["fast"], STANDARD)


def reproduce(work: Path, out: Path, *, seed: int = SEED, progress: str = "bar") -> None:
    train_data, test_data = work / "synth-train", work / "synth-test"
    teacher_run, student_run = TrainFolder(work / "teacher-run"), TrainFolder(work / "student-run")
    targets = work / "targets"
    teacher_onnx, student_onnx, evaluation = work / "teacher.onnx", work / "student.onnx", work / "evaluation"
    common = ["--progress", progress]

    def resume_if(exists: bool) -> list[str]:
        return ["--resume"] if exists else []

    for data, n, frames, data_seed in ((train_data, TRAIN_CINES, TRAIN_FRAMES, seed),
                                       (test_data, TEST_CINES, TEST_FRAMES, seed + 1)):
        run_step(["generate", "--out", str(data), "--n", str(n), "--seed", str(data_seed), "--frames", frames,
               "--workers", "2", *common, *resume_if(data.exists())], (data / "FileList.csv").is_file())
    run_step(["train", "--data", str(train_data), "--targets", "truth", "--out", str(teacher_run.path), "--seed",
           str(seed), *options(TEACHER), *common, *resume_if(teacher_run.last.is_file())],
          teacher_run.summary.is_file())
    run_step(["export", "--checkpoint", str(teacher_run.best), "--out", str(teacher_onnx),
           "--name", "echoviewer bundled teacher", "--data", str(test_data)], teacher_onnx.is_file())
    # Finished videos are skipped, so this step resumes by itself.
    run_step(["targets", "--teacher", str(teacher_onnx), "--data", str(train_data), "--out", str(targets), *common],
          False)
    run_step(["train", "--data", str(train_data), "--targets", str(targets), "--out", str(student_run.path), "--seed",
           str(seed), *options(STUDENT), *common, *resume_if(student_run.last.is_file())],
          student_run.summary.is_file())
    run_step(["export", "--checkpoint", str(student_run.best), "--out", str(student_onnx),
           "--name", "echoviewer bundled student", "--data", str(test_data)], student_onnx.is_file())
    # Both models are scored as the viewer runs them: in onnxruntime.
    run_step(["evaluate", "--student", str(student_onnx), "--teacher", str(teacher_onnx),
           "--data", str(test_data), "--split", "all", "--out", str(evaluation), *common], False)
    out.mkdir(parents=True, exist_ok=True)
    for name, checkpoint in (("teacher", teacher_run.best), ("student", student_run.best)):
        run_step(["export", "--checkpoint", str(checkpoint), "--out", str(out / f"{name}.onnx"), "--name",
               f"echoviewer bundled {name}", "--data", str(test_data), "--metrics",
               str(evaluation / REPORT)], False)
    shutil.copyfile(evaluation / "evaluation.md", out / "evaluation.md")
    print(json.dumps(json.loads((evaluation / REPORT).read_text())["summary"], indent=1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=Path("build/bundled"),
                        help="working folder for data, runs and targets (default build/bundled; resumable)")
    parser.add_argument("--out", type=Path, default=MODELS, help=f"where the models go (default {MODELS})")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def run(args: argparse.Namespace) -> int:
    reproduce(args.work, args.out, seed=args.seed, progress=args.progress)
    return 0
