"""The in-memory cine every loader returns, and the small records that describe it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from echoviewer.io.pixels import ColourFrames
from echoviewer.io.sector import ImagingRegion, estimate_sector_mask

_LISTED_FRAMES = 20  # damaged frames named in a summary line; the rest are counted


@dataclass(frozen=True)
class FrameTiming:
    """Acquisition time of every frame, in ms from the first frame, and where it came from.

    ``source`` is one of ``FrameTimeVector``, ``FrameTime``, ``CineRate``,
    ``RecommendedDisplayFrameRate``, ``EffectiveDuration``, ``container`` (video fps),
    ``file`` (times stored beside a NumPy array) or ``assumed``; ``assumed`` is True only for
    the last, when nothing in the file gave a rate and a default was used.
    """

    times_ms: np.ndarray
    interval_ms: float
    source: str
    assumed: bool = False
    note: str = ""

    @classmethod
    def uniform(cls, n_frames: int, interval_ms: float, source: str, *,
                assumed: bool = False, note: str = "") -> FrameTiming:
        return cls(np.arange(n_frames, dtype=np.float64) * interval_ms, float(interval_ms),
                   source, assumed, note)

    @classmethod
    def from_times(cls, times_ms: np.ndarray, source: str, note: str = "") -> FrameTiming:
        """Irregular timing; the nominal interval is the median step."""
        times = np.asarray(times_ms, dtype=np.float64) - float(times_ms[0])
        return cls(times, float(np.median(np.diff(times))), source, False, note)

    @property
    def fps(self) -> float:
        """Nominal frame rate (frames per second)."""
        return 1000.0 / self.interval_ms

    @property
    def duration_s(self) -> float:
        """Time covered by the clip: the last frame's start plus one frame interval."""
        return (float(self.times_ms[-1]) + self.interval_ms) / 1000.0


@dataclass(frozen=True)
class Calibration:
    """Physical pixel size. Area of one pixel is ``cm_per_px_x * cm_per_px_y`` cm²."""

    cm_per_px_x: float
    cm_per_px_y: float
    source: str


@dataclass(frozen=True)
class CineMetadata:
    """Descriptive, non-identifying facts about the source file."""

    format: str  # "dicom", "video" or "numpy"
    manufacturer: str = ""
    model: str = ""
    modality: str = ""
    sop_class_uid: str = ""
    sop_class_name: str = ""
    transfer_syntax_uid: str = ""
    transfer_syntax_name: str = ""
    photometric: str = ""
    decoder: str = ""
    bits_stored: int = 8
    region_formats: tuple[int, ...] = ()  # RegionSpatialFormat of each DICOM ultrasound region
    view: str = ""  # "A4C" or "A2C" where the file names its apical view (apical_view.py), else ""
    view_source: str = ""  # where it says so: "DICOM header" or "file name"
    header_notes: tuple[str, ...] = ()  # what the header got wrong and how it was read anyway
    burned_in_annotation: bool = False  # the header says identifying text is burned into the pixels
    damaged_frames: tuple[int, ...] = ()  # frames whose compressed data is damaged
    damage: str = ""  # what is wrong with them and how they are shown, e.g. "JPEG data corrupt"


@dataclass(frozen=True, repr=False)
class PatientIdentifiers:
    """Patient and study identifiers, kept apart from everything else.

    Its ``repr`` never shows the values, so a stray log line or traceback cannot leak them;
    read the attributes explicitly where the user asked to see them.
    """

    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    accession_number: str = ""
    study_date: str = ""
    institution: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_instance_uid: str = ""

    def __repr__(self) -> str:
        present = [f.name for f in fields(self) if getattr(self, f.name)]
        return f"PatientIdentifiers(<{len(present)} hidden fields>)"

    __str__ = __repr__


@dataclass(eq=False, repr=False)
class Cine:
    """One echo cine in memory.

    ``frames`` is uint8 grayscale ``(T, H, W)``; ``colour`` holds the RGB frames when the source
    has real colour (Doppler, coloured annotations), else ``None``.
    ``calibration`` is ``None`` when the file gives no usable physical pixel size, and
    ``calibration_note`` says why (or how the calibration was chosen).
    """

    path: Path
    frames: np.ndarray
    colour: ColourFrames | None
    timing: FrameTiming
    calibration: Calibration | None
    calibration_note: str
    region: ImagingRegion
    metadata: CineMetadata
    identifiers: PatientIdentifiers = field(default_factory=PatientIdentifiers)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def rgb(self) -> np.ndarray | None:
        """uint8 (T, H, W, 3) colour frames (decoded on first access), or None for grey cines."""
        return self.colour.array() if self.colour is not None else None

    @property
    def times_ms(self) -> np.ndarray:
        return self.timing.times_ms

    @cached_property
    def sector_mask(self) -> np.ndarray:
        """Boolean ``(H, W)`` mask of the imaging sector, estimated from the pixels."""
        return estimate_sector_mask(self.frames, self.region)

    def display_frame(self, index: int) -> np.ndarray:
        """The frame as the scanner showed it: RGB when colour, else grayscale."""
        return self.colour.frame(index) if self.colour is not None else self.frames[index]

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary without patient identifiers (what ``echoviewer info`` prints)."""
        return description(path=self.path, n_frames=self.n_frames, height=self.height, width=self.width,
                           colour=self.colour is not None, timing=self.timing, calibration=self.calibration,
                           calibration_note=self.calibration_note, region=self.region, metadata=self.metadata)

    def damage_summary(self) -> str:
        """"3 of 120 frames damaged (JPEG data corrupt): frames 4, 9, 17", or "" when none is."""
        return damage_summary(self.describe())

    def __repr__(self) -> str:
        return (f"Cine({self.path.name!r}, {self.n_frames}x{self.height}x{self.width}, "
                f"{self.timing.fps:.1f} fps [{self.timing.source}], "
                f"{'calibrated' if self.calibration else 'uncalibrated'})")


def description(*, path: Path, n_frames: int, height: int, width: int, colour: bool, timing: FrameTiming,
                calibration: Calibration | None, calibration_note: str, region: ImagingRegion,
                metadata: CineMetadata) -> dict[str, Any]:
    """:meth:`Cine.describe`'s summary from its parts, for loaders that describe a file without
    decoding all of it."""
    return {
        "file": str(path),
        "format": metadata.format,
        "frames": n_frames,
        "width": width,
        "height": height,
        "colour": colour,
        "fps": round(timing.fps, 4),
        "fps_source": timing.source,
        "fps_assumed": timing.assumed,
        "timing_note": timing.note,
        "duration_s": round(timing.duration_s, 4),
        "calibration": asdict(calibration) if calibration else None,
        "calibration_note": calibration_note,
        "region": asdict(region),
        "transfer_syntax": metadata.transfer_syntax_name or None,
        "transfer_syntax_uid": metadata.transfer_syntax_uid or None,
        "sop_class": metadata.sop_class_name or None,
        "manufacturer": metadata.manufacturer or None,
        "photometric": metadata.photometric or None,
        "decoder": metadata.decoder,
        "view": metadata.view or None,
        "view_source": metadata.view_source or None,
        "header_notes": list(metadata.header_notes),
        "burned_in_annotation": metadata.burned_in_annotation,
        "frames_damaged": list(metadata.damaged_frames),
        "damage": metadata.damage or None,
    }


def damage_summary(described: dict[str, Any]) -> str:
    """The damaged frames of a :func:`description` in words, or "" when none is."""
    damaged = described["frames_damaged"]
    if not damaged:
        return ""
    listed = ", ".join(str(frame) for frame in damaged[:_LISTED_FRAMES])
    more = f" and {len(damaged) - _LISTED_FRAMES} more" if len(damaged) > _LISTED_FRAMES else ""
    return (f"{len(damaged)} of {described['frames']} frames damaged ({described['damage']}): "
            f"frame{'s' if len(damaged) > 1 else ''} {listed}{more}")
