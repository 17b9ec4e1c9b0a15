"""What the SEG and SR writers share: the typed error, the algorithm that made a result, and the
source cine's DICOM header (read, checked, never written back).

Patient and study attributes are copied from the source header and nothing else about the
machine goes into a result: no file path, no host or user name (only a reader name the caller
passes in).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pydicom
from pydicom.dataset import Dataset

from echoviewer import __version__
from echoviewer.io.errors import one_line
from echoviewer.io.loader import sniff

SOFTWARE = "echoviewer"
# UTF-8: every text a result holds (copied from the source, decoded by pydicom, or the reader's name,
# which may not fit the source's character set) is written losslessly.
CHARACTER_SET = "ISO_IR 192"
# Type-2 patient and study attributes: present in every result, empty where the source has none.
PATIENT_STUDY_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                       "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")
# A result files into the source's study and points at its instance: these must be there.
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
_KINDS = {"numpy": "a NumPy array file", "video": "a video", None: "not a DICOM file"}
# highdicom logs element values (a patient's name it finds oddly formed, UIDs): keep them off the terminal,
# as echoviewer.io does for pydicom.
logging.getLogger("highdicom").setLevel(logging.CRITICAL)


class DicomResultsError(ValueError):
    """A SEG or SR could not be written or read; the message is one line saying what is wrong
    and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))  # parts of it may come from a file name or a damaged file


class _Model(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class Algorithm:
    """The software that made a result and the model weights it ran."""

    name: str
    version: str
    model_name: str
    model_sha256: str

    @classmethod
    def of(cls, model: _Model) -> Algorithm:
        """echoviewer (this version) running ``model``: an ``OnnxModel`` or the ``ModelInfo``
        an analysis keeps (``analysis.segmentation.model``)."""
        return cls(SOFTWARE, __version__, model.name, model.sha256)

    @property
    def parameters(self) -> dict[str, str]:
        """What a reader needs to know which weights ran: the model's name and sha256."""
        return {"model": long_string(self.model_name), "model_sha256": self.model_sha256}


@contextmanager
def quiet() -> Iterator[None]:
    """No warning reaches the terminal: pydicom's and highdicom's quote element values (a patient's
    name). Also a decorator (``@quiet()``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def long_string(text: str, limit: int = 64) -> str:
    """``text`` as a valid LO value (or SH with ``limit`` 16): one line, no backslash, cut to ``limit``."""
    return one_line(text).replace("\\", "/")[:limit]


def person_name(reader: str) -> str:
    """A free-text reader name as a PN value: all of it the family name (we cannot know how it splits)."""
    name = long_string(reader).replace("^", " ").replace("=", " ").strip()
    return f"{name}^" if name else ""


@quiet()
def read_source(path: str | os.PathLike[str]) -> Dataset:
    """The source cine's header (no pixels), with every type-2 patient and study attribute present
    (added empty where the file has none: nothing is invented). Raises DicomResultsError for a
    file that is not a DICOM image with the UIDs a result needs to file beside it."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            kind = sniff(handle.read(132), path.suffix.lower())
    except OSError as exc:
        raise DicomResultsError(f"{path.name}: cannot be read ({exc.strerror or exc}); check the path") from None
    if kind not in ("dicom", "raw-dicom"):
        raise DicomResultsError(f"DICOM SEG and SR need a DICOM source; {path.name} is {_KINDS.get(kind, kind)}")
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, force=kind == "raw-dicom")
    except Exception as exc:  # a parser meets arbitrary bytes: any failure is damage
        raise DicomResultsError(f"{path.name}: its DICOM header cannot be read ({type(exc).__name__}); "
                                "the file is damaged") from None
    missing = [keyword for keyword in REQUIRED_UIDS if not str(header.get(keyword, "") or "")]
    if missing:
        raise DicomResultsError(f"{path.name} has no {', '.join(missing)}: a SEG or SR must file into the "
                                "source's study and point at its instance; export the cine from the PACS again")
    if "Rows" not in header or "Columns" not in header:
        raise DicomResultsError(f"{path.name} is not an image (no Rows, Columns); open the cine itself")
    for keyword in PATIENT_STUDY_TYPE2:
        if keyword not in header:
            setattr(header, keyword, "")
    return header


def source_frames(header: Dataset) -> int:
    """How many frames the source holds (1 for a single-frame image)."""
    return int(header.get("NumberOfFrames") or 1)


def is_multiframe(header: Dataset) -> bool:
    """Whether frame references name a frame number (a multi-frame source)."""
    return "NumberOfFrames" in header
