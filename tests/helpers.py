"""Small cines written to disk in every layout the loader must read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pydicom
import pytest

from echoviewer.io.dicom_writer import write_ultrasound_cine

# Reference-count tests catch a Qt binding that drops references to None and True; from Python
# 3.12 those are immortal (PEP 683), their counts never move, and such a test could not fail.
immortal_singletons = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="None and True are immortal from Python 3.12 (PEP 683)")


def moving_frames(n_frames: int = 8, rows: int = 64, cols: int = 80, colour: bool = False,
                  seed: int = 0) -> np.ndarray:
    """A bright disc that moves over a textured background: real content, compressible."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:rows, :cols]
    background = (60 + 40 * np.sin(xs / 7.0) * np.cos(ys / 5.0)).astype(np.float32)
    frames = np.empty((n_frames, rows, cols), np.uint8)
    for t in range(n_frames):
        disc = ((xs - 20 - 4 * t) ** 2 + (ys - rows / 2) ** 2) < 100
        frames[t] = np.clip(background + 150 * disc + rng.normal(0, 3, (rows, cols)), 0, 255)
    if not colour:
        return frames
    rgb = np.repeat(frames[..., None], 3, axis=-1)
    rgb[:, -6:, :, 1] = 220  # a green trace strip, as scanners draw the ECG
    rgb[:, -6:, :, 0] = rgb[:, -6:, :, 2] = 0
    return rgb


def write_dicom(path: Path, frames: np.ndarray, **kwargs) -> Path:
    kwargs.setdefault("fps", 50.0)
    return write_ultrasound_cine(path, frames, **kwargs)


def recompress(source: Path, target: Path, syntax: pydicom.uid.UID, **changes) -> Path:
    """Re-encode an uncompressed file with pydicom's encoders, applying attribute changes."""
    ds = pydicom.dcmread(source)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.compress(syntax, generate_instance_uid=False)
    ds.save_as(target, enforce_file_format=True)
    return target


# --- tiny distillation fixtures (shared by the tests/test_distill_*.py modules) -----------------

TINY_CINES, TINY_FRAMES, TINY_SIZE = 10, 32, 32  # 10 names hash into TRAIN (7), VAL (1) and TEST (2)
_TINY: dict[str, Path] = {}


@contextmanager
def one_torch_thread():
    """torch on one thread: on a busy machine two threads fight for the cores and crawl."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tiny_dataset(tmp_path_factory) -> Path:
    """One synthetic EchoNet folder for the whole test session (build it once, never change it)."""
    if "data" not in _TINY:
        from distill.cli import main

        out = tmp_path_factory.mktemp("tiny") / "data"
        assert main(["generate", "--out", str(out), "--n", str(TINY_CINES), "--seed", "0", "--frames",
                     str(TINY_FRAMES), "--size", str(TINY_SIZE), "--progress", "none"]) == 0
        _TINY["data"] = out
    return _TINY["data"]


def tiny_run(tmp_path_factory, model: str) -> Path:
    """A 2-epoch run of ``model`` on the tiny dataset's truth, once per session and model."""
    if model not in _TINY:
        from distill.train import TrainConfig, train

        data = tiny_dataset(tmp_path_factory)
        out = tmp_path_factory.mktemp("run") / model.replace(":", "_")
        with one_torch_thread():
            train(TrainConfig(str(data), "truth", str(out), model=model, epochs=2, batch=2, clip=8))
        _TINY[model] = out
    return _TINY[model]


@pytest.fixture(autouse=True, scope="module")
def torch_on_one_thread():
    """Import into a test module to run all of its torch code on one thread."""
    with one_torch_thread():
        yield


ROOT = Path(__file__).resolve().parents[1]
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # torch in a child: one thread too


def distill_child(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m distill ARGV`` in a child process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "distill", *argv], cwd=ROOT, env=SUBPROCESS_ENV,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(text: str) -> str:
    """The only line of ``text``, which must be a CLI error message."""
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    return lines[0]


def ctrl_c_child(argv: list[str], ready: Callable[[], bool], *, group: bool = False,
                 timeout: float = 120) -> tuple[int, str]:
    """Start ``python -m distill ARGV``, wait until ``ready()`` (or its end), press Ctrl-C (SIGINT to the
    child, or to its whole process group, workers included, with ``group``); its exit code and stderr."""
    # A shell runs background jobs with SIGINT ignored, and children inherit that: give the child
    # the default disposition a terminal's foreground command has, or Ctrl-C would not reach it.
    child = subprocess.Popen([sys.executable, "-m", "distill", *argv], cwd=ROOT, env=SUBPROCESS_ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + timeout
        while not ready() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if group:
            os.killpg(child.pid, signal.SIGINT)
        else:
            child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        return child.returncode, err
    finally:
        if child.poll() is None:
            child.kill()


def lock_held_by_a_killed_process(lock: Path) -> None:
    """Have another process take the flock on ``lock``, then kill -9 it (the kernel drops the lock;
    its pid stays written in the file)."""
    killed = subprocess.Popen([sys.executable, "-c", f"import fcntl, time; h = open({str(lock)!r}, 'a');"
                               " fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    with killed, killed.stdout as out:  # closed afterwards, pipe included
        assert out is not None and out.readline().strip() == "held"
        killed.kill()
