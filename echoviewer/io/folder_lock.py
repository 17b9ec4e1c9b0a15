"""One writer per folder: an OS file lock that a dead process never keeps."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FolderBusy(RuntimeError):
    """Another live process holds the folder's lock; the message names the folder and its pid."""


@contextmanager
def folder_lock(folder: Path, name: str) -> Iterator[None]:
    """Hold ``folder/name`` (holding this process's pid) while the block runs, or raise
    :class:`FolderBusy`. An flock: the kernel releases it when its process dies, however it dies,
    so a killed run never keeps the folder locked."""
    import fcntl  # POSIX; batches and the pipeline run on Linux and macOS

    with open(folder / name, "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise FolderBusy(f"{folder} is in use by another process (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
