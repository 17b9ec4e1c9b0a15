"""Biplane method-of-disks volumes and EF (ASE/EACVI 2015) from an A4C and an A2C cine of one study.

The two views are recorded one after the other, so their beats are different beats: the k-th beat
of the four-chamber cine is paired with the k-th beat of the two-chamber cine, as many pairs as the
shorter cine has beats, and the summary is the mean over the pairs. Each phase's volume is
V = π/4 · Σ aᵢ·bᵢ · L/20 (:func:`~echoviewer.analysis.geometry.biplane_disk_volume`), with the 20
disk diameters of each view measured on its own mask (the user's contour where they drew one) and
L the longer of the two long axes. Volumes need both cines calibrated; a long-axis difference over
10 % between the views (a foreshortened view) or heart rates 10 bpm apart are flagged.

Each cine is reduced to its :class:`ViewDisks` (a few numbers per beat) as soon as it is analysed,
so a batch never holds two cines' pixels. Pairs are found by :func:`pair_by_study` (one A4C and
one A2C of the same StudyInstanceUID, or of one file name once the view token is taken out) or
chosen by the user.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.geometry import biplane_disk_volume, disk_diameters
from echoviewer.analysis.measurements import change_percent, pixel_spacing, summarize
from echoviewer.analysis.quality import Flag
from echoviewer.io.apical_view import without_view

LENGTH_DIFFERENCE_PERCENT = 10.0
HEART_RATE_DIFFERENCE_BPM = 10.0
MEASURES = ("edv", "esv", "ef_percent")


@dataclass(frozen=True)
class PhaseDisks:
    """One ED or ES frame of one view: its 20 disk diameters (base first) and long axis, in cm."""

    frame: int
    diameters: np.ndarray
    length: float


@dataclass(frozen=True)
class ViewDisks:
    """What the biplane method needs of one cine, small enough to keep when its pixels are gone:
    per beat, the ED and ES disks (None where a mask has no long axis) and the heart rate."""

    file: str
    view: str  # "A4C", "A2C" or "" (not named)
    study: str  # :func:`study_key`; never written out: it holds the StudyInstanceUID
    calibrated: bool
    beats: tuple[tuple[PhaseDisks | None, PhaseDisks | None], ...]
    heart_rates: tuple[float | None, ...]


def _phase(analysis: CineAnalysis, frame: int) -> PhaseDisks | None:
    axis = analysis.long_axis(frame)
    if axis is None or axis.length <= 0:
        return None
    spacing = pixel_spacing(analysis.cine.calibration)
    return PhaseDisks(frame, disk_diameters(analysis.native_mask(frame), axis, spacing), axis.length)


def view_disks(analysis: CineAnalysis, view: str | None = None) -> ViewDisks:
    """The disks of every beat of ``analysis`` (``view``: the user's word for the view, else the
    file's)."""
    return ViewDisks(str(analysis.cine.path), analysis.cine.metadata.view if view is None else view,
                     study_key(analysis.cine.identifiers.study_instance_uid, analysis.cine.path),
                     analysis.cine.calibration is not None,
                     tuple((_phase(analysis, b.ed_frame), _phase(analysis, b.es_frame)) for b in analysis.beats),
                     tuple(b.heart_rate_bpm for b in analysis.beats))


@dataclass(frozen=True)
class BiplaneBeat:
    """One pair of beats: the index of each in its cine, the biplane volumes (mL) and EF."""

    four_chamber_beat: int
    two_chamber_beat: int
    ed_frames: tuple[int | None, int | None]  # (A4C, A2C)
    es_frames: tuple[int | None, int | None]
    edv: float | None
    esv: float | None
    ef_percent: float | None
    ed_length_difference_percent: float | None
    es_length_difference_percent: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _volume(four: PhaseDisks | None, two: PhaseDisks | None) -> tuple[float | None, float | None]:
    """(volume, long-axis difference in % of the longer) of one phase."""
    if four is None or two is None:
        return None, None
    length = max(four.length, two.length)
    return (biplane_disk_volume(four.diameters, two.diameters, length),
            100.0 * abs(four.length - two.length) / length)


def _frame(phase: PhaseDisks | None) -> int | None:
    return None if phase is None else phase.frame


@dataclass(frozen=True, eq=False)
class Biplane:
    """The biplane measurements of one A4C + A2C pair of cines."""

    four_chamber: ViewDisks
    two_chamber: ViewDisks

    @cached_property
    def beats(self) -> tuple[BiplaneBeat, ...]:
        if not self.calibrated:
            return ()
        pairs = []
        for index, ((four_ed, four_es), (two_ed, two_es)) in enumerate(zip(self.four_chamber.beats,
                                                                             self.two_chamber.beats)):
            edv, ed_difference = _volume(four_ed, two_ed)
            esv, es_difference = _volume(four_es, two_es)
            ef = change_percent(edv, esv)
            pairs.append(BiplaneBeat(index, index, (_frame(four_ed), _frame(two_ed)),
                                     (_frame(four_es), _frame(two_es)), edv, esv, ef, ed_difference,
                                     es_difference))
        return tuple(pairs)

    @property
    def calibrated(self) -> bool:
        return self.four_chamber.calibrated and self.two_chamber.calibrated

    @property
    def summary(self) -> dict[str, dict[str, float | int | None]]:
        return summarize(self.beats, MEASURES)

    @cached_property
    def flags(self) -> tuple[Flag, ...]:
        flags = []
        if not self.calibrated:
            flags.append(Flag("biplane_uncalibrated", "warning",
                              "biplane volumes need both cines calibrated (cm per pixel); none computed"))
        elif not self.beats:
            flags.append(Flag("biplane_no_beat", "warning",
                              "no beat in one of the two cines: no biplane volume"))
        long = [i for i, beat in enumerate(self.beats)
                if max(beat.ed_length_difference_percent or 0.0, beat.es_length_difference_percent or 0.0)
                > LENGTH_DIFFERENCE_PERCENT]
        if long:
            flags.append(Flag("biplane_length_mismatch", "warning",
                              f"the A4C and A2C long axes differ by more than {LENGTH_DIFFERENCE_PERCENT:g} % "
                              f"in {len(long)} beat pair(s): one view may be foreshortened", beats=long))
        four_rate, two_rate = _mean(self.four_chamber.heart_rates), _mean(self.two_chamber.heart_rates)
        if four_rate is not None and two_rate is not None and abs(four_rate - two_rate) > HEART_RATE_DIFFERENCE_BPM:
            flags.append(Flag("biplane_heart_rate_mismatch", "info",
                              f"heart rate {four_rate:.0f} bpm in A4C, {two_rate:.0f} bpm in A2C: the beats "
                              "paired are not alike"))
        return tuple(flags)

    def as_dict(self) -> dict:
        """JSON-ready: which two files, the method, per pair and summary values; no identifiers."""
        return {
            "method": "biplane method of disks (A4C + A2C, 20 disks, L the longer axis)",
            "four_chamber": self.four_chamber.file,
            "two_chamber": self.two_chamber.file,
            "units": {"volume": "mL"},
            "beats": [{k: _round(v) for k, v in beat.as_dict().items()} for beat in self.beats],
            "summary": {name: {k: _round(v) for k, v in stats.items()} for name, stats in self.summary.items()},
            "flags": [flag.as_dict() for flag in self.flags],
        }


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _round(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, tuple):
        return list(value)
    return value


def study_key(study_uid: str, path: Path) -> str:
    """What an A4C cine and its A2C partner share: the StudyInstanceUID, else the file name with
    its view token taken out (in the same folder)."""
    if study_uid:
        return f"study:{study_uid}"
    return f"name:{path.resolve().parent}/{without_view(path.stem)}"


def pair_by_study(views: Iterable[ViewDisks]) -> tuple[list[Biplane], list[str]]:
    """Biplane pairs among ``views``: each study with exactly one A4C and one A2C cine; and one
    line for each study whose views cannot be paired without the user (two A4C cines, say)."""
    groups: dict[str, dict[str, list[ViewDisks]]] = defaultdict(lambda: defaultdict(list))
    for disks in views:
        if disks.view:
            groups[disks.study][disks.view].append(disks)
    pairs, notes = [], []
    for found in groups.values():
        four, two = found.get("A4C", []), found.get("A2C", [])
        if len(four) == 1 and len(two) == 1:
            pairs.append(Biplane(four[0], two[0]))
        elif four and two:
            names = ", ".join(Path(d.file).name for d in four + two)
            notes.append(f"{len(four)} A4C and {len(two)} A2C cines of one study ({names}): "
                         "pair them by hand (--pair A4C A2C)")
    return pairs, notes
