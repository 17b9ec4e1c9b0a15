"""The measurements of a cine as a DICOM SR measurement report (TID 1500), made with highdicom.sr.

A Comprehensive SR (the content has no 3D coordinates), observed by the echoviewer device (and
the reader, when named), procedure Echocardiography (SCT 40701008). One measurement group
(TID 1501) per beat, tracked as "beat N", one for the mean (and SD) over the beats, and, with a
:class:`~echoviewer.analysis.biplane.Biplane`, one per biplane beat pair and one for their mean.
Every measurement names the algorithm (name, version, the model and its sha256), its method for
volumes and EF, the source frames it was measured on (1-based ED / ES frame numbers of the cine)
and, for one-phase measures, the cardiac cycle point and the apical view the file names.

An uncalibrated cine has no cm: its areas, lengths and volumes (in pixels) are left out, and only
the ratios (FAC, EF from the pixel volumes, square pixels assumed) and the heart rate are written.
Values are written rounded to 4 decimals, as :meth:`CineAnalysis.as_dict` rounds them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from echoviewer.analysis.biplane import Biplane
from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.measurements import UNIT_KIND
from echoviewer.dicom_results.source import (CHARACTER_SET, SOFTWARE, Algorithm, DicomResultsError,
                                             is_multiframe, long_string, person_name, quiet, read_source,
                                             source_frames)
from echoviewer.io.atomic import atomic_output

DIGITS = 4
ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
BEATS_PER_MINUTE = hd.sr.CodedConcept("{H.B.}/min", "UCUM", "heart beats per minute")
PERCENT = codes.UCUM.Percent
_UNITS = {"area": codes.UCUM.SquareCentimeter, "length": codes.UCUM.Centimeter, "volume": ML}
_PHASES = {"ed": codes.SCT.EndDiastole, "es": codes.SCT.EndSystole}
_VIEWS = {"A4C": codes.SCT.ApicalFourChamber, "A2C": codes.SCT.ApicalTwoChamber}
# Single-plane method of disks, by the view the file names (the generic US codes when it names none).
_DISKS = {"A4C": (codes.LN.LeftVentricularEndDiastolicVolumeSinglePlane4CMOD,
                  codes.LN.LeftVentricularEndSystolicVolumeSinglePlane4CMOD,
                  codes.LN.LeftVentricularEjectionFractionSinglePlane4CMOD),
          "A2C": (codes.LN.LeftVentricularEndDiastolicVolumeSinglePlane2CMOD,
                  codes.LN.LeftVentricularEndSystolicVolumeSinglePlane2CMOD,
                  codes.LN.LeftVentricularEjectionFractionSinglePlane2CMOD)}
_GENERIC = (codes.LN.LeftVentricularEndDiastolicVolume, codes.LN.LeftVentricularEndSystolicVolume,
            codes.LN.LeftVentricularEjectionFractionByUS)


@dataclass(frozen=True)
class Measure:
    """How one measure of :class:`~echoviewer.analysis.measurements.Beat` is coded."""

    field: str  # the Beat attribute (and the key of CineAnalysis.summary)
    name: Code
    unit: Code | hd.sr.CodedConcept
    frames: tuple[str, ...]  # what it is measured on: "ed", "es", "next_ed" (the beat's end)
    method: Code | None = None
    one_view: bool = True  # measured in the one view the file names (biplane ones are in two)


def measures(view: str) -> tuple[Measure, ...]:
    """Every per-beat measure with its codes, the volumes named for ``view`` ("A4C", "A2C", "")."""
    edv, esv, ef = _DISKS.get(view, _GENERIC)
    edv_al, esv_al, ef_al = _GENERIC
    disks, area_length = codes.DCM.MethodOfDisksSinglePlane, codes.DCM.AreaLengthSinglePlane
    return (
        Measure("ed_area", codes.SCT.LeftVentricularDiastolicArea, _UNITS["area"], ("ed",)),
        Measure("es_area", codes.SCT.LeftVentricularSystolicArea, _UNITS["area"], ("es",)),
        Measure("fac_percent", codes.SCT.LeftVentricularFractionalAreaChange, PERCENT, ("ed", "es")),
        Measure("ed_length", codes.LN.LeftVentricleDiastolicMajorAxis, _UNITS["length"], ("ed",)),
        Measure("es_length", codes.LN.LeftVentricleSystolicMajorAxis, _UNITS["length"], ("es",)),
        Measure("edv_disks", edv, ML, ("ed",), disks),
        Measure("esv_disks", esv, ML, ("es",), disks),
        Measure("ef_disks_percent", ef, PERCENT, ("ed", "es"), disks),
        Measure("edv_area_length", edv_al, ML, ("ed",), area_length),
        Measure("esv_area_length", esv_al, ML, ("es",), area_length),
        Measure("ef_area_length_percent", ef_al, PERCENT, ("ed", "es"), area_length),
        Measure("heart_rate_bpm", codes.LN.HeartRate, BEATS_PER_MINUTE, ("ed", "next_ed")))


BIPLANE = (Measure("edv", codes.LN.LeftVentricularEndDiastolicVolumeBiplaneMOD, ML, ("ed",),
                   codes.DCM.MethodOfDisksBiplane, one_view=False),
           Measure("esv", codes.LN.LeftVentricularEndSystolicVolumeBiplaneMOD, ML, ("es",),
                   codes.DCM.MethodOfDisksBiplane, one_view=False),
           Measure("ef_percent", codes.LN.LeftVentricularEjectionFractionBiplaneMOD, PERCENT, ("ed", "es"),
                   codes.DCM.MethodOfDisksBiplane, one_view=False))


@dataclass(frozen=True)
class _Report:
    """What every measurement of one SR shares."""

    header: Dataset
    algorithm: hd.sr.AlgorithmIdentification
    view: str
    calibrated: bool

    def frames(self, numbers: Sequence[int | None]) -> list[hd.sr.SourceImageForMeasurement]:
        """The source frames (0-based in, 1-based in the reference) a measurement was made on."""
        present = sorted({n + 1 for n in numbers if n is not None})
        if not present:
            return []
        return [hd.sr.SourceImageForMeasurement(self.header.SOPClassUID, self.header.SOPInstanceUID,
                                                present if is_multiframe(self.header) else None)]

    def measurement(self, measure: Measure, value: float | int | None, frames: Sequence[int | None],
                    derivation: Code | None = None) -> hd.sr.Measurement | None:
        """One NUM (TID 300), or None where there is no value or it needs the cm this cine lacks."""
        if value is None or (measure.field in UNIT_KIND and not self.calibrated):
            return None
        item = hd.sr.Measurement(name=measure.name, value=round(float(value), DIGITS), unit=measure.unit,
                                 method=measure.method, derivation=derivation, algorithm_id=self.algorithm,
                                 referenced_images=self.frames(frames) or None)
        context = [(codes.SCT.CardiovascularCyclePoint, _PHASES[measure.frames[0]])] if len(measure.frames) == 1 else []
        if measure.one_view and self.view in _VIEWS:
            context.append((codes.DCM.ImageView, _VIEWS[self.view]))
        for name, code in context:  # TID 5203's acquisition context of an echo measurement
            item[0].ContentSequence.append(hd.sr.CodeContentItem(
                name=name, value=code, relationship_type=hd.sr.RelationshipTypeValues.HAS_ACQ_CONTEXT))
        return item

    def group(self, label: str, measurements: Sequence[hd.sr.Measurement | None],
              whole_cine: bool = False) -> hd.sr.MeasurementsAndQualitativeEvaluations | None:
        """One measurement group (TID 1501) of the LV, tracked by ``label``; None when empty."""
        present = [m for m in measurements if m is not None]
        if not present:
            return None
        source = [hd.sr.SourceImageForMeasurementGroup(self.header.SOPClassUID, self.header.SOPInstanceUID)]
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label),
            finding_type=codes.SCT.LeftVentricle, finding_sites=[hd.sr.FindingSite(codes.SCT.LeftVentricle)],
            measurements=present, source_images=source if whole_cine else None)


def _beat_groups(report: _Report, analysis: CineAnalysis) -> list[hd.sr.MeasurementsAndQualitativeEvaluations | None]:
    ed_sorted = sorted(analysis.ed_frames)
    groups = []
    for index, beat in enumerate(analysis.beats, 1):
        later = [f for f in ed_sorted if f > beat.ed_frame]
        frames = {"ed": beat.ed_frame, "es": beat.es_frame, "next_ed": later[0] if later else None}
        groups.append(report.group(f"beat {index}", [
            report.measurement(m, getattr(beat, m.field), [frames[f] for f in m.frames])
            for m in measures(report.view)]))
    return groups


def _summary_group(report: _Report, label: str, summary: dict[str, dict[str, float | int | None]],
                   coded: Sequence[Measure]) -> hd.sr.MeasurementsAndQualitativeEvaluations | None:
    items = []
    for measure in coded:
        stats = summary[measure.field]
        items += [report.measurement(measure, stats["mean"], [], codes.SCT.Mean),
                  report.measurement(measure, stats["sd"], [], codes.SCT.StandardDeviation)]
    return report.group(label, items, whole_cine=True)


def _biplane_groups(report: _Report, analysis: CineAnalysis,
                    biplane: Biplane) -> list[hd.sr.MeasurementsAndQualitativeEvaluations | None]:
    """The biplane pairs; the frames referenced are this cine's (the other cine's UIDs are not known here)."""
    here = Path(analysis.cine.path).resolve()
    sides = [Path(view.file).resolve() for view in (biplane.four_chamber, biplane.two_chamber)]
    if here not in sides:
        raise DicomResultsError(f"the biplane pair given does not include {analysis.cine.path.name}; "
                                "give the pair this cine belongs to")
    side = sides.index(here)
    groups = [report.group(f"biplane beat pair {index}", [
        report.measurement(m, getattr(pair, m.field),
                           [(pair.ed_frames if f == "ed" else pair.es_frames)[side] for f in m.frames])
        for m in BIPLANE]) for index, pair in enumerate(biplane.beats, 1)]
    if biplane.beats:
        groups.append(_summary_group(report, f"biplane mean of {len(biplane.beats)} beat pair(s)",
                                     biplane.summary, BIPLANE))
    return groups


def check_source(header: Dataset, analysis: CineAnalysis, name: str) -> None:
    """Raise DicomResultsError unless ``header`` is the cine ``analysis`` was made from."""
    uid = analysis.cine.identifiers.sop_instance_uid
    if (uid and uid != header.SOPInstanceUID) or source_frames(header) != analysis.cine.n_frames:
        raise DicomResultsError(f"{name} is not the cine this analysis was made from; write the results "
                                "with the cine that was analysed")


def _observers(algorithm: Algorithm, reader: str) -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=[algorithm.name, algorithm.version]),  # one UID per software version
        name=long_string(algorithm.name), manufacturer_name=SOFTWARE, model_name=long_string(algorithm.model_name))
    person = None
    if person_name(reader):
        person = hd.sr.ObserverContext(codes.DCM.Person, hd.sr.PersonObserverIdentifyingAttributes(
            name=person_name(reader)))
    return hd.sr.ObservationContext(observer_person_context=person,
                                    observer_device_context=hd.sr.ObserverContext(codes.DCM.Device, device))


@quiet()
def write_sr(source: str | os.PathLike[str], analysis: CineAnalysis, out: str | os.PathLike[str], *,
             algorithm: Algorithm, biplane: Biplane | None = None, series_number: int = 902,
             reader: str = "") -> Path:
    """Write the measurements of ``analysis`` of the DICOM cine ``source`` as a TID 1500 SR at
    ``out``; returns ``out``. ``biplane``: a pair this cine belongs to; ``reader`` (optional): the
    person observer's name. Raises DicomResultsError for a source that is not that cine's DICOM
    or an analysis with no beat."""
    source, out = Path(source), Path(out)
    header = read_source(source)
    check_source(header, analysis, source.name)
    if not analysis.beats:
        raise DicomResultsError(f"{source.name}: no beat (an ED followed by an ES) to report; pick ED and ES first")
    report = _Report(header, hd.sr.AlgorithmIdentification(
        long_string(algorithm.name), long_string(algorithm.version),
        parameters=[f"{key}={value}" for key, value in algorithm.parameters.items()]),
        analysis.cine.metadata.view, analysis.cine.calibration is not None)
    groups = _beat_groups(report, analysis)
    groups.append(_summary_group(report, f"mean of {len(analysis.beats)} beat(s)", analysis.summary,
                                 measures(report.view)))
    if biplane is not None:
        groups += _biplane_groups(report, analysis, biplane)
    content = hd.sr.MeasurementReport(observation_context=_observers(algorithm, reader),
                                      procedure_reported=codes.SCT.Echocardiography,
                                      imaging_measurements=[g for g in groups if g is not None])
    sr = hd.sr.ComprehensiveSR(
        evidence=[header], content=content[0], series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=SOFTWARE,
        series_description=long_string(f"LV measurements, {algorithm.model_name}"),
        specific_character_set=CHARACTER_SET)
    with atomic_output(out) as temporary:
        sr.save_as(temporary, enforce_file_format=True)
    return out

