"""Mutation campaign: thousands of damaged inputs through the product's readers, counting crashes,
hangs and stray tracebacks (goal: 0 of each) and the peak memory.

Seeds, written afresh into a temporary folder: small cines (MJPEG AVI grey and colour, MP4, NPZ of
uint8 and of float32, NPY), the bundled student's model card, and labelled frames in the three
layouts ``distill realeval`` reads (a CAMUS npz, a CAMUS release folder of NIfTI files, an
EchoNet-Dynamic folder of FileList.csv, VolumeTracings.csv and Videos/). Each input is a seed with a
few random byte-level mutations (bit flips, overwritten, deleted, inserted and duplicated runs, a
cut), or, for model cards and CSV tables, a structural one (a field set to another type, an
extreme or non-finite number, deep nesting, a huge list; a cell of CSV set to garbage).

Every input runs in a worker process, through what the product runs on it:

* cines: ``load_cine`` and ``describe_cine`` (``echoviewer info``); expected refusal: ``CineLoadError``;
* model cards: ``load_model`` with the bundled ONNX file, then the masks of a small cine, which
  must be finite; expected refusal: ``ModelLoadError``;
* labelled frames: ``open_labelled`` and every case read, tracings filled to masks; expected refusal:
  ``ValueError`` / ``FileNotFoundError`` (what ``distill realeval`` reports in one line) or ``CineLoadError``.

A *stray traceback* is any other exception, or anything written on stderr while an input is read
(a native library's raw lines); a *crash* is the worker dying (it is restarted and the input kept
under ``--keep``); a *hang* is an input that takes over ``--timeout`` seconds.

Usage: ``python bench/mutate.py [--inputs 10000] [--seed 0] [--timeout 30] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common import verdict  # bench/ is on sys.path when a script runs

# Share of the inputs per kind of seed.
KINDS = {"cine": 0.6, "model": 0.2, "labelled": 0.2}


# --- seeds --------------------------------------------------------------------------------------

def _frames(n: int = 10, rows: int = 64, cols: int = 80, colour: bool = False) -> np.ndarray:
    ys, xs = np.mgrid[:rows, :cols]
    frames = np.empty((n, rows, cols), np.uint8)
    for t in range(n):
        radius = 14 + 6 * np.sin(2 * np.pi * t / n)
        frames[t] = np.clip(40 + 150 * ((xs - cols / 2) ** 2 + (ys - rows / 2) ** 2 < radius ** 2)
                            + (xs + ys) % 17, 0, 255)
    if colour:
        rgb = np.repeat(frames[..., None], 3, axis=-1)
        rgb[:, :12, :12] = (220, 30, 30)
        return rgb
    return frames


def _video(path: Path, frames: np.ndarray, fourcc: str) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0, frames.shape[1:3][::-1])
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame[..., ::-1])
    writer.release()
    return path


def write_seeds(folder: Path) -> dict[str, list[Path]]:
    """The seed files of each kind, written into ``folder``."""
    from distill.synth import simulate
    from distill.synth.writers import write_case, write_tables
    from echoviewer.analysis.models import model_path
    from echoviewer.analysis.onnx_model import sidecar_path

    cines = [_video(folder / "grey.avi", _frames(), "MJPG"), _video(folder / "colour.avi", _frames(colour=True), "MJPG"),
             _video(folder / "clip.mp4", _frames(), "mp4v")]
    np.savez(folder / "uint8.npz", frames=_frames(), fps=np.float64(40), cm_per_px=np.array([0.03, 0.03]))
    np.savez_compressed(folder / "float.npz", frames=_frames().astype(np.float32) / 255,
                        frame_times_ms=np.arange(10) * 25.0)
    np.save(folder / "frames.npy", _frames(colour=True))
    cines += [folder / "uint8.npz", folder / "float.npz", folder / "frames.npy"]

    card = folder / "model" / "student.json"
    card.parent.mkdir()
    shutil.copy(sidecar_path(model_path("student")), card)

    cine = simulate(0, height=96, width=112, n_frames=12)
    labels = np.zeros((4, 96, 112), np.uint8)
    for index in range(4):
        labels[index][cine.masks[index * 3]] = 1
        labels[index][:10] = 2
    names = ["patient0001_4CH_ED", "patient0001_4CH_ES", "patient0002_2CH_ED", "patient0002_2CH_ES"]
    images = cine.frames[[0, 3, 6, 9]]
    np.savez(folder / "camus.npz", names=np.array(names), images=images, labels=labels)
    import nibabel

    nifti = folder / "camus_release"
    for name, image, label in zip(names, images, labels):
        patient = nifti / name.split("_")[0]
        patient.mkdir(parents=True, exist_ok=True)
        for suffix, data in (("", image), ("_gt", label)):
            nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(data.T), np.diag([-0.3, -0.3, 1.0, 1.0])),
                         patient / f"{name}{suffix}.nii.gz")
    echonet = folder / "echonet"
    (echonet / "Videos").mkdir(parents=True)
    (echonet / "Masks").mkdir()
    write_case(echonet, "0X1A2B", simulate(1, n_frames=32, fps=30.0), "echonet")
    write_tables(echonet, ["0X1A2B"], "echonet")
    shutil.rmtree(echonet / "Masks")
    labelled = [folder / "camus.npz", *sorted(nifti.rglob("*.nii.gz")), echonet / "VolumeTracings.csv",
                echonet / "FileList.csv", echonet / "Videos" / "0X1A2B.avi"]
    return {"cine": cines, "model": [card], "labelled": labelled}


# --- mutations ----------------------------------------------------------------------------------

def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
        if not out:
            break
        at = rng.randrange(len(out))
        how = rng.choice(["flip", "overwrite", "delete", "insert", "duplicate", "cut", "extreme"])
        if how == "flip":
            out[at] ^= 1 << rng.randrange(8)
        elif how == "overwrite":
            run = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            out[at:at + len(run)] = run
        elif how == "delete":
            del out[at:at + rng.randint(1, 256)]
        elif how == "insert":
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif how == "duplicate":
            out[at:at] = out[at:at + rng.randint(1, 512)]
        elif how == "cut":
            del out[rng.randrange(len(out) // 4, len(out)) if len(out) > 4 else at:]
        else:  # a length or count field set to an extreme
            out[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80"])
    return bytes(out)


_EXTREMES: list[Any] = [True, False, None, -1, 0, 5, 2**63, -2**63, 1e308, -1e308, 1e-300, "Infinity", "NaN",
                        "", "x" * 100_000, [], {}, [1.0] * 100_000, [[[]]], {"a": 1}]


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def mutate_json(text: str, rng: random.Random) -> str:
    """A model card with one field (or an element of one) set to another type or an extreme."""
    try:
        card = json.loads(text)
    except ValueError:
        return mutate_bytes(text.encode(), rng).decode("latin-1")
    if rng.random() < 0.1:
        return rng.choice([_deep(200_000), '{"input_size": ' + _deep(5000) + "}", "1e999", "[]", "null", ""])
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            paths.append((node, key))
            walk(value)
    walk(card)
    node, key = rng.choice(paths)
    node[key] = rng.choice([*_EXTREMES, rng.uniform(-1e6, 1e6), rng.randint(-10, 10)])
    if rng.random() < 0.2 and isinstance(card, dict):
        card.pop(rng.choice(list(card)), None)
    return json.dumps(card, allow_nan=True).replace('"Infinity"', "Infinity").replace('"NaN"', "NaN")


def mutate_csv(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 4)):
        row = rng.randrange(len(lines))
        cells = lines[row].split(",")
        cells[rng.randrange(len(cells))] = rng.choice(["", "nan", "inf", "-1", "1e308", "999999999", "x", '"',
                                                       "0X1A2B.avi", "TRAIN", "-0", "1,2"])
        lines[row] = ",".join(cells)
    if rng.random() < 0.2:
        lines.insert(rng.randrange(len(lines)), rng.choice(lines))
    return "\n".join(lines) + "\n"


def make_input(seed: Path, rng: random.Random, out: Path) -> None:
    """Write a mutation of ``seed`` at ``out``."""
    data = seed.read_bytes()
    if seed.suffix == ".json" and rng.random() < 0.8:
        out.write_text(mutate_json(data.decode(), rng), encoding="latin-1")
    elif seed.suffix == ".csv" and rng.random() < 0.6:
        out.write_text(mutate_csv(data.decode(), rng))
    else:
        out.write_bytes(mutate_bytes(data, rng))


# --- the worker ---------------------------------------------------------------------------------

def _try_cine(path: Path) -> str:
    from echoviewer.io import CineLoadError, load_cine
    from echoviewer.io.loader import describe_cine
    try:
        cine = load_cine(path)
        assert cine.frames.dtype == np.uint8 and cine.frames.ndim == 3 and len(cine.times_ms) == cine.n_frames
        json.dumps(describe_cine(path), allow_nan=False)
        return "read"
    except CineLoadError:
        return "refused"


def _try_model(model_dir: Path, frames: np.ndarray) -> str:
    from echoviewer.analysis.errors import ModelLoadError
    from echoviewer.analysis.onnx_model import OnnxModel
    try:  # not load_model: it keeps a loaded model by its ONNX file, and only the card changes here
        model = OnnxModel(model_dir / "student.onnx", threads=1)
        probabilities = model.probabilities(frames)
        assert np.isfinite(probabilities).all(), "non-finite masks"
        return "read"
    except ModelLoadError:
        return "refused"


def _try_labelled(root: Path) -> str:
    from distill.datasets import mask_from_tracing
    from distill.datasets.labelled import open_labelled
    from echoviewer.io import CineLoadError
    try:
        labelled = open_labelled(root)
        for _, read in labelled.entries():
            case = read()
            for label in case.labels:
                if label.tracing is not None:
                    mask_from_tracing(label.tracing, (112, 112))
        return "read"
    except (ValueError, FileNotFoundError, CineLoadError):
        return "refused"


def worker(seeds_json: str) -> None:
    """Reads requests ({"kind", "seed", "index", "rng"}) on stdin, answers one JSON line each."""
    seeds = {kind: [Path(p) for p in paths] for kind, paths in json.loads(seeds_json).items()}
    from echoviewer.analysis.models import model_path
    frames = _frames(n=2, rows=112, cols=112)
    scratch = Path(tempfile.mkdtemp(prefix="mutate-worker-"))
    model_dir = scratch / "model"
    model_dir.mkdir()
    os.symlink(model_path("student"), model_dir / "student.onnx")
    for line in sys.stdin:
        request = json.loads(line)
        seed = seeds[request["kind"]][request["seed"]]
        rng = random.Random(request["rng"])
        if request["kind"] == "model":
            target = model_dir / "student.json"
        elif request["kind"] == "labelled":
            root = scratch / "labelled"
            shutil.rmtree(root, ignore_errors=True)
            source_root = seed.parent.parent if seed.suffix == ".gz" else seed.parent
            if seed.suffix == ".npz":
                root.mkdir()
                target = root / seed.name
            else:
                shutil.copytree(source_root, root)
                target = root / seed.relative_to(source_root)
        else:
            target = scratch / f"input{seed.suffix}"
        make_input(seed, rng, target)
        print(json.dumps({"kind": "started", "file": str(target)}), flush=True)
        started = time.perf_counter()
        try:
            if request["kind"] == "cine":
                outcome = _try_cine(target)
            elif request["kind"] == "model":
                outcome = _try_model(model_dir, frames)
            else:
                outcome = _try_labelled(root if seed.suffix != ".npz" else target)
            error = ""
        except BaseException as exc:  # noqa: BLE001 - what the campaign counts
            import traceback
            where = traceback.extract_tb(exc.__traceback__)[-1]
            outcome, error = "stray", f"{type(exc).__name__}: {str(exc)[:200]} ({Path(where.filename).name}:{where.lineno})"
        print(json.dumps({"kind": "done", "outcome": outcome, "error": error,
                          "seconds": time.perf_counter() - started}), flush=True)


# --- the campaign -------------------------------------------------------------------------------

class Worker:
    """The worker process, its answers read from the raw pipe (a buffered reader would hide a
    second line that arrived with the first from ``select``)."""

    def __init__(self, seeds: dict[str, list[Path]], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps({k: [str(p) for p in v] for k, v in seeds.items()})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self._pending = b""

    def stderr_size(self) -> int:
        return self.stderr_path.stat().st_size

    def send(self, request: dict) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()

    def line(self, timeout: float) -> dict | None:
        """The next answer; None after ``timeout`` seconds, {"kind": "died"} when the worker is gone."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                return {"kind": "died"}
            self._pending += chunk
        text, self._pending = self._pending.split(b"\n", 1)
        return json.loads(text)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.stderr.close()


def _peak_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def campaign(n_inputs: int, seed: int, timeout: float, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="mutate-") as folder:
        seeds = write_seeds(Path(folder))
        stderr_path = Path(folder) / "worker-stderr.log"
        worker = Worker(seeds, stderr_path)
        counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        problems: list[str] = []
        started, slowest = time.perf_counter(), 0.0
        kinds = list(KINDS)
        for index in range(n_inputs):
            kind = rng.choices(kinds, weights=[KINDS[k] for k in kinds])[0]
            which = rng.randrange(len(seeds[kind]))
            name = seeds[kind][which].name
            request = {"kind": kind, "seed": which, "index": index, "rng": rng.getrandbits(64)}
            before = worker.stderr_size()
            worker.send(request)
            begun = worker.line(120)
            answer = worker.line(timeout) if begun and begun["kind"] == "started" else begun
            label = f"{kind}/{name}"
            if answer is None or answer["kind"] == "died":
                outcome = "hang" if answer is None else "crash"
                if begun and begun.get("file") and Path(begun["file"]).exists():
                    kept = keep / f"{index:05d}-{outcome}-{Path(begun['file']).name}"
                    if Path(begun["file"]).is_dir():
                        shutil.copytree(begun["file"], kept)
                    else:
                        shutil.copy(begun["file"], kept)
                problems.append(f"{outcome}: input {index} ({label}, rng {request['rng']})")
                worker.stop()
                worker = Worker(seeds, stderr_path)
                counts[kind][outcome] += 1
                continue
            slowest = max(slowest, answer["seconds"])
            outcome = answer["outcome"]
            if outcome == "stray":
                problems.append(f"stray traceback: input {index} ({label}, rng {request['rng']}): {answer['error']}")
            elif worker.stderr_size() > before:
                outcome = "stray"
                with open(stderr_path, "rb") as handle:
                    handle.seek(before)
                    said = handle.read(300).decode("utf-8", "replace").strip().splitlines()[0]
                problems.append(f"stray stderr: input {index} ({label}, rng {request['rng']}): {said}")
            counts[kind][outcome] += 1
            if (index + 1) % 1000 == 0:
                print(f"  {index + 1} inputs, {time.perf_counter() - started:.0f} s", flush=True)
        worker.stop()
    elapsed = time.perf_counter() - started
    print(f"\n{n_inputs} inputs in {elapsed:.0f} s ({n_inputs / elapsed:.1f}/s); slowest input {slowest:.1f} s")
    for kind in kinds:
        c = counts[kind]
        print(f"{kind:9s}: {sum(c.values()):5d} inputs: read {c['read']}, refused in one line {c['refused']}, "
              f"stray tracebacks {c['stray']}, crashes {c['crash']}, hangs {c['hang']}")
    totals = sum((counts[k] for k in kinds), collections.Counter())
    print(f"peak memory of a worker: {_peak_rss_mib():.0f} MiB (resident)")
    for problem in problems[:40]:
        print(" ", problem)
    if len(problems) > 40:
        print(f"  ... and {len(problems) - 40} more")
    bad = totals["stray"] + totals["crash"] + totals["hang"]
    print(f"crashes {totals['crash']}, hangs {totals['hang']}, stray tracebacks {totals['stray']} "
          f"(goal 0 of each): {verdict(bad == 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds an input may take")
    parser.add_argument("--keep", type=Path, default=Path("build/mutate"), help="where crashing and hanging inputs are kept")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    campaign(args.inputs, args.seed, args.timeout, args.keep)


if __name__ == "__main__":
    main()
