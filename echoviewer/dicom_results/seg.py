"""The LV masks of a cine as a DICOM Segmentation (binary, one segment), and such a SEG read back.

highdicom 0.28 refuses to build a SEG of a multi-frame source that has no Frame of Reference UID
("Only a single frame is supported when the source image has no Frame of Reference UID",
highdicom issue #284), and ultrasound cines have none. So the Segmentation IOD is assembled here
with pydicom on highdicom's standalone pieces (``SOPClass`` for the common modules and the
patient and study copy, ``SegmentDescription``, ``AlgorithmIdentificationSequence``, ``UID``):
each SEG frame derives from one source frame (Derivation Image → Source Image, Referenced Frame
Number, spatial locations preserved), and the dimensions are the segment and the source frame's
temporal position. highdicom's reader reads it, which :func:`read_seg` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits
from pydicom.sr.codedict import codes
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, SegmentationStorage

from echoviewer import __version__
from echoviewer.dicom_results.source import (CHARACTER_SET, SOFTWARE, Algorithm, DicomResultsError,
                                             is_multiframe, long_string, person_name, quiet, read_source,
                                             source_frames)
from echoviewer.io import Cine
from echoviewer.io.atomic import atomic_output

LV_LABEL = "Left ventricle cavity"
# pydicom's concept dictionary has no code for the LV cavity itself: the segment's label says cavity.
LV_TYPE = codes.SCT.LeftVentricle  # SCT 87878005
EDITED = "contour edited by the reader"  # FrameComments of a frame whose mask is the reader's contour
_SEGMENT_NUMBER = 1


@dataclass(frozen=True)
class ReferenceSegmentation:
    """The LV masks a SEG holds for one source cine."""

    source_sop_instance_uid: str
    masks: dict[int, np.ndarray]  # 0-based source frame → bool (H, W)
    label: str
    algorithm: str | None  # the algorithm's name; None for a manual segmentation
    manual: bool  # any mask drawn or edited by a person (segment algorithm type not AUTOMATIC)
    manual_frames: frozenset[int] = frozenset()  # the frames echoviewer marked as the reader's contours


def _checked_masks(masks: Mapping[int, np.ndarray], header: Dataset, name: str) -> dict[int, np.ndarray]:
    shape, n_frames = (int(header.Rows), int(header.Columns)), source_frames(header)
    if not masks:
        raise DicomResultsError(f"no LV mask to write for {name}; analyse the cine first")
    checked = {}
    for frame, mask in sorted(masks.items()):
        mask = np.asarray(mask)
        if not 0 <= frame < n_frames:
            raise DicomResultsError(f"mask of frame {frame}: {name} has frames 0-{n_frames - 1}")
        if mask.shape != shape:
            raise DicomResultsError(f"mask of frame {frame} is {mask.shape[0]}x{mask.shape[1]}, {name} is "
                                    f"{shape[0]}x{shape[1]}: masks must be on the cine's own pixel grid")
        checked[int(frame)] = mask.astype(bool)
    return checked


def _segment(algorithm: Algorithm | None, edited: bool) -> hd.seg.SegmentDescription:
    if algorithm is None:
        return hd.seg.SegmentDescription(_SEGMENT_NUMBER, LV_LABEL, codes.SCT.AnatomicalStructure, LV_TYPE,
                                         hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    kind = hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC if edited else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    identification = hd.AlgorithmIdentificationSequence(
        name=long_string(algorithm.name), family=codes.cid7162.ArtificialIntelligence,
        version=long_string(algorithm.version), parameters=algorithm.parameters)
    return hd.seg.SegmentDescription(_SEGMENT_NUMBER, LV_LABEL, codes.SCT.AnatomicalStructure, LV_TYPE, kind,
                                     algorithm_identification=identification)


def _dimension_index(organisation: str, pointer: str, group: str, label: str) -> Dataset:
    item = Dataset()
    item.DimensionOrganizationUID = organisation
    item.DimensionIndexPointer = Tag(pointer)
    item.FunctionalGroupPointer = Tag(group)
    item.DimensionDescriptionLabel = label
    return item


def _frame_group(header: Dataset, frame: int, edited: bool) -> Dataset:
    """One SEG frame's functional groups: which source frame it derives from, segment, position."""
    source = Dataset()
    source.ReferencedSOPClassUID = header.SOPClassUID
    source.ReferencedSOPInstanceUID = header.SOPInstanceUID
    if is_multiframe(header):
        source.ReferencedFrameNumber = frame + 1
    source.PurposeOfReferenceCodeSequence = [hd.sr.CodedConcept.from_code(
        codes.DCM.SourceImageForImageProcessingOperation)]
    source.SpatialLocationsPreserved = "YES"  # the masks are on the cine's own pixel grid
    derivation = Dataset()
    derivation.SourceImageSequence = [source]
    derivation.DerivationCodeSequence = [hd.sr.CodedConcept.from_code(codes.DCM.SegmentationImageDerivation)]
    segment = Dataset()
    segment.ReferencedSegmentNumber = _SEGMENT_NUMBER
    content = Dataset()
    content.DimensionIndexValues = [_SEGMENT_NUMBER, frame + 1]
    content.TemporalPositionIndex = frame + 1
    if edited:
        content.FrameComments = EDITED
    group = Dataset()
    group.DerivationImageSequence = [derivation]
    group.SegmentIdentificationSequence = [segment]
    group.FrameContentSequence = [content]
    return group


def _description(algorithm: Algorithm | None, edited: int) -> str:
    """The series and content description: the edits first, so that a long model name is what is cut."""
    made = "drawn by the reader" if algorithm is None else algorithm.model_name
    return long_string("LV cavity" + (f", {edited} frame(s) edited by the reader" if edited else "") + f"; {made}")


@quiet()
def write_seg(source: str | os.PathLike[str], masks: Mapping[int, np.ndarray], out: str | os.PathLike[str], *,
              algorithm: Algorithm | None, manual_frames: frozenset[int] = frozenset(),
              series_number: int = 901, reader: str = "") -> Path:
    """Write the LV ``masks`` (0-based source frame → bool (Rows, Columns)) of the DICOM cine
    ``source`` as a binary SEG at ``out``; returns ``out``.

    ``algorithm`` made the masks (None: a person drew them all); ``manual_frames`` are the frames
    whose mask is the reader's contour, which makes the segment SEMIAUTOMATIC and is said in the
    series and content descriptions and in each such frame's FrameComments. ``reader`` (optional)
    is the content creator's name.
    """
    source, out = Path(source), Path(out)
    header = read_source(source)
    checked = _checked_masks(masks, header, source.name)
    edited = frozenset(manual_frames).intersection(checked)
    description = _description(algorithm, len(edited))
    seg = hd.SOPClass(
        study_instance_uid=header.StudyInstanceUID, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), sop_class_uid=SegmentationStorage, instance_number=1, modality="SEG",
        manufacturer=SOFTWARE, transfer_syntax_uid=ExplicitVRLittleEndian, patient_id=header.PatientID,
        patient_name=header.PatientName, patient_birth_date=header.PatientBirthDate,
        patient_sex=header.PatientSex, accession_number=header.AccessionNumber, study_id=header.StudyID,
        study_date=header.StudyDate, study_time=header.StudyTime,
        referring_physician_name=header.ReferringPhysicianName, series_description=description,
        manufacturer_model_name=SOFTWARE, software_versions=__version__,
        # software has no serial number: the version names the build (Enhanced General Equipment needs one)
        device_serial_number=__version__, specific_character_set=CHARACTER_SET)
    seg.copy_patient_and_study_information(header)

    seg.ImageType = ["DERIVED", "PRIMARY"]
    seg.ContentLabel = "LV_CAVITY"
    seg.ContentDescription = description
    seg.ContentCreatorName = person_name(reader)
    seg.SamplesPerPixel = 1
    seg.PhotometricInterpretation = "MONOCHROME2"
    seg.PixelRepresentation = 0
    seg.BitsAllocated = seg.BitsStored = 1
    seg.HighBit = 0
    seg.Rows, seg.Columns = int(header.Rows), int(header.Columns)
    for keyword in ("LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod"):
        if keyword in header:  # a mask of a lossy image is derived from lossy pixels
            seg[keyword] = header[keyword]
    seg.SegmentationType = "BINARY"
    seg.SegmentSequence = [_segment(algorithm, bool(edited))]

    reference = Dataset()
    reference.ReferencedSOPClassUID = header.SOPClassUID
    reference.ReferencedSOPInstanceUID = header.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = header.SeriesInstanceUID
    series.ReferencedInstanceSequence = [reference]
    seg.ReferencedSeriesSequence = [series]

    organisation = hd.UID()
    index = Dataset()
    index.DimensionOrganizationUID = organisation
    seg.DimensionOrganizationSequence = [index]
    seg.DimensionIndexSequence = [
        _dimension_index(organisation, "ReferencedSegmentNumber", "SegmentIdentificationSequence",
                         "Referenced Segment Number"),
        _dimension_index(organisation, "TemporalPositionIndex", "FrameContentSequence",
                         "Source frame (temporal position)")]
    seg.SharedFunctionalGroupsSequence = [Dataset()]
    seg.PerFrameFunctionalGroupsSequence = [_frame_group(header, frame, frame in edited) for frame in checked]
    seg.NumberOfFrames = len(checked)
    seg.PixelData = pack_bits(np.stack(list(checked.values())).astype(np.uint8))

    with atomic_output(out) as temporary:
        seg.save_as(temporary, enforce_file_format=True)
    return out


def _read(path: Path) -> hd.seg.Segmentation:
    try:
        dataset = pydicom.dcmread(path)
    except Exception as exc:  # a parser meets arbitrary bytes: any failure is damage
        raise DicomResultsError(f"{path.name} is not a DICOM file that can be read ({type(exc).__name__}); "
                                "choose a DICOM SEG") from None
    if dataset.get("SOPClassUID") != SegmentationStorage:
        raise DicomResultsError(f"{path.name} is not a DICOM Segmentation (SEG); choose the SEG of this cine")
    return hd.seg.Segmentation.from_dataset(dataset, copy=False)  # what hd.seg.segread does, on the one read


def _lv_segment(seg: hd.seg.Segmentation, name: str) -> hd.seg.SegmentDescription:
    for segment in seg.SegmentSequence:
        if segment.segmented_property_type == LV_TYPE:
            return segment
    raise DicomResultsError(f"{name} has no left-ventricle segment (SCT {LV_TYPE.value} Left ventricle); "
                            "choose a SEG of the LV")


def _source_frames(seg: hd.seg.Segmentation, uid: str, segment: int) -> tuple[list[int], frozenset[int]]:
    """The 1-based source frames the frames of ``segment`` derive from (empty for a single-frame
    source), and the 0-based frames marked as the reader's contours."""
    frames, edited = [], set()
    shared = seg.SharedFunctionalGroupsSequence[0].get("SegmentIdentificationSequence")
    for group in seg.PerFrameFunctionalGroupsSequence:
        identification = group.get("SegmentIdentificationSequence") or shared  # none in a LABELMAP SEG
        if identification and int(identification[0].ReferencedSegmentNumber) != segment:
            continue
        for derivation in group.get("DerivationImageSequence", []):
            for item in derivation.get("SourceImageSequence", []):
                if item.get("ReferencedSOPInstanceUID") == uid and "ReferencedFrameNumber" in item:
                    number = int(item.ReferencedFrameNumber)
                    frames.append(number)
                    if any(content.get("FrameComments") == EDITED for content in group.get("FrameContentSequence", [])):
                        edited.add(number - 1)
    return sorted(set(frames)), frozenset(edited)


def _reference(seg: hd.seg.Segmentation, name: str, expected: str | None) -> ReferenceSegmentation:
    segment = _lv_segment(seg, name)
    referenced = [str(uid) for _, _, uid in seg.get_source_image_uids()]
    if expected is not None and expected not in referenced:
        raise DicomResultsError(f"{name} was made from another cine, not this one; open it with the cine it segments")
    if expected is None and len(set(referenced)) != 1:
        raise DicomResultsError(f"{name} segments {len(set(referenced))} images; echoviewer reads the SEG of one "
                                "cine: open it with that cine")
    uid = expected or referenced[0]
    number = [segment.segment_number]
    frames, edited = _source_frames(seg, uid, segment.segment_number)
    if frames:
        pixels = seg.get_pixels_by_source_frame(uid, source_frame_numbers=frames, segment_numbers=number)
    else:  # a single-frame source: its frame references name no frame number
        pixels = seg.get_pixels_by_source_instance([uid], segment_numbers=number)
        frames = [1]
    algorithm = segment.algorithm_identification
    return ReferenceSegmentation(
        source_sop_instance_uid=uid,
        masks={frame - 1: pixels[i, ..., 0].astype(bool) for i, frame in enumerate(frames)},
        label=segment.segment_label,
        algorithm=None if algorithm is None else str(algorithm[0].AlgorithmName),
        manual=segment.algorithm_type != hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        manual_frames=edited)


@quiet()
def read_seg(path: str | os.PathLike[str], *, source_sop_instance_uid: str | None = None) -> ReferenceSegmentation:
    """The LV masks of a SEG, read with highdicom. With ``source_sop_instance_uid`` (the open
    cine's), a SEG made from another cine is refused; without it the SEG must segment one cine.
    Raises DicomResultsError for a file that is not a SEG, a SEG with no LV segment, or one of
    another cine."""
    path = Path(path)
    try:
        return _reference(_read(path), path.name, source_sop_instance_uid)
    except DicomResultsError:
        raise
    except Exception as exc:  # highdicom meets an untrusted file: any failure is a damaged SEG
        raise DicomResultsError(f"{path.name}: a damaged or unsupported SEG ({type(exc).__name__}); "
                                "write it again") from None


def reference_for(path: str | os.PathLike[str], cine: Cine) -> ReferenceSegmentation:
    """The LV masks of the SEG at ``path`` as ``cine``'s reference: refused (DicomResultsError)
    unless the SEG was made from this cine, on its pixel grid and within its frames."""
    path = Path(path)
    uid = cine.identifiers.sop_instance_uid
    if not uid:
        raise DicomResultsError(f"{cine.path.name} is not a DICOM cine with a SOP Instance UID; a SEG can only "
                                "be shown on the DICOM cine it was made from")
    reference = read_seg(path, source_sop_instance_uid=uid)
    shapes = {mask.shape for mask in reference.masks.values()}
    if shapes != {(cine.height, cine.width)} or max(reference.masks) >= cine.n_frames:
        raise DicomResultsError(f"{path.name} does not fit {cine.path.name} (other frame size or frames); "
                                "open it with the cine it segments")
    return reference
