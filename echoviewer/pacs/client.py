"""``Client``: the one interface to a PACS, whichever protocol it speaks (``dimse.DimseClient``,
``dicomweb.DicomwebClient``). Retrieval is shared: list the instances, fetch each into a
:class:`~echoviewer.pacs.cache.PartialRetrieve`, move the finished series into the cache."""

from __future__ import annotations

import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pydicom
from pydicom.dataset import Dataset

from echoviewer.pacs.cache import PartialRetrieve, RetrievedSeries, cache_dir
from echoviewer.pacs.errors import PacsError, nothing_found
from echoviewer.pacs.nodes import Node
from echoviewer.pacs.query import SeriesRecord, StudyQuery, StudyRecord, check_uid, text

Progress = Callable[[int, int], None]  # (done, total)
Cancelled = Callable[[], bool] | threading.Event


def _ignore(done: int, total: int) -> None:
    """No progress report."""


def cancel_check(cancelled: Cancelled | None) -> Callable[[], bool]:
    """A callable that says whether to stop, from a callable, an Event or None (never)."""
    if cancelled is None:
        return lambda: False
    return cancelled.is_set if isinstance(cancelled, threading.Event) else cancelled


@dataclass(frozen=True)
class OutgoingFile:
    """A file to store, checked before anything is sent."""

    path: Path
    sop_class: str
    transfer_syntax: str


def outgoing_file(path: Path) -> OutgoingFile:
    """The header of a DICOM file to send; ValueError when it is not a DICOM file with a SOP class,
    SOP instance and transfer syntax."""
    try:
        with warnings.catch_warnings():  # pydicom's warnings quote element values
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or 'cannot be read'}") from None
    except Exception:  # pydicom's word for bytes that are not DICOM
        raise ValueError(f"{path}: not a DICOM file (no DICM preamble and file meta)") from None
    found = OutgoingFile(path, text(ds, "SOPClassUID"), text(getattr(ds, "file_meta", Dataset()), "TransferSyntaxUID"))
    if not (found.sop_class and found.transfer_syntax and text(ds, "SOPInstanceUID")):
        raise ValueError(f"{path}: a DICOM file to send needs a SOP Class UID, a SOP Instance UID and a "
                         "transfer syntax in its file meta")
    return found


class Client(ABC):
    """A PACS, reached by ``node``. Every method raises :class:`PacsError` when the PACS fails and
    ValueError for a bad argument; ``close()`` (or leaving a ``with`` block) frees the connection."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Free what the client holds."""

    @abstractmethod
    def echo(self) -> None:
        """Check that the PACS answers (C-ECHO; for DICOMweb, a one-study search)."""

    @abstractmethod
    def find_studies(self, query: StudyQuery) -> list[StudyRecord]:
        """The studies matching ``query``; none is not an error."""

    def find_series(self, study_uid: str) -> list[SeriesRecord]:
        """The series of a study with their instances' frame counts, in SeriesNumber order."""
        return self._series(check_uid(study_uid), None)

    def _series(self, study_uid: str, series_uid: str | None) -> list[SeriesRecord]:
        return sorted(self._find_series(study_uid, series_uid),
                      key=lambda s: (s.number is None, s.number or 0, s.series_uid))

    @abstractmethod
    def _find_series(self, study_uid: str, series_uid: str | None) -> list[SeriesRecord]:
        """The series of the study (only ``series_uid`` when given), each with its instances."""

    def retrieve(self, study_uid: str, series_uid: str | None = None, cache_root: Path | None = None, *,
                 progress: Progress | None = None, cancelled: Cancelled | None = None) -> list[RetrievedSeries]:
        """Fetch a study, or one of its series, into the cache (default :func:`cache_dir`); the
        series appear there only once every instance has arrived (see :mod:`echoviewer.pacs.cache`).

        ``progress(done, total)`` is called after each instance (for DIMSE, on the network thread);
        ``cancelled`` (a callable or an Event) is checked after each: when set the retrieve stops
        and raises ``PacsError(kind="cancelled")``, keeping nothing. Unknown UIDs raise
        ``PacsError(kind="not_found")``."""
        check_uid(study_uid)
        series = [s for s in self._series(study_uid, None if series_uid is None else check_uid(series_uid))
                  if s.instance_uids]
        if not series:
            raise nothing_found(self.node.name, study_uid, series_uid)
        with PartialRetrieve(cache_root if cache_root is not None else cache_dir(), series,
                             progress or _ignore, cancel_check(cancelled)) as partial:
            partial.check_cancelled()
            self._transfer(partial)
            return partial.finish()

    @abstractmethod
    def _transfer(self, partial: PartialRetrieve) -> None:
        """Fetch every instance of ``partial.series`` into ``partial``."""

    def store(self, paths: Sequence[Path], *, progress: Progress | None = None,
              cancelled: Cancelled | None = None) -> int:
        """Send DICOM files as they are (each with its own SOP class and transfer syntax); returns
        how many were stored. Every file is checked first (ValueError if one is not DICOM).
        ``progress(done, total)`` after each file; when ``cancelled`` is set, raises
        ``PacsError(kind="cancelled")`` saying how many were already sent."""
        files = [outgoing_file(Path(p)) for p in paths]
        self._store(files, sending(files, progress or _ignore, cancel_check(cancelled)))
        return len(files)

    @abstractmethod
    def _store(self, files: Sequence[OutgoingFile], each: Iterator[OutgoingFile]) -> None:
        """Send each file that ``each`` yields (it reports progress and raises on cancel); ``files``
        lists them all beforehand."""


def sending(files: Sequence[OutgoingFile], progress: Progress, stop: Callable[[], bool]) -> Iterator[OutgoingFile]:
    """``files`` one by one: a cancel is checked before each, progress reported after each."""
    for done, file in enumerate(files):
        if stop():
            raise PacsError("cancelled", f"store cancelled after sending {done} of {len(files)} files")
        yield file
        progress(done + 1, len(files))


def refused_status(host: str, port: int, operation: str, status: int, description: str) -> PacsError:
    detail = f" ({description})" if description else ""
    return PacsError("refused", f"{host}:{port} failed the {operation}: status 0x{status:04X}{detail}")
