"""What a PACS search asks (:class:`StudyQuery`) and what it answers (:class:`StudyRecord`,
:class:`SeriesRecord`), the same for DIMSE C-FIND and DICOMweb QIDO-RS: both answers are read as
pydicom datasets by the functions here. Records keep patient identifiers out of their repr."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import RE_VALID_UID, UID

# What a search returns at each level (study, series, instance).
STUDY_FIELDS = ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
                "PatientID", "PatientName", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                "NumberOfStudyRelatedInstances")
SERIES_FIELDS = ("SeriesInstanceUID", "Modality", "SeriesDescription", "SeriesNumber")
INSTANCE_FIELDS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "NumberOfFrames")


def _is_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and RE_VALID_UID.match(value) is not None


def check_uid(uid: str) -> str:
    """``uid`` when it is a valid DICOM UID, else ValueError."""
    if not _is_uid(uid):
        raise ValueError(f"{uid!r} is not a DICOM UID (digits and dots, at most 64 characters)")
    return uid


def uid_name(uid: str) -> str:
    """A UID's registered name (e.g. ``Ultrasound Image Storage``), else the UID itself."""
    return UID(uid).name if _is_uid(uid) else uid


def _check_date(name: str, value: object) -> None:
    if value == "":
        return
    try:
        valid = isinstance(value, str) and len(value) == 8 and value.isdigit() \
            and bool(datetime.datetime.strptime(value, "%Y%m%d"))
    except ValueError:  # a month or day out of range
        valid = False
    if not valid:
        raise ValueError(f"{name} must be a date as YYYYMMDD; got {value!r}")


@dataclass(frozen=True)
class StudyQuery:
    """A study search; empty fields match anything. ``patient_name`` may hold the wildcards ``*``
    and ``?``; dates are YYYYMMDD (either end of the range may be open); ``modality`` matches
    ModalitiesInStudy (e.g. ``US``). Raises ValueError for a malformed value."""

    patient_id: str = ""
    patient_name: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    accession: str = ""

    def __post_init__(self) -> None:
        for name in ("patient_id", "patient_name", "modality", "accession"):
            value = getattr(self, name)
            if not (isinstance(value, str) and value.isprintable() and "\\" not in value and len(value) <= 64):
                raise ValueError(f"{name} must be at most 64 printable characters without a backslash; "
                                 f"got {value!r}")
        _check_date("date_from", self.date_from)
        _check_date("date_to", self.date_to)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"the date range is empty: {self.date_from} is after {self.date_to}")

    @property
    def date_range(self) -> str:
        """StudyDate as a DICOM range (``FROM-TO``, ``FROM-``, ``-TO``), or empty."""
        return f"{self.date_from}-{self.date_to}" if self.date_from or self.date_to else ""

    def keys(self) -> dict[str, str]:
        """The matching keys that are set, by DICOM keyword."""
        keys = {"PatientID": self.patient_id, "PatientName": self.patient_name, "StudyDate": self.date_range,
                "ModalitiesInStudy": self.modality, "AccessionNumber": self.accession}
        return {keyword: value for keyword, value in keys.items() if value}


@dataclass(frozen=True)
class StudyRecord:
    """One study found. The counts are None when the PACS does not say."""

    study_uid: str
    date: str  # YYYYMMDD, or empty
    time: str
    description: str
    accession: str
    modalities: tuple[str, ...]
    n_series: int | None
    n_instances: int | None
    patient_id: str = field(repr=False)
    patient_name: str = field(repr=False)


@dataclass(frozen=True)
class SeriesRecord:
    """One series found, with its instances' SOP Instance UIDs and frame counts (in instance order)."""

    series_uid: str
    study_uid: str
    modality: str
    description: str
    number: int | None
    instance_uids: tuple[str, ...]
    frame_counts: tuple[int, ...]  # NumberOfFrames of each instance (1 for a single image, 0 for a non-image)

    @property
    def n_instances(self) -> int:
        return len(self.instance_uids)

    @property
    def n_frames(self) -> int:
        return sum(self.frame_counts)


def text(ds: Dataset, keyword: str) -> str:
    """An attribute as one string (values of a multi-valued one joined by backslashes), "" when absent."""
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return str(value).strip()
    return "\\".join(str(v).strip() for v in value)


def _number(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(str(ds.get(keyword)).strip())
    except ValueError:
        return None


def instance_frames(ds: Dataset) -> int:
    """How many frames an instance holds: its NumberOfFrames, else 1 for an image, 0 for the rest
    (structured reports, documents), told by its SOP class."""
    stated = _number(ds, "NumberOfFrames")
    if stated is not None and stated > 0:
        return stated
    return 1 if "Image" in uid_name(text(ds, "SOPClassUID")) else 0


def study_record(ds: Dataset) -> StudyRecord:
    modalities = text(ds, "ModalitiesInStudy")
    return StudyRecord(
        study_uid=text(ds, "StudyInstanceUID"), date=text(ds, "StudyDate"), time=text(ds, "StudyTime"),
        description=text(ds, "StudyDescription"), accession=text(ds, "AccessionNumber"),
        modalities=tuple(modalities.split("\\")) if modalities else (),
        n_series=_number(ds, "NumberOfStudyRelatedSeries"), n_instances=_number(ds, "NumberOfStudyRelatedInstances"),
        patient_id=text(ds, "PatientID"), patient_name=text(ds, "PatientName"))


def series_record(study_uid: str, ds: Dataset, instances: Sequence[Dataset]) -> SeriesRecord:
    """The series ``ds`` with its ``instances``, in InstanceNumber order."""
    ordered = sorted(instances, key=lambda i: (_number(i, "InstanceNumber") or 0, text(i, "SOPInstanceUID")))
    return SeriesRecord(
        series_uid=text(ds, "SeriesInstanceUID"), study_uid=study_uid, modality=text(ds, "Modality"),
        description=text(ds, "SeriesDescription"), number=_number(ds, "SeriesNumber"),
        instance_uids=tuple(text(i, "SOPInstanceUID") for i in ordered),
        frame_counts=tuple(instance_frames(i) for i in ordered))
