"""Files that appear whole or not at all, and JSON read back without trusting it."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_JSON_ERRORS = (OSError, ValueError, RecursionError)  # ValueError: not UTF-8 or not JSON


@contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a hidden temporary sibling of ``path`` to write; it replaces ``path`` only on success.

    The temporary (``.<name>.<pid>-<random>.partial<suffix>``; a suffix for writers that choose
    the format from it) is removed on any exception, KeyboardInterrupt included, so readers never
    see a half-written file. Its name is unique per call, so threads (and processes) writing the
    same file at once never share one; the last to finish wins, whole. It is created by the
    writer, so it gets the usual permissions.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is one of :func:`atomic_output`'s temporaries."""
    return path.name.startswith(".") and ".partial" in path.name


def remove_temporaries(folder: Path, recursive: bool = False) -> None:
    """Delete the temporaries a killed writer left in ``folder`` (and below, if ``recursive``):
    nothing else removes them, and no reader takes them for results."""
    if folder.is_dir():
        for stale in folder.rglob(".*") if recursive else folder.iterdir():
            if is_temporary(stale) and stale.is_file():
                stale.unlink(missing_ok=True)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether writing ``a`` would overwrite ``b``: one resolved path, or (hard links) one inode."""
    a, b = Path(a), Path(b)
    try:
        return a.resolve() == b.resolve() or a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def write_json(path: str | os.PathLike[str], content: object, *, allow_nan: bool = False) -> None:
    """``content`` as indented JSON, atomically, creating the folder; NaN refused unless allowed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(content, indent=1, allow_nan=allow_nan) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    """The parsed file, or None when it is missing, unreadable, not UTF-8 or not JSON."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except _JSON_ERRORS:
        return None
