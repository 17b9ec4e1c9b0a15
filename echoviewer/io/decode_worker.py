"""The decoding worker process behind :mod:`echoviewer.io.isolated`.

Says {"kind": "ready"} once started; then reads one JSON request per line on stdin ({"path",
"force", "n_frames", "skip": frames not to decode, "memory_limit"}) and answers one JSON line
({"kind": "array", "dtype", "shape", "nbytes", "damaged": frame indices} then the raw bytes, or
{"kind": "error", "type", "message"}) on the stdout it
was started with. Anything a native library prints goes to /dev/null, so it cannot corrupt the
answers. Each decode runs under an address-space limit: a damaged JPEG 2000 stream can make
openjpeg allocate without end.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from echoviewer.io.dicom import stack_frames_of_file
from echoviewer.io.errors import CineLoadError, short_reason


def _send(out: BinaryIO, header: dict[str, Any], payload: memoryview | None = None) -> None:
    out.write(json.dumps(header).encode() + b"\n")
    if payload is not None:
        out.write(payload)


def _decode(request: dict[str, Any]) -> tuple[np.ndarray, tuple[int, ...]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(request["memory_limit"])
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        stack, damaged = stack_frames_of_file(Path(request["path"]), request["force"], request["n_frames"],
                                              request.get("skip", ()))
        return np.ascontiguousarray(stack), damaged
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def answer(out: BinaryIO, request: dict[str, Any]) -> None:
    path = Path(request["path"])
    try:
        array, damaged = _decode(request)
    except MemoryError:
        _send(out, {"kind": "error", "type": "CorruptDataError",
                    "message": f"{path.name}: decoding needed far more memory than the image "
                               "can hold; the file is damaged"})
    except CineLoadError as exc:
        _send(out, {"kind": "error", "type": type(exc).__name__, "message": str(exc)})
    except Exception as exc:  # any decoder failure on untrusted bytes is reported, not raised
        _send(out, {"kind": "error", "type": "CorruptDataError",
                    "message": f"{path.name}: image data cannot be decoded ({short_reason(exc)}); "
                               "the file may be truncated or damaged"})
    else:
        _send(out, {"kind": "array", "dtype": array.dtype.str, "shape": list(array.shape),
                    "nbytes": array.nbytes, "damaged": list(damaged)}, memoryview(array.data).cast("B"))


def serve() -> None:
    warnings.simplefilter("ignore")
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    _send(out, {"kind": "ready"})
    for line in sys.stdin.buffer:
        answer(out, json.loads(line))


if __name__ == "__main__":
    serve()
