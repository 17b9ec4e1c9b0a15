"""Decode DICOM pixel data with native codecs in a separate worker process, so a crash or a hang
on a damaged file costs that file its load, never the application.

Fuzzing (tests/test_fuzz.py) made gdcm abort the process on damaged JPEG, JPEG-LS and JPEG 2000
frames and made openjpeg loop forever, with headers that pass every check a loader can afford.
The worker (:mod:`echoviewer.io.decode_worker`) is a plain child interpreter, not
multiprocessing, which would re-import the caller's ``__main__``; it starts on first use and
serves later files too; a crash or a timeout kills it and the next request starts a new one.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from echoviewer.io import errors
from echoviewer.io.errors import CineLoadError, CorruptDataError

_START_TIMEOUT_S = 60.0  # a cold interpreter importing pydicom and its plugins on a busy machine
_PIPE_BYTES = 1 << 20
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "echoviewer.io.decode_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0, env=env)
        assert self._process.stdin is not None and self._process.stdout is not None  # both PIPE
        self._stdin, self._stdout = self._process.stdin, self._process.stdout
        self._pending = bytearray()
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: fewer, larger reads for big payloads
            try:
                fcntl.fcntl(self._stdout, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            except OSError:
                pass  # above the system's pipe-max-size: the default pipe still works
        # The worker says it is ready once its imports are done, so a slow start never eats
        # into the time a decode gets.
        try:
            if self._read_header(time.monotonic() + _START_TIMEOUT_S).get("kind") != "ready":
                raise EOFError
        except BaseException:
            self.kill()
            raise

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def kill(self) -> None:
        self._process.kill()
        self._process.wait()

    def _wait(self, deadline: float) -> None:
        """Return once the worker wrote something; TimeoutError past ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._stdout], [], [], remaining)[0]:
            raise TimeoutError

    def _read_header(self, deadline: float) -> dict[str, Any]:
        """The next JSON line; what came after it stays pending. EOFError if the worker died."""
        while b"\n" not in self._pending:
            self._wait(deadline)
            chunk = self._stdout.read(65536)
            if not chunk:
                raise EOFError
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)

    def _read_payload(self, size: int, deadline: float) -> bytearray:
        """``size`` bytes read straight into one buffer (frames can be hundreds of MB)."""
        payload = bytearray(size)
        view = memoryview(payload)
        filled = min(size, len(self._pending))
        view[:filled] = self._pending[:filled]
        del self._pending[:filled]
        while filled < size:
            self._wait(deadline)
            count = self._stdout.readinto(view[filled:])  # type: ignore[attr-defined]  # a raw pipe (bufsize=0)
            if not count:
                raise EOFError
            filled += count
        return payload

    def request(self, message: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], bytearray]:
        self._stdin.write(json.dumps(message).encode() + b"\n")
        deadline = time.monotonic() + timeout_s
        header = self._read_header(deadline)
        return header, self._read_payload(int(header.get("nbytes", 0)), deadline)


_worker: _Worker | None = None
_lock = threading.Lock()


def decode_pixels_isolated(path: Path, force: bool, n_frames: int, skip: Sequence[int] = (), *,
                           timeout_s: float, memory_limit: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The frames of a compressed DICOM as :func:`echoviewer.io.dicom.stack_frames_of_file`
    decodes them (all but ``skip``) and the damaged ones, computed in the worker with at most
    ``timeout_s`` seconds and ``memory_limit`` bytes of address space."""
    global _worker
    with _lock:
        try:
            if _worker is None or not _worker.alive:
                _worker = _Worker()
            header, payload = _worker.request(
                {"path": str(path), "force": force, "n_frames": n_frames, "skip": list(skip),
                 "memory_limit": memory_limit}, timeout_s)
        except (EOFError, TimeoutError, BrokenPipeError, ValueError) as exc:
            if _worker is not None:
                _worker.kill()
            _worker = None
            if isinstance(exc, TimeoutError):
                raise CorruptDataError(f"{path.name}: decoding took over {timeout_s:.0f} s and "
                                       "was stopped; the file is damaged") from None
            raise CorruptDataError(f"{path.name}: the image decoder crashed on this file; "
                                   "the file is damaged") from None
    if header["kind"] == "array":
        return (np.frombuffer(payload, np.dtype(header["dtype"])).reshape(header["shape"]),
                tuple(int(index) for index in header.get("damaged", ())))
    error_type = getattr(errors, str(header.get("type")), None)
    if not (isinstance(error_type, type) and issubclass(error_type, CineLoadError)):
        error_type = CorruptDataError
    raise error_type(header["message"])
