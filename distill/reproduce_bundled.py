"""``python -m distill reproduce-bundled``: rebuild ``echoviewer/resources/models/`` from a seed.

Two chains, both the paper's recipe (a teacher labels synthetic cines; the student learns from those
labels alone and never sees a real image; every model is scored in onnxruntime and exported with
its model card):

* ``--labelled CAMUS_TRAIN`` (``student-camus``, ``teacher-camus``): the teacher is trained on the
  human-labelled CAMUS ``train`` frames (``train-teacher``), and so is a generator of synthetic
  frames (``train-generator``); the student's cines come half from that generator, half from the
  simulator, and the student is the wide U-Net. Both
  learned models inherit CAMUS's licence (CC BY-NC-SA 4.0, research use), and the cards say so.
* ``--simulator`` (the bundled ``student`` and ``teacher``): the teacher learns the simulator's truth, the student its
  labels on simulated cines; nothing real is involved anywhere.

Every step is one ``python -m distill`` command, printed before it runs, and every step resumes:
rerunning after an interruption skips finished steps and continues the unfinished one.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from distill.pipeline import learn_generator, options, run_step
from echoviewer.resources import MODELS
from echoviewer.run_contract import (DATA_PRESETS, GENERATOR_SHARE, REPORT, STUDENT_PRESETS,
                                     TeacherFolder, TrainFolder, student_settings)

SEED = 2025
STANDARD = DATA_PRESETS["standard"]  # the wizard's standard preset: this recipe
TRAIN_CINES, TEST_CINES = STANDARD.n, 200
TRAIN_FRAMES, TEST_FRAMES = STANDARD.frames, "48-128"
TEACHER = {"model": "teacher", "epochs": 30, "patience": 6, "batch": 8, "clip": 8, "augment": 1.0, "dice": 0.5,
           "schedule": "cosine"}
# A fixed number of steps, not a time budget, so that the teacher does not depend on the machine.
LABELLED_TEACHER = {"steps": 2400, "batch": 16, "augment": 1.0, "dice": 0.5}
STUDENT = student_settings(STUDENT_PRESETS["fast"], STANDARD)  # the simulator chain's
# The labelled chain's student: the wide U-Net, whose extra capacity the varied synthetic data of
# that chain uses (docs/simulator-notes.md has the comparison).
CAMUS_STUDENT_SETTINGS = student_settings(STUDENT_PRESETS["wide"], STANDARD)
CAMUS_STUDENT, CAMUS_TEACHER = "student-camus", "teacher-camus"


def _resume_if(exists: bool) -> list[str]:
    return ["--resume"] if exists else []


def _generate(data: Path, n: int, frames: str, seed: int, common: list[str], learned: list[str]) -> None:
    run_step(["generate", "--out", str(data), "--n", str(n), "--seed", str(seed), "--frames", frames,
              "--workers", "2", *learned, *common, *_resume_if(data.exists())], (data / "FileList.csv").is_file())


def _student(work: Path, train_data: Path, teacher_onnx: Path, seed: int, name: str, common: list[str],
             settings: dict = STUDENT) -> Path:
    """Targets of ``teacher_onnx`` on ``train_data``, the student trained on them by ``settings``, its
    checkpoint."""
    targets, student_run = work / "targets", TrainFolder(work / "student-run")
    # Finished videos are skipped, so this step resumes by itself.
    run_step(["targets", "--teacher", str(teacher_onnx), "--data", str(train_data), "--out", str(targets),
              *common], False)
    run_step(["train", "--data", str(train_data), "--targets", str(targets), "--out", str(student_run.path), "--seed",
              str(seed), *options(settings), *common, *_resume_if(student_run.last.is_file())],
             student_run.summary.is_file())
    run_step(["export", "--checkpoint", str(student_run.best), "--out", str(work / "student.onnx"),
              "--name", name, "--data", str(train_data)], (work / "student.onnx").is_file())
    return student_run.best


def _publish(work: Path, test_data: Path, teacher_onnx: Path, exports: dict[str, tuple[Path, str]], out: Path,
             common: list[str], measure: Path | None, report: str) -> None:
    """Score the work's student against its teacher on ``test_data`` and export ``exports`` (file name →
    checkpoint or ONNX, model name) into ``out`` with those scores, the table as ``report``; then score
    them on ``measure`` (labelled frames), if given."""
    evaluation = work / "evaluation"
    run_step(["evaluate", "--student", str(work / "student.onnx"), "--teacher", str(teacher_onnx),
              "--data", str(test_data), "--split", "all", "--out", str(evaluation), *common], False)
    out.mkdir(parents=True, exist_ok=True)
    for file_name, (source, name) in exports.items():
        target = out / f"{file_name}.onnx"
        if source.suffix == ".onnx":  # exported elsewhere already (the labelled teacher): copy it with its card
            shutil.copyfile(source, target)
            shutil.copyfile(source.with_suffix(".json"), target.with_suffix(".json"))
            continue
        run_step(["export", "--checkpoint", str(source), "--out", str(target), "--name", name, "--data",
                  str(test_data), "--metrics", str(evaluation / REPORT)], False)
    shutil.copyfile(evaluation / "evaluation.md", out / report)
    if measure is not None:
        for file_name in exports:
            run_step(["realeval", "--model", str(out / f"{file_name}.onnx"), "--labelled", str(measure),
                      "--json", str(work / f"realeval-{file_name}.json"), "--progress", "none"], False)
    print(json.dumps(json.loads((evaluation / REPORT).read_text())["summary"], indent=1))


def reproduce_simulator(work: Path, out: Path, *, seed: int, progress: str, measure: Path | None = None) -> None:
    """The simulator-truth chain into ``out``: student.onnx and teacher.onnx."""
    common = ["--progress", progress]
    train_data, test_data = work / "synth-train", work / "synth-test"
    teacher_run, teacher_onnx = TrainFolder(work / "teacher-run"), work / "teacher.onnx"
    _generate(train_data, TRAIN_CINES, TRAIN_FRAMES, seed, common, [])
    _generate(test_data, TEST_CINES, TEST_FRAMES, seed + 1, common, [])
    run_step(["train", "--data", str(train_data), "--targets", "truth", "--out", str(teacher_run.path), "--seed",
              str(seed), *options(TEACHER), *common, *_resume_if(teacher_run.last.is_file())],
             teacher_run.summary.is_file())
    run_step(["export", "--checkpoint", str(teacher_run.best), "--out", str(teacher_onnx),
              "--name", "echoviewer bundled teacher", "--data", str(test_data)], teacher_onnx.is_file())
    best = _student(work, train_data, teacher_onnx, seed, "echoviewer bundled student", common)
    _publish(work, test_data, teacher_onnx, {"student": (best, "echoviewer bundled student"),
                                              "teacher": (teacher_run.best, "echoviewer bundled teacher")},
             out, common, measure, "evaluation.md")


def reproduce_labelled(work: Path, out: Path, labelled: Path, *, seed: int, progress: str,
                       measure: Path | None = None) -> None:
    """The chain from human labels into ``out``: teacher-camus.onnx and student-camus.onnx."""
    common = ["--progress", progress]
    train_data, test_data = work / "synth-train", work / "synth-test"
    teacher, generator = TeacherFolder(work / "teacher"), work / "generator"
    run_step(["train-teacher", "--labelled", str(labelled), "--out", str(teacher.path), "--seed", str(seed),
              "--name", f"echoviewer bundled {CAMUS_TEACHER}", *options(LABELLED_TEACHER), *common,
              *_resume_if(teacher.path.exists())], teacher.model.is_file())
    learn_generator(generator, ["--labelled", str(labelled), "--seed", str(seed), *common])
    learned = ["--generator", str(generator), "--generator-share", str(GENERATOR_SHARE)]
    _generate(train_data, TRAIN_CINES, TRAIN_FRAMES, seed, common, learned)
    _generate(test_data, TEST_CINES, TEST_FRAMES, seed + 1, common, learned)
    name = f"echoviewer bundled {CAMUS_STUDENT}"
    best = _student(work, train_data, teacher.model, seed, name, common, CAMUS_STUDENT_SETTINGS)
    _publish(work, test_data, teacher.model, {CAMUS_STUDENT: (best, name), CAMUS_TEACHER: (teacher.model, "")},
             out, common, measure, "evaluation-camus.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    chain = parser.add_mutually_exclusive_group(required=True)
    chain.add_argument("--labelled", type=Path, default=None,
                       help=f"CAMUS train frames (the .npz or the NIfTI release): {CAMUS_STUDENT} and "
                            f"{CAMUS_TEACHER} from human labels")
    chain.add_argument("--simulator", action="store_true",
                       help="the simulator-truth chain: the bundled student and teacher, nothing real involved")
    parser.add_argument("--measure", type=Path, default=None,
                        help="labelled frames to score the published models on (CAMUS val), never to train")
    parser.add_argument("--work", type=Path, default=Path("build/bundled"),
                        help="working folder for data, runs and targets (default build/bundled; resumable)")
    parser.add_argument("--out", type=Path, default=MODELS, help=f"where the models go (default {MODELS})")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def run(args: argparse.Namespace) -> int:
    if args.simulator:
        reproduce_simulator(args.work / "simulator", args.out, seed=args.seed, progress=args.progress,
                            measure=args.measure)
    else:
        reproduce_labelled(args.work / "labelled", args.out, args.labelled, seed=args.seed, progress=args.progress,
                           measure=args.measure)
    return 0
