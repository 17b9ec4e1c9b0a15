"""Which model to run: the bundled student or teacher, or any ONNX file with its JSON card.

Loaded models are kept, keyed by file and modification, so switching between them costs nothing
after the first time; onnxruntime sessions may be run from several threads at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from echoviewer.analysis.errors import ModelLoadError
from echoviewer.analysis.onnx_model import OnnxModel
from echoviewer.resources import BUNDLED_MODELS, DEFAULT_MODEL, PARTNER

BUNDLED = BUNDLED_MODELS
__all__ = ["BUNDLED", "DEFAULT_MODEL", "PARTNER", "load_model", "model_path"]

_loaded: dict[tuple[str, int, int, int, bool], OnnxModel] = {}
_lock = threading.Lock()
_memory_arena = True  # see free_memory_between_runs


def free_memory_between_runs() -> None:
    """Models loaded from now on return their working memory after every run instead of keeping
    their peak in onnxruntime's memory arena. For the long-lived viewer: it keeps every model it
    has shown loaded and runs one cine at a time, and with the four bundled models the arenas held
    ~550 MiB (bench/soak.py, an hour of cines: 1,013 against 462 MiB) for runs 8-15 % faster.
    Batches keep the arena, for throughput."""
    global _memory_arena
    _memory_arena = False


def model_path(spec: str | os.PathLike[str]) -> Path:
    """``student``, ``teacher`` or a path to an ``.onnx`` file; raises ModelLoadError if missing."""
    path = BUNDLED.get(str(spec)) or Path(spec)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file; give {', '.join(BUNDLED)} or an .onnx file "
                             "with its .json model card beside it")
    return path


def load_model(spec: str | os.PathLike[str], threads: int = 0) -> OnnxModel:
    """The loaded model for ``spec`` (see :func:`model_path`), loading it on first use."""
    path = model_path(spec).resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, threads, _memory_arena)
    with _lock:
        model = _loaded.get(key)
        if model is None:
            model = _loaded[key] = OnnxModel(path, threads=threads, memory_arena=_memory_arena)
    return model
