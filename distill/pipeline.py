"""``python -m distill pipeline --run DIR``: one distillation run, as the viewer's wizard starts it.

A new run (``--run DIR --teacher teacher --generate 150 --model fast --epochs 20 ...``) writes its
settings to ``DIR/plan.json`` (see :class:`Plan`); ``--run DIR`` alone resumes it. The stages are
``python -m distill`` commands run in this process; a stage whose output is complete is skipped and
an interrupted one resumes, so resuming after a cancel, a kill or a crash finishes the run.

0. ``train-teacher``  only with ``--labelled PATH`` instead of ``--teacher``: a teacher trained on
   those human-labelled frames into ``DIR/teacher`` (``teacher.onnx``, the teacher of the stages
   below); the student still learns from synthetic cines alone;
1. ``train-generator``  only with ``--labelled PATH --train-generator``: a generator of synthetic
   frames learned from those labelled frames into ``DIR/generator`` (the bundled ``student-camus``'s
   recipe); ``generate`` then draws ``--generator-share`` of the cines from it, the simulator the rest
   (``--generator FOLDER`` uses one made before);
2. ``generate``  synthetic cines into ``DIR/data`` (only when the plan asks for generated data);
3. ``targets``   the teacher's soft masks of the TRAIN and VAL videos (not for the simulator's truth);
4. ``train``     the student on those targets alone (``DIR/train``: last.pt, best.pt, history.json);
5. ``evaluate``  the new student as ONNX (``candidate.onnx``), then it and the current student
   scored against the teacher on the TEST split (``evaluation/``, ``evaluation-current/``);
6. ``export``    ``student.onnx`` with its model card, the scores included; ``result.json`` last.

With ``--progress json`` every command's progress lines go to stdout, and before each stage a line
``{"stage": "pipeline", "event": "stage", "name": "train", "index": 3, "count": 5}``. SIGTERM (or,
with ``--stop-on-eof``, the end of stdin: the parent that started this process has gone) stops the
run as Ctrl-C does, within a training step, leaving everything needed to resume. The folder's names,
the stages and the JSON lines are ``echoviewer.run_contract``'s, which the viewer reads too.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from distill.errors import UsageError
from echoviewer.io.atomic import remove_temporaries, write_json
from echoviewer.io.folder_lock import FolderBusy, folder_lock
from echoviewer.resources import BUNDLED_MODELS, DEFAULT_MODEL
from echoviewer.run_contract import (DONE, GENERATOR_SHARE, GENERATOR_STAGE, GENERATOR_TRAINING, HANDED_OFF, HANDOFF,
                                     PIPELINE, PLAN, REPORT, STAGE, TEACHER_SETTINGS, TEACHER_STAGE, TRAIN_SETTINGS, RunFolder, event_line,
                                     learns_generator, planned_stages, write_line)


@dataclass
class Plan:
    """What one run does, stored in ``plan.json`` when the run starts. ``data`` is
    ``{"generate": {"n", "seed", "frames"}}`` (with ``"generator"``, a learned generator drawing part of
    the cines: see ``run_contract``) or ``{"folder": PATH}``; ``student`` holds
    ``distill train`` settings (``model``, ``epochs``, ...); ``current`` is the viewer's active
    student at the start, scored beside the new one. ``teacher_training`` holds ``distill
    train-teacher`` settings (``labelled``, ``minutes``, ...) when the run trains its teacher
    (``teacher`` is then the file it makes, ``RUN/teacher/teacher.onnx``)."""

    name: str
    teacher: str
    data: dict
    student: dict
    current: str = DEFAULT_MODEL
    evaluate_videos: int = 0  # score only the first N TEST videos (0: all)
    teacher_training: dict = field(default_factory=dict)
    version: int = 1

    @classmethod
    def read(cls, run: Path) -> Plan:
        path = run / PLAN
        try:
            plan = cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{path} is not a valid run plan ({exc}); start a new run") from None
        plan.check()
        return plan

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if (args.teacher is None) == (args.labelled is None) or (args.generate is None) == (args.data is None):
            raise UsageError(f"{args.run} holds no {PLAN}: a new run needs either --teacher or --labelled PATH, "
                             "and either --generate N or --data FOLDER")
        data = ({"generate": {"n": args.generate, "seed": args.seed, "frames": args.frames, **_generator(args)}}
                if args.generate is not None else {"folder": str(Path(args.data).resolve())})
        student = {key: getattr(args, key) for key in TRAIN_SETTINGS[:-1] if getattr(args, key) is not None}
        student.setdefault("model", "fast")
        teacher_training = {} if args.labelled is None else {
            "labelled": str(Path(args.labelled).resolve()), "seed": args.seed,
            **{key: value for key, value in (("minutes", args.teacher_minutes), ("steps", args.teacher_steps),
                                             ("data_licence", args.data_licence)) if value not in (None, "")}}
        teacher = str(RunFolder(args.run.resolve()).teacher.model) if teacher_training else _absolute(args.teacher)
        plan = cls(name=args.name or args.run.name, teacher=teacher, data=data,
                   student={**student, "seed": args.seed}, current=_absolute(args.current),
                   evaluate_videos=args.evaluate_videos, teacher_training=teacher_training)
        plan.check()
        # Refused now, not after generating the data: a model name that builds nothing, a teacher that
        # does not load (or labelled data train-teacher would refuse), a current student that does not
        # load (the same loaders the stages use).
        from distill.networks import build
        from distill.segmenters.registry import load_segmenter

        build(plan.student["model"])
        if "folder" in plan.data.get("generate", {}).get("generator", {}):
            from distill.generate import generator_sha256

            generator_sha256(Path(plan.data["generate"]["generator"]["folder"]))  # refused now if unfinished
        if teacher_training:
            from distill.datasets.labelled import open_labelled
            from distill.train_teacher import data_licence

            data_licence(open_labelled(teacher_training["labelled"]).layout, teacher_training.get("data_licence", ""))
        for spec in (plan.current,) if teacher_training else (plan.teacher, plan.current):
            load_segmenter(spec)
        return plan

    def check(self) -> None:
        generate, folder = self.data.get("generate"), self.data.get("folder")
        if (generate is None) == (folder is None):
            raise UsageError("the plan's data must be either {'generate': {...}} or {'folder': PATH}")
        if generate is not None and (not {"n", "seed", "frames"} <= set(generate) or int(generate["n"]) < 1):
            raise UsageError("generated data needs n (at least 1), seed and frames")
        if self.teacher == "truth" and folder is not None and not (Path(folder) / "Masks").is_dir():
            raise UsageError(f"{folder}: the simulator's truth needs synthetic data with its Masks/ folder; "
                             "choose a teacher model or generated data")
        unknown = set(self.student) - set(TRAIN_SETTINGS)
        if unknown or "model" not in self.student:
            raise UsageError(f"the plan's student settings must name a model and may hold only "
                             f"{', '.join(TRAIN_SETTINGS)} (not {', '.join(sorted(unknown))})")
        generator = (generate or {}).get("generator")
        if generator is not None and not (isinstance(generator, dict) and len(generator) == 2
                                          and 0 < float(generator.get("share", 0)) <= 1
                                          and (generator.get("learn") is True or "folder" in generator)):
            raise UsageError("the plan's generator must be {'folder': PATH, 'share': S} or {'learn': true, "
                             "'share': S} with S in (0, 1]")
        if learns_generator(self.data) and not self.teacher_training:
            raise UsageError("learning a generator needs labelled frames: give --labelled with --train-generator")
        unknown = set(self.teacher_training) - set(TEACHER_SETTINGS)
        if self.teacher_training and (unknown or "labelled" not in self.teacher_training):
            raise UsageError(f"the plan's teacher training must name the labelled data and may hold only "
                             f"{', '.join(TEACHER_SETTINGS)} (not {', '.join(sorted(unknown))})")

    def write(self, run: Path) -> None:
        run.mkdir(parents=True, exist_ok=True)
        write_json(run / PLAN, asdict(self))

    def stages(self) -> list[str]:
        return planned_stages(self.data, self.teacher, bool(self.teacher_training))


def _generator(args: argparse.Namespace) -> dict:
    """The plan's ``generator`` entry from ``--generator`` / ``--train-generator`` (none without either)."""
    if args.generator is not None and args.train_generator:
        raise UsageError("give either --generator FOLDER or --train-generator, not both")
    share = GENERATOR_SHARE if args.generator_share is None else args.generator_share
    if args.generator is not None:
        return {"generator": {"folder": str(Path(args.generator).resolve()), "share": share}}
    return {"generator": {"learn": True, "share": share}} if args.train_generator else {}


def learn_generator(folder: Path, argv: list[str]) -> None:
    """``distill train-generator --out folder`` (with ``argv``) by the bundled recipe, unless finished.
    It writes its folder only at the end, so a folder without its card is a killed run's: it starts over."""
    from distill.echogen import CARD

    if folder.exists() and not (folder / CARD).is_file():
        shutil.rmtree(folder)
    run_step(["train-generator", "--out", str(folder), *argv, *options(GENERATOR_TRAINING)],
             (folder / CARD).is_file())


def _absolute(spec: str) -> str:
    """A model file's absolute path (a resumed run may start elsewhere); names stay names."""
    return spec if spec in BUNDLED_MODELS or spec == "truth" else str(Path(spec).resolve())


def options(settings: dict) -> list[str]:
    """``{"epochs": 3, "data_licence": "X"}`` → ``["--epochs", "3", "--data-licence", "X"]``."""
    return [item for key, value in settings.items() for item in (f"--{key.replace('_', '-')}", str(value))]


def run_step(argv: list[str], done: bool) -> None:
    """Run one ``python -m distill`` command (printed first) unless its output is already complete."""
    from distill.cli import main

    shown = "python -m distill " + " ".join(argv)
    print(("skip (done): " if done else "run: ") + shown, file=sys.stderr, flush=True)
    if not done and (code := main(argv)) != 0:
        raise SystemExit(code)


def hand_off(run: Path, train_argv: list[str], progress: str) -> None:
    """Stop before training and say how to train on another machine (a GPU box): what to copy
    there, the command to run in the copy, and the folder to copy back; then exit HANDED_OFF.
    Paths inside the run become relative to the copy, so the command runs wherever it lands."""
    here = run.resolve()

    def relative(value: str) -> str:
        path = Path(value)
        return str(path.resolve().relative_to(here)) if path.is_absolute() and path.resolve().is_relative_to(here) \
            else value

    argv = [relative(value) for value in train_argv]
    copied = [argv[argv.index(flag) + 1] for flag in ("--data", "--targets") if argv[argv.index(flag) + 1] != "truth"]
    back = argv[argv.index("--out") + 1]
    command = "python -m distill " + " ".join(shlex.quote(a) for a in argv)
    multi = "torchrun --nproc-per-node GPUS -m distill " + " ".join(shlex.quote(a) for a in argv)
    resume = f"python -m distill pipeline --run {shlex.quote(str(run))}"
    if progress == "json":
        write_line(event_line(PIPELINE, HANDOFF, command=command, torchrun=multi, copy=copied, back=back,
                              resume=resume, folder=str(here)))
    print(f"train elsewhere: copy {', '.join(copied)} from {here} to the other machine (same layout), run there\n"
          f"  {command}\n  (on N GPUs: {multi})\n"
          f"then copy its {back}/ folder back into {here} and run: {resume}", file=sys.stderr, flush=True)
    raise SystemExit(HANDED_OFF)


def run_plan(run: Path, plan: Plan, progress: str, elsewhere: bool = False) -> dict:
    """Every stage of ``plan`` in ``run``; returns what ``result.json`` holds. With ``elsewhere``
    the training stage, unless done, is handed off (:func:`hand_off`)."""
    files = RunFolder(run)
    data = files.data if "generate" in plan.data else Path(plan.data["folder"])
    teacher = str(files.teacher.model) if plan.teacher_training else plan.teacher  # wherever the run now lies
    targets, train = files.targets, files.train
    candidate, final = files.candidate, files.student
    evaluation, current = files.evaluation, files.evaluation_current
    common = ["--progress", progress]
    names = plan.stages()

    def stage(name: str) -> None:
        if progress == "json":
            write_line(event_line(PIPELINE, STAGE, name=name, index=names.index(name) + 1, count=len(names)))

    if TEACHER_STAGE in names:
        stage(TEACHER_STAGE)  # a finished teacher is never trained again; an interrupted one resumes
        trained = files.teacher
        run_step(["train-teacher", "--out", str(trained.path), *options(plan.teacher_training), *common,
                  *(["--resume"] if trained.last.is_file() else [])], trained.model.is_file())
    if GENERATOR_STAGE in names:
        stage(GENERATOR_STAGE)
        labelled = plan.teacher_training
        learn_generator(files.generator, ["--labelled", labelled["labelled"], "--seed", str(labelled.get("seed", 0)),
                                          *options({key: labelled[key] for key in ("data_licence",) if key in labelled}),
                                          *common])
    if "generate" in names:
        stage("generate")
        g = plan.data["generate"]
        learned = g.get("generator")
        drawn_by = [] if learned is None else [
            "--generator", str(files.generator if learned.get("learn") else learned["folder"]),
            "--generator-share", str(learned["share"])]
        run_step(["generate", "--out", str(data), "--n", str(g["n"]), "--seed", str(g["seed"]), "--frames",
                  str(g["frames"]), "--workers", "2", *drawn_by, *common, *(["--resume"] if data.exists() else [])],
                 (data / "FileList.csv").is_file())
    if "targets" in names:
        stage("targets")  # finished videos are skipped, so this step resumes by itself
        run_step(["targets", "--teacher", teacher, "--data", str(data), "--out", str(targets),
                  "--split", "TRAIN,VAL", *common], False)
    stage("train")
    train_argv = ["train", "--data", str(data), "--targets", "truth" if plan.teacher == "truth" else str(targets),
                  "--out", str(train.path), *options(plan.student)]
    if elsewhere and not train.summary.is_file():
        hand_off(run, train_argv, progress)
    run_step([*train_argv, *common, *(["--resume"] if train.last.is_file() else [])], train.summary.is_file())
    stage("evaluate")
    run_step(["export", "--checkpoint", str(train.best), "--out", str(candidate), "--name", plan.name,
              "--data", str(data)], candidate.is_file())
    scoring = ["--teacher", teacher, "--data", str(data), "--split", "TEST",
               "--max-videos", str(plan.evaluate_videos), *common]
    for student, out in ((str(candidate), evaluation), (plan.current, current)):
        run_step(["evaluate", "--student", student, "--out", str(out), *scoring], (out / REPORT).is_file())
    stage("export")
    run_step(["export", "--checkpoint", str(train.best), "--out", str(final), "--name", plan.name,
              "--data", str(data), "--metrics", str(files.report("new"))], files.result.is_file())
    card = json.loads(final.with_suffix(".json").read_text(encoding="utf-8"))
    result = {"student": str(final), "card": str(final.with_suffix(".json")), "name": plan.name,
              "sha256": card["sha256"], "parameters": card["parameters"],
              "evaluation": str(files.report("new")), "evaluation_current": str(files.report("current")),
              "summary": json.loads(train.summary.read_text(encoding="utf-8"))}
    write_json(files.result, result, allow_nan=True)  # a diverged loss is NaN
    return result


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_when_stdin_closes() -> None:
    """The parent holds our stdin open; its end (the viewer quit or crashed) stops the run."""
    descriptor = sys.stdin.fileno()

    def watch() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader aborts the
        # interpreter's shutdown ("could not acquire lock ... at interpreter shutdown").
        while os.read(descriptor, 4096):
            pass
        signal.raise_signal(signal.SIGTERM)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True,
                        help="run folder: a new run writes its plan.json there; given alone, it resumes")
    new = parser.add_argument_group("a new run (omit all of these to resume)")
    new.add_argument("--name", help="the student's name in its model card (default: the folder name)")
    new.add_argument("--teacher", help="teacher (bundled), truth, FILE.onnx (+ .json) or FILE.pt")
    new.add_argument("--labelled", metavar="PATH",
                     help="or train the teacher first on these human-labelled frames (as 'distill train-teacher "
                          "--labelled'), into RUN/teacher")
    new.add_argument("--teacher-minutes", type=float, help="with --labelled: train-teacher's --minutes")
    new.add_argument("--teacher-steps", type=int, help="with --labelled: train-teacher's --steps")
    new.add_argument("--data-licence", help="with --labelled: train-teacher's --data-licence")
    new.add_argument("--generate", type=int, metavar="N", help="generate N synthetic cines into RUN/data")
    new.add_argument("--generator", metavar="FOLDER",
                     help="with --generate: draw part of the cines from this 'distill train-generator' folder")
    new.add_argument("--train-generator", action="store_true",
                     help="with --generate and --labelled: first learn a generator from the labelled frames "
                          "(into RUN/generator) and draw part of the cines from it")
    new.add_argument("--generator-share", type=float,
                     help=f"the share of cines the generator draws, the simulator the rest (default {GENERATOR_SHARE})")
    new.add_argument("--frames", default="32-64", help="frames per generated cine (default 32-64)")
    new.add_argument("--data", help="or use this EchoNet-style folder (or folder of AVIs)")
    new.add_argument("--seed", type=int, default=0, help="data and training seed (default 0)")
    new.add_argument("--current", default=DEFAULT_MODEL,
                     help=f"the student the new one is compared with (default {DEFAULT_MODEL})")
    new.add_argument("--evaluate-videos", type=int, default=0, help="score the first N TEST videos (0: all)")
    for key in TRAIN_SETTINGS[:-1]:
        new.add_argument(f"--{key}", type=str if key in ("model", "schedule") else float if key in
                         ("lr", "dice", "augment") else int, help="as in 'distill train'")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    parser.add_argument("--stop-on-eof", action="store_true",
                        help="stop (resumably) when stdin closes: for a parent process that may die")
    parser.add_argument("--train-elsewhere", action="store_true",
                        help="stop before training and print the command to train on another machine (a GPU "
                             f"box) and the folder to copy back; exit {HANDED_OFF}. Run the pipeline again "
                             "once that folder is back")


def _plan(args: argparse.Namespace) -> Plan:
    """The plan in ``--run``, or a new one from the arguments (never both)."""
    given = [key for key in ("name", "teacher", "labelled", "generate", "data", "model", "generator",
                             "generator_share") if getattr(args, key) is not None] + (
        ["train_generator"] if args.train_generator else [])
    if (args.run / PLAN).is_file():
        if given:
            raise UsageError(f"{args.run} already holds a run; give only --run to resume it, or choose a new "
                             "folder for a new run")
        return Plan.read(args.run)
    if args.run.is_dir():  # no plan: no pipeline runs here, so a temporary is a killed start's plan
        remove_temporaries(args.run)
    if args.run.exists() and any(p.name != LOCK for p in args.run.iterdir()):
        raise UsageError(f"{args.run} is not empty and holds no {PLAN}; choose a new folder")
    plan = Plan.from_args(args)
    plan.write(args.run)
    return plan


LOCK = ".pipeline.lock"


@contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """Hold ``RUN/.pipeline.lock`` while the pipeline runs: a second pipeline on the same run is
    refused; a killed one never keeps it locked (:func:`~echoviewer.io.folder_lock.folder_lock`)."""
    try:
        with folder_lock(run, LOCK):
            yield
    except FolderBusy as busy:
        raise UsageError(f"{busy}; wait for it to end or stop it, then resume") from None


def run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    with run_lock(args.run):
        remove_temporaries(args.run, recursive=True)  # what a killed run was writing; no one writes now
        return _run_locked(args, plan)


def _run_locked(args: argparse.Namespace, plan: Plan) -> int:
    previous = signal.signal(signal.SIGTERM, _stop)  # training installs its own handler while it runs
    if args.stop_on_eof:
        _stop_when_stdin_closes()
    try:
        result = run_plan(args.run, plan, args.progress, args.train_elsewhere)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
        if code == 130:
            print(f"stopped; run the same command again to resume: python -m distill pipeline --run {args.run}",
                  file=sys.stderr)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.progress == "json":
        write_line(event_line(PIPELINE, DONE, **result))
    else:
        print(f"done: {result['student']}", file=sys.stderr)
    return 0
