"""Kills at random moments: ``echoviewer analyze --out`` batches and every stage of ``python -m
distill pipeline``, each resumed until it finishes, and what every kill leaves checked.

A kill is ``SIGKILL`` to the child's whole process group (its worker processes too), as a killed
job or a lost machine leaves it; nothing gets to clean up.

Batches: ``--cines`` distinct cines (the bundled sample's frames in four formats and three sizes),
analysed once serially into a reference folder. Each of ``--batches`` trials runs ``echoviewer
analyze FOLDER --out DIR`` (serially or with ``--workers 2``), kills it one to three times at a
random moment, then runs it to the end. After every kill: each manifest entry that parses must
point at a result file that equals the reference's (nothing half-written counts as done). At the
end: exit 0, every cine in the manifest, ``results/`` equal to the reference's file for file,
``results.jsonl``, ``frames.csv`` and ``beats.csv`` equal to the reference's after sorting their
lines (JSON results compared without their export time, the one field that differs between two
runs), and no temporary file left behind.

Pipelines: one reference run (the bundled teacher, 12 generated cines, two epochs) gives each
stage's length. Each of ``--pipelines`` trials kills a new run at a random moment of the next stage
in turn (before the first stage, while the plan is written; generate, targets, train, evaluate,
export: once the run's log announces the stage), half of them again at a random moment of the first
resume, then resumes it until it exits (a run killed before its plan was written is started again
with its first command, as the refusal of ``--run`` alone tells the user). At the end: exit 0,
``result.json`` whole, the exported student loads as an ONNX model and gives finite masks of the
sample cine, and no temporary file is left in the run.

Goal: every trial finishes, and no check fails.

Usage: ``python bench/kills.py [--batches 20] [--pipelines 12] [--cines 40] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import verdict, write_cines  # bench/ is on sys.path when a script runs
from echoviewer.io.atomic import is_temporary
from echoviewer.run_contract import PIPELINE, STAGE, read_line

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("results.jsonl", "frames.csv", "beats.csv")
STAGES = ("generate", "targets", "train", "evaluate", "export")
TARGETS = ("plan", *STAGES)  # "plan": before the first stage, while the plan is written
PIPELINE_ARGS = ("--teacher", "teacher", "--generate", "12", "--frames", "8", "--batch", "2", "--clip", "4",
                 "--evaluate-videos", "2", "--epochs", "2")


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "ECHOVIEWER_DATA_DIR": str(data_dir)}


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_at(process: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL the process group after ``seconds`` unless it ended first; whether the kill landed."""
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True


def _kill_in_stage(process: subprocess.Popen, log: Path, stage: str, seconds: float) -> bool:
    """SIGKILL the pipeline ``seconds`` after its log announces ``stage`` (at once for "plan": it
    is being written); whether the kill landed."""
    while stage != "plan" and process.poll() is None and stage not in _stages_started(log):
        time.sleep(0.005)
    return _kill_at(process, seconds)


def _stage_started(text: str) -> str | None:
    """The stage a line of the pipeline's JSON progress announces, else None."""
    line = read_line(text)
    return line.get("name") if line is not None and line.get("stage") == PIPELINE and line.get("event") == STAGE else None


def _stages_started(log: Path) -> list[str]:
    """The stages the pipeline's log has announced, in order."""
    return [name for text in log.read_text(errors="replace").splitlines() if (name := _stage_started(text))]


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if is_temporary(p)]


def _sorted_lines(path: Path) -> list[bytes]:
    """The file's lines, sorted; a JSON line without its export time (the one field that differs
    between two runs of one batch)."""
    return sorted(_timeless(line) if line.startswith(b"{") else line for line in path.read_bytes().splitlines())


def _timeless(text: bytes) -> bytes:
    record = json.loads(text)
    (record.get("result") or record).get("provenance", {}).pop("exported_utc", None)
    return json.dumps(record, sort_keys=True).encode()


# --- analyze batches -------------------------------------------------------------------------------

def _manifest_holds(out: Path, reference: Path) -> list[str]:
    """What a kill left that counts as done but is not whole: manifest entries whose result file
    is missing or differs from the reference's."""
    faults = []
    manifest = out / "manifest.jsonl"
    for line in manifest.read_text(errors="replace").splitlines() if manifest.exists() else ():
        try:
            entry = json.loads(line)
            result = entry["result"]
        except (ValueError, TypeError, KeyError):
            continue  # a cut line counts as nothing
        stored = out / result
        try:
            whole = _timeless(stored.read_bytes()) == _timeless((reference / result).read_bytes())
        except (OSError, ValueError):
            whole = False
        if not whole:
            faults.append(f"manifest entry {entry.get('key')} points at a result that is not whole")
    return faults


def _batch_faults(out: Path, reference: Path, cines: int) -> list[str]:
    faults = _manifest_holds(out, reference)
    keys = set()
    for line in (out / "manifest.jsonl").read_text(errors="replace").splitlines():
        try:
            keys.add(json.loads(line)["key"])
        except (ValueError, TypeError, KeyError):
            continue
    if len(keys) != cines:
        faults.append(f"manifest lists {len(keys)} of {cines} cines")
    stored = sorted(p.name for p in (out / "results").iterdir() if not p.name.startswith("."))
    if stored != sorted(p.name for p in (reference / "results").iterdir()):
        faults.append("results/ holds other files than the reference run's")
    for name in TABLES:
        if _sorted_lines(out / name) != _sorted_lines(reference / name):
            faults.append(f"{name} differs from the reference run's after sorting")
    faults += [f"temporary left: {p.relative_to(out)}" for p in _temporaries(out)]
    return faults


def batches(work: Path, trials: int, cines: int, rng: random.Random) -> tuple[int, int, list[str]]:
    """(trials finished with no fault, kills that landed, faults)."""
    folder = work / "cines"
    folder.mkdir()
    write_cines(folder, cines)
    env = _env(work / "data")
    reference = work / "reference"
    took = {}
    for workers in (None, 2):  # how long a whole run takes, serially and on two workers
        started = time.perf_counter()
        made = subprocess.run([sys.executable, "-m", "echoviewer", "analyze", str(folder), "--out",
                               str(reference if workers is None else work / "reference-2"),
                               *(["--workers", "2"] if workers else [])], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        took[workers] = time.perf_counter() - started
        if made.returncode != 0:
            raise SystemExit(f"the reference batch failed: {made.stderr[-2000:]}")
    print(f"reference batch: {cines} cines in {took[None]:.1f} s serially, {took[2]:.1f} s on 2 workers", flush=True)
    clean, landed, faults = 0, 0, []
    for trial in range(trials):
        out, log = work / f"batch-{trial:02d}", work / f"batch-{trial:02d}.log"
        workers = rng.choice([None, 2])
        argv = ["-m", "echoviewer", "analyze", str(folder), "--out", str(out),
                *(["--workers", str(workers)] if workers else [])]
        found, kills = [], 0
        for attempt in range(rng.randint(1, 3)):  # a resumed run has less to do: kill it sooner
            if _kill_at(_start(argv, env, log), rng.uniform(0.3, took[workers] / (1 + attempt))):
                kills += 1
                found += _manifest_holds(out, reference)
        final = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
        if final.returncode != 0:
            found.append(f"the last run exited {final.returncode}: {final.stderr.strip().splitlines()[-1:]}")
        else:
            found += _batch_faults(out, reference, cines)
        skipped = next((line for line in final.stderr.splitlines() if line.startswith("skipped")), "skipped 0")
        print(f"batch {trial:2d}: {'2 workers' if workers else 'serial   '}  {kills} kill(s) landed, "
              f"last run {skipped.split(':')[0]}: {'ok' if not found else '; '.join(found)}", flush=True)
        landed += kills
        clean += not found
        faults += [f"batch {trial}: {fault}" for fault in found]
    return clean, landed, faults


# --- pipelines ------------------------------------------------------------------------------------

def _stage_times(started: float, stamps: list[tuple[float, str]]) -> dict[str, tuple[float, float]]:
    """Each stage's (start, end) in seconds after ``started``, from the JSON stage lines (time, line)."""
    starts = {name: at - started for at, line in stamps if (name := _stage_started(line))}
    order = [s for s in STAGES if s in starts]
    ends = [starts[s] for s in order[1:]] + [stamps[-1][0] - started]
    return {s: (starts[s], end) for s, end in zip(order, ends)}


def _reference_pipeline(work: Path) -> dict[str, tuple[float, float]]:
    """Each stage's (start, end) in seconds after launch, from a reference run."""
    run = work / "pipeline-reference"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "distill", "pipeline", "--run", str(run), *PIPELINE_ARGS,
                                "--progress", "json"], cwd=ROOT, env=_env(work / "data"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    stamps = [(time.perf_counter(), line) for line in process.stdout]
    if process.wait() != 0:
        raise SystemExit("the reference pipeline failed; run it by hand to see why: python -m distill pipeline "
                         f"--run RUN {' '.join(PIPELINE_ARGS)}")
    windows = _stage_times(started, stamps)
    print("reference pipeline: " + ", ".join(f"{s} {a:.1f}-{b:.1f} s" for s, (a, b) in windows.items()), flush=True)
    return windows


def _last_stage(log: Path) -> str:
    names = _stages_started(log)
    return names[-1] if names else "plan"


def _student_faults(run: Path) -> list[str]:
    from echoviewer.analysis.onnx_model import OnnxModel
    from echoviewer.io import load_cine
    from echoviewer.resources import SAMPLE_CINE

    try:
        result = json.loads((run / "result.json").read_text())
        model = OnnxModel(run / "student.onnx")
        masks = model.probabilities(load_cine(SAMPLE_CINE).frames[:8])
    except Exception as exc:  # any failure here is the finding
        return [f"the finished run does not hold a usable student ({type(exc).__name__}: {exc})"]
    faults = [] if isinstance(result, dict) and np.isfinite(masks).all() else ["result.json or masks not valid"]
    return faults + [f"temporary left: {p.relative_to(run)}" for p in _temporaries(run)]


def _again(run: Path, new: list[str], resume: list[str]) -> list[str]:
    """What a user reruns: the resume, or the first command when no plan was written."""
    return resume if (run / "plan.json").is_file() else new


def pipelines(work: Path, trials: int, rng: random.Random) -> tuple[int, dict[str, int], list[str]]:
    """(trials finished with no fault, kills that landed per stage, faults)."""
    windows = _reference_pipeline(work)
    env = _env(work / "data")
    clean, landed, faults = 0, dict.fromkeys(TARGETS, 0), []
    for trial in range(trials):
        run, log = work / f"run-{trial:02d}", work / f"run-{trial:02d}.log"
        target = TARGETS[trial % len(TARGETS)]
        begin, end = (0.0, windows["generate"][0]) if target == "plan" else windows[target]
        new = ["-m", "distill", "pipeline", "--run", str(run), *PIPELINE_ARGS, "--progress", "json"]
        resume = ["-m", "distill", "pipeline", "--run", str(run), "--progress", "json"]
        stages = []
        if _kill_in_stage(_start(new, env, log), log, target, rng.uniform(0, end - begin)):
            stages.append(_last_stage(log))
        if trial % 2 and _kill_at(_start(_again(run, new, resume), env, log), rng.uniform(0.5, windows["export"][1])):
            stages.append(_last_stage(log))
        found, runs = [], 0
        while runs < 3:
            runs += 1
            if _start(_again(run, new, resume), env, log).wait() == 0:
                break
        else:
            found.append(f"no resume finished; see {log}")
        if not found:
            found = _student_faults(run)
        for stage in stages:
            landed[stage] = landed.get(stage, 0) + 1
        print(f"pipeline {trial:2d}: killed in {', '.join(stages) or 'nothing (it had ended)'}; "
              f"{runs} resume(s): {'ok' if not found else '; '.join(found)}", flush=True)
        clean += not found
        faults += [f"pipeline {trial}: {fault}" for fault in found]
    return clean, landed, faults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--pipelines", type=int, default=12)
    parser.add_argument("--cines", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="echoviewer-kills-") as folder:
        work = Path(folder)
        faults = []
        if args.batches:
            clean, landed, found = batches(work, args.batches, args.cines, rng)
            faults += found
            print(f"batches: {clean} of {args.batches} finished clean after {landed} kills\n", flush=True)
        if args.pipelines:
            clean, per_stage, found = pipelines(work, args.pipelines, rng)
            faults += found
            print(f"pipelines: {clean} of {args.pipelines} finished clean after kills in "
                  + ", ".join(f"{s} {n}" for s, n in per_stage.items() if n))
    for fault in faults:
        print("FAULT", fault)
    print(f"goal: every killed batch and pipeline resumes and finishes, nothing half-written counts as done: "
          f"{verdict(not faults)}")
    return 0 if not faults else 1


if __name__ == "__main__":
    sys.exit(main())
