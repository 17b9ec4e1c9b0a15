"""The local cache of retrieved series, which the viewer's study list reads.

Where: :func:`cache_dir`: ``data_dir()/pacs-cache`` when ``$ECHOVIEWER_DATA_DIR`` is set (tests,
portable installs), else the platform's user cache folder (``platformdirs.user_cache_dir``) plus
``pacs``. A retrieve may also be given its own folder.

Layout: ``ROOT/<study key>/<series key>/<instance key>.dcm``, each key the first 16 hex digits of
the SHA-256 of the Study, Series or SOP Instance UID, so no name holds a patient's name or ID. A
retrieve writes into a hidden ``ROOT/.partial/<pid>-<random>/`` folder (every file atomically) and
moves its series into place only when every instance it expected has arrived; on any failure,
cancel or Ctrl-C it removes that folder, so a cut retrieve never shows as a finished series. The
folders of retrieves whose process has died are removed by the next retrieve. A series retrieved
again replaces the cached one.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import platformdirs
import pydicom

from echoviewer.io.atomic import atomic_output
from echoviewer.pacs.errors import PacsError
from echoviewer.pacs.query import SeriesRecord, instance_frames, text
from echoviewer.user_data import data_dir

PARTIAL = ".partial"
_KEY = re.compile(r"[0-9a-f]{16}")
_ACTIVE: set[Path] = set()  # this process's retrieves in progress
_ACTIVE_LOCK = threading.Lock()


def cache_dir() -> Path:
    """The default cache folder (not created here); see the module's docstring."""
    if os.environ.get("ECHOVIEWER_DATA_DIR"):
        return data_dir() / "pacs-cache"
    return Path(platformdirs.user_cache_dir("echoviewer", appauthor=False)) / "pacs"


def uid_key(uid: str) -> str:
    """The name a UID's folder or file gets: 16 hex digits of its SHA-256."""
    return hashlib.sha256(uid.encode("ascii")).hexdigest()[:16]


@dataclass(frozen=True)
class RetrievedSeries:
    """A finished series in the cache: its folder, its files (sorted by name), its UIDs, the
    description in its first file's header and the frames of all its files."""

    folder: Path
    files: list[Path]
    study_uid: str
    series_uid: str
    description: str
    n_frames: int


def read_series(folder: Path) -> RetrievedSeries | None:
    """The series in a cache folder, or None when it is not one (unreadable, or misplaced: its
    folders are not its UIDs' keys)."""
    files = sorted(p for p in folder.glob("*.dcm") if not p.name.startswith("."))
    headers = []
    try:
        with warnings.catch_warnings():  # pydicom's warnings quote element values
            warnings.simplefilter("ignore")
            for path in files:
                headers.append(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=[
                    "StudyInstanceUID", "SeriesInstanceUID", "SeriesDescription", "SOPClassUID", "NumberOfFrames"]))
    except Exception:  # a damaged file: the series is not shown, a new retrieve replaces it
        return None
    if not headers:
        return None
    study_uid, series_uid = text(headers[0], "StudyInstanceUID"), text(headers[0], "SeriesInstanceUID")
    if (folder.parent.name, folder.name) != (uid_key(study_uid), uid_key(series_uid)):
        return None
    return RetrievedSeries(folder=folder, files=files, study_uid=study_uid, series_uid=series_uid,
                           description=text(headers[0], "SeriesDescription"),
                           n_frames=sum(instance_frames(h) for h in headers))


def finished_series(cache_root: Path | None = None) -> list[RetrievedSeries]:
    """Every finished series in the cache (default :func:`cache_dir`), by study and series UID;
    a retrieve in progress or cut short is never among them."""
    root = cache_root if cache_root is not None else cache_dir()
    found = []
    for folder in root.glob("*/*"):
        if folder.is_dir() and _KEY.fullmatch(folder.name) and _KEY.fullmatch(folder.parent.name):
            series = read_series(folder)
            if series is not None:
                found.append(series)
    return sorted(found, key=lambda s: (s.study_uid, s.series_uid))


def _stale(folder: Path) -> bool:
    """A partial folder no retrieve is writing: this process's but not active, or a dead process's."""
    pid_text = folder.name.partition("-")[0]
    if not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        with _ACTIVE_LOCK:
            return folder not in _ACTIVE
    if os.name != "posix":  # signal 0 would not probe a process there
        return False
    try:
        os.kill(pid, 0)  # PermissionError: alive, another user's
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


class PartialRetrieve:
    """The hidden folder one retrieve writes into (a context manager): :meth:`write` each expected
    instance (from any thread), then :meth:`finish` to move the series into place. Leaving the
    ``with`` block unfinished removes everything written.

    ``write`` calls ``progress(done, total)`` after each instance and then raises
    ``PacsError(kind="cancelled")`` if ``cancelled()``; after such a failure every later write is
    refused (the exception is kept in :attr:`failure`, for the thread that waits on the network).
    """

    def __init__(self, cache_root: Path, series: Sequence[SeriesRecord],
                 progress: Callable[[int, int], None], cancelled: Callable[[], bool]) -> None:
        self.root = cache_root
        self.series = list(series)
        self._series_of = {uid: s for s in self.series for uid in s.instance_uids}
        self.total = len(self._series_of)
        self._written: set[str] = set()
        self._progress, self._cancelled = progress, cancelled
        self._lock = threading.Lock()
        self._open = False
        self.failure: BaseException | None = None
        self.folder = cache_root / PARTIAL / f"{os.getpid()}-{secrets.token_hex(4)}"

    def __enter__(self) -> PartialRetrieve:
        partials = self.root / PARTIAL
        partials.mkdir(parents=True, exist_ok=True)
        for folder in partials.iterdir():
            if _stale(folder):
                shutil.rmtree(folder, ignore_errors=True)
        with _ACTIVE_LOCK:
            _ACTIVE.add(self.folder)
        self.folder.mkdir()
        self._open = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        with self._lock:
            self._open = False
            shutil.rmtree(self.folder, ignore_errors=True)
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self.folder)

    def check_cancelled(self) -> None:
        """Raise (and keep) the cancel when it was asked for."""
        if self.failure is None and self._cancelled():
            self.failure = PacsError("cancelled", f"retrieve cancelled after {len(self._written)} of "
                                                  f"{self.total} instances; nothing was kept")
        if self.failure is not None:
            raise self.failure

    def write(self, sop_uid: str, save: Callable[[Path], object]) -> bool:
        """Store one instance: ``save(path)`` writes its file. False (nothing written) when the
        instance was not expected."""
        with self._lock:
            if not self._open:
                raise PacsError("cancelled", "the retrieve was stopped")
            self.check_cancelled()
            series = self._series_of.get(sop_uid)
            if series is None:
                return False
            path = self.folder / uid_key(series.series_uid) / f"{uid_key(sop_uid)}.dcm"
            try:
                path.parent.mkdir(exist_ok=True)
                with atomic_output(path) as temporary:
                    save(temporary)
                self._written.add(sop_uid)
                self._progress(len(self._written), self.total)
            except BaseException as exc:
                self.failure = exc
                raise
            self.check_cancelled()
            return True

    def finish(self) -> list[RetrievedSeries]:
        """Move every series into place; PacsError (``incomplete``) when an instance is missing."""
        missing = self.total - len(self._written)
        if missing:
            raise PacsError("incomplete", f"{missing} of {self.total} instances did not arrive; nothing was kept; "
                                          "try again, or ask the PACS's administrator if it persists")
        finished = []
        for series in self.series:
            source = self.folder / uid_key(series.series_uid)
            target = self.root / uid_key(series.study_uid) / uid_key(series.series_uid)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # retrieved before: the old copy goes with the partial folder
                target.rename(self.folder / f"old-{target.name}")
            source.rename(target)
            record = read_series(target)
            if record is None:
                raise PacsError("incomplete", f"the files of series {series.series_uid} cannot be read back; "
                                              "check the cache folder's disk")
            finished.append(record)
        return finished
