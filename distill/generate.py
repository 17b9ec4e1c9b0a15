"""``python -m distill generate``: a seeded synthetic dataset, resumable and interrupt-safe.

Case ``i`` is simulated from the seed ``[seed, i]``, so a case's bytes do not depend on the
number of workers, on the order cases finish in, or on whether the run was resumed. A manifest
(``synth.json``) records the settings; ``--resume`` refuses a folder made with other settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from distill.echogen import WEIGHTS
from distill.errors import UsageError
from distill.progress import Progress
from distill.synth.params import CaseParams, hazy_cavity, two_chamber
from distill.synth.simulator import SyntheticCine, simulate
from distill.synth.writers import FORMATS, case_name, is_complete, write_case, write_tables
from echoviewer.io.atomic import is_temporary, remove_temporaries, write_json

if TYPE_CHECKING:
    from distill.echogen.generator import GeneratedCine

MANIFEST = "synth.json"
# Native frame sizes of common scanners' exports (SonoSite, GE, Philips): each DICOM case draws one.
DICOM_SIZES = ((480, 640), (434, 636), (600, 800))


def parse_frames(text: str) -> int | tuple[int, int]:
    """``"64"`` → 64; ``"32-256"`` → (32, 256)."""
    try:
        low, _, high = text.partition("-")
        value = (int(low), int(high)) if high else int(low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"frames must be a count or a range like 32-256, not {text!r}") from None
    bounds = value if isinstance(value, tuple) else (value, value)
    if not 2 <= bounds[0] <= bounds[1] <= 2000:
        raise argparse.ArgumentTypeError(f"frames must lie in 2-2000, low before high, not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (new or empty, or --resume)")
    parser.add_argument("--n", type=int, required=True, help="number of cines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="echonet",
                        help="echonet: Videos/*.avi at --size, FileList.csv, VolumeTracings.csv; "
                             "dicom: ultrasound multi-frame DICOM at 480x640, 434x636 or 600x800 (default: echonet)")
    parser.add_argument("--size", type=int, default=112, help="EchoNet frame size in pixels (default 112)")
    parser.add_argument("--frames", type=parse_frames, default=(32, 256),
                        help="frames per cine: a count or a range (default 32-256)")
    parser.add_argument("--generator", type=Path, default=None,
                        help="a folder from 'distill train-generator': draw cines from it instead of the simulator")
    parser.add_argument("--generator-share", type=float, default=1.0,
                        help="with --generator, the share of cines it draws; the simulator draws the rest (default 1)")
    parser.add_argument("--a2c-share", type=float, default=0.0,
                        help="the share of simulated cines drawn as apical two-chamber views (default 0: all "
                             "four-chamber)")
    parser.add_argument("--hazy-share", type=float, default=0.0,
                        help="the share of simulated cines with a bright, hazy blood pool, as many real scanners "
                             "show it (default 0)")
    parser.add_argument("--compression", choices=("jpeg", "none"), default="jpeg", help="DICOM pixel data")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                        help="progress as a bar on stderr, JSON lines on stdout, or nothing")


def settings_from(args: argparse.Namespace) -> dict[str, object]:
    sizes = [[args.size, args.size]] if args.format == "echonet" else [list(size) for size in DICOM_SIZES]
    frames = list(args.frames) if isinstance(args.frames, tuple) else args.frames
    settings: dict[str, object] = {"n": args.n, "seed": args.seed, "format": args.format, "sizes": sizes,
                                   "frames": frames, "compression": args.compression, "simulator": 1}
    for option in ("a2c_share", "hazy_share"):
        share = getattr(args, option, 0.0)
        if not 0.0 <= share <= 1.0:
            raise UsageError(f"--{option.replace('_', '-')} must lie in 0-1")
        if share:  # absent at 0, so folders made before the option resume as they were
            settings[option] = share
    generator = getattr(args, "generator", None)  # probe's generate estimates simulated cines only
    if generator is not None:
        settings["generator"] = {"folder": str(generator.resolve()), "weights_sha256": generator_sha256(generator),
                                 "share": args.generator_share}
    return settings


def generator_sha256(folder: Path) -> str:
    """The generator's weights' digest, so --resume refuses a folder begun with another generator."""
    path = folder / WEIGHTS
    if not path.is_file():
        raise UsageError(f"--generator {folder}: no {WEIGHTS}; make the folder with 'python -m distill train-generator'")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _never_written(out: Path) -> bool:
    """A folder a kill left before its manifest: the empty Masks/Videos folders and temporaries
    only, so a start (resumed or not) may begin it again."""
    if (out / MANIFEST).is_file():
        return False
    for path in out.rglob("*"):
        if path.is_dir() and path.relative_to(out).parts[0] in ("Masks", "Videos"):
            continue
        if not is_temporary(path):
            return False
    return True


def prepare_folder(out: Path, settings: dict[str, object], resume: bool) -> None:
    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file: choose a folder for --out")
    if out.is_dir() and any(out.iterdir()) and not _never_written(out):
        if not resume:
            raise UsageError(f"{out} is not empty: choose a new or empty folder, or add --resume to finish it")
        if not manifest.is_file():
            raise UsageError(f"{out} holds no {MANIFEST}: it was not made by 'distill generate'; choose another folder")
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{manifest} is unreadable ({exc}); choose a new folder") from None
        if previous != settings:
            changed = sorted(k for k in set(settings) | set(previous) if previous.get(k) != settings.get(k))
            raise UsageError(f"{out} was made with other settings ({', '.join(changed)}); "
                             "repeat the original command with --resume, or choose a new folder")
    remove_temporaries(out, recursive=True)  # left by a killed worker
    (out / "Masks").mkdir(parents=True, exist_ok=True)
    if settings["format"] == "echonet":
        (out / "Videos").mkdir(exist_ok=True)
    write_json(manifest, settings)


def make_case(out: Path, index: int, settings: dict[str, Any]) -> str:
    """Simulate and write case ``index``; returns its name."""
    frames, sizes, seed = settings["frames"], settings["sizes"], int(settings["seed"])
    height, width = sizes[int(np.random.default_rng([seed, index, 1]).integers(len(sizes)))]
    n_frames = tuple(frames) if isinstance(frames, list) else int(frames)
    cine: SyntheticCine | GeneratedCine
    if drawn_by_generator(settings, index):
        cine = generated_case([seed, index], str(settings["generator"]["folder"]), n_frames)
    else:
        cine = simulate([seed, index], height=int(height), width=int(width), n_frames=n_frames,
                        adjust=_variety(settings, index))
    name = case_name(index)
    write_case(out, name, cine, str(settings["format"]), compression=str(settings["compression"]))
    return name


def _variety(settings: dict[str, Any], index: int) -> Callable[[CaseParams], CaseParams] | None:
    """What case ``index`` changes in the simulator's draw: a two-chamber view, a hazy blood pool
    (each from its own random stream, so four-chamber, dark-pool cases stay as they were)."""
    changes = []
    for option, change, stream in (("a2c_share", two_chamber, 3), ("hazy_share", hazy_cavity, 4)):
        rng = np.random.default_rng([int(settings["seed"]), index, stream])
        if rng.random() < float(settings.get(option, 0.0)):
            changes.append(partial(change, rng=rng))
    if not changes:
        return None
    return lambda params: reduce(lambda p, change: change(p), changes, params)


def drawn_by_generator(settings: dict[str, Any], index: int) -> bool:
    """Whether case ``index`` comes from the settings' learned generator (else from the simulator)."""
    learned = settings.get("generator")
    if not learned:
        return False
    return bool(np.random.default_rng([int(settings["seed"]), index, 2]).random() < float(learned["share"]))


def generated_case(seed: list[int], folder: str, n_frames: int | tuple[int, int]) -> GeneratedCine:
    """A cine of the learned generator (torch is imported here only, not for simulated sets)."""
    from distill.echogen.generator import generate_cine, load_generator

    rng = np.random.default_rng(seed)
    count = n_frames if isinstance(n_frames, int) else int(rng.integers(n_frames[0], n_frames[1] + 1))
    fps = float(rng.choice([30.0, 40.0, 50.0, 60.0], p=[0.3, 0.2, 0.4, 0.1]))
    return generate_cine(load_generator(folder), rng, n_frames=count, fps=fps)


def _init_worker() -> None:
    # Workers finish the case in hand on Ctrl-C; the parent stops handing out new ones.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    if "torch" in sys.modules:  # a learned generator's network: one thread per worker as well
        sys.modules["torch"].set_num_threads(1)


def _run_pool(out: Path, pending: list[int], settings: dict[str, object], workers: int,
              progress: Progress) -> None:
    # Fresh interpreters: a forked child of a process that already ran OpenCV's thread pool can
    # deadlock in cv2.setNumThreads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        queue = iter(pending)
        running: set[Future[str]] = set()
        try:
            while True:
                while len(running) < 2 * workers and (index := next(queue, None)) is not None:
                    running.add(pool.submit(make_case, out, index, settings))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                    progress.advance()
        except KeyboardInterrupt:
            for future in running:
                future.cancel()
            wait(running)  # in-flight cases complete, so no file is left half-written
            raise


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError("--n must be at least 1")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if not 32 <= args.size <= 1024:
        raise UsageError("--size must lie in 32-1024 pixels")
    settings = settings_from(args)
    out: Path = args.out
    prepare_folder(out, settings, args.resume)
    fmt = str(settings["format"])
    names = [case_name(i) for i in range(args.n)]
    pending = [i for i, name in enumerate(names) if not is_complete(out, name, fmt)]
    progress = Progress("generate", total=args.n, done=args.n - len(pending), mode=args.progress, unit="cine")
    try:
        if args.workers == 1 or len(pending) <= 1:
            for index in pending:
                make_case(out, index, settings)
                progress.advance()
        else:
            _run_pool(out, pending, settings, args.workers, progress)
    except KeyboardInterrupt:
        progress.close()
        done = sum(is_complete(out, name, fmt) for name in names)
        print(f"interrupted: {done} of {args.n} cines are complete; run the same command with --resume to finish",
              file=sys.stderr)
        return 130
    progress.close()
    write_tables(out, names, fmt)
    return 0
