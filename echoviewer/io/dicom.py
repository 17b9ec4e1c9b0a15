"""DICOM cines: ultrasound (multi-frame) and secondary capture, every common transfer syntax.

JPEG Baseline 8-bit cines, the usual scanner export, take a fast path (:mod:`.dicom_jpeg`);
everything else goes through pydicom's pixel handlers (gdcm, pylibjpeg-openjpeg, pylibjpeg-rle
or pydicom's own; JPEG XL, which pydicom 3.0 does not know, through imagecodecs' libjxl), frame by
frame into one preallocated array, in the decode worker (:mod:`.isolated`) whenever a native codec
is involved. A frame whose compressed data is damaged costs that frame, not the file: it is counted
in ``CineMetadata.damaged_frames``.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, get_decoder, iter_pixels
from pydicom.uid import JPEGBaseline8Bit, SegmentationStorage, UID

from echoviewer.io import dicom_jpeg
from echoviewer.io.apical_view import view_in_text
from echoviewer.io.calibration import dicom_calibration, parse_regions
from echoviewer.io.cine import Cine, CineMetadata, PatientIdentifiers
from echoviewer.io.errors import (CorruptDataError, NoPixelDataError,
                                  UnsupportedImageError, UnsupportedTransferSyntaxError)
from echoviewer.io.isolated import decode_pixels_isolated
from echoviewer.io.jpeg_markers import JpegStructureError, check_jpeg_header
from echoviewer.io.pixels import ColourFrames, check_decoded_size, split_grey_and_colour, to_uint8
from echoviewer.io.sector import content_region
from echoviewer.io.timing import dicom_timing

log = logging.getLogger(__name__)
# pydicom's own log messages quote element values, patient names included; this loader reports
# every failure itself, so pydicom is kept quiet to keep identifiers out of logs.
logging.getLogger("pydicom").setLevel(logging.CRITICAL)

# A decoded cine larger than this is refused before anything is allocated: it is either a
# corrupt header or more than a desktop should hold at once.
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# A damaged file can make a native decoder loop forever: a child gets this long, plus time in
# proportion to the encoded pixel data, before it is stopped.
_DECODE_TIMEOUT_S = 10.0
_DECODE_BYTES_PER_S = 1e6
# ... and this much address space: the interpreter with its codecs, plus room for the frames,
# their per-frame temporaries and a palette expansion.
_DECODE_MEMORY_BASE = 1536 * 1024**2
_DECODE_MEMORY_PER_BYTE = 6
_JPEG_FAMILY = ("1.2.840.10008.1.2.4.5", "1.2.840.10008.1.2.4.7", "1.2.840.10008.1.2.4.8")
# The decoder to install for each family of transfer syntax UIDs (matched by prefix), named
# in the error when none is installed (licences in the README).
_PLUGIN_HINTS = {
    "1.2.840.10008.1.2.4.5": "python-gdcm",          # JPEG baseline / extended / lossless
    "1.2.840.10008.1.2.4.7": "python-gdcm",          # JPEG lossless
    "1.2.840.10008.1.2.4.8": "python-gdcm or pyjpegls",  # JPEG-LS
    "1.2.840.10008.1.2.4.9": "pylibjpeg-openjpeg",   # JPEG 2000
    "1.2.840.10008.1.2.4.20": "pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg-rle",
}
_IDENTIFIER_KEYWORDS = {
    "patient_name": "PatientName", "patient_id": "PatientID", "birth_date": "PatientBirthDate",
    "accession_number": "AccessionNumber", "study_date": "StudyDate",
    "institution": "InstitutionName", "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID", "sop_instance_uid": "SOPInstanceUID",
}


def transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return UID(str(uid))
    # No file meta (a raw dataset): the parser found the encoding by looking at the bytes.
    implicit, little = ds.original_encoding
    if implicit or implicit is None:
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


# JPEG XL (DICOM 2024), newer than pydicom 3.0 knows and has no pixel handler for: each frame is
# one codestream, decoded with imagecodecs' libjxl in the decode worker (colour comes out as RGB,
# a JPEG recompression's YCbCr converted as libjpeg would).
JPEG_XL_SYNTAXES = {"1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
                    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
                    "1.2.840.10008.1.2.4.112": "JPEG XL"}
# What CineMetadata.damage says of the damaged frames each decode path finds.
_CORRUPT_JPEG = "JPEG data corrupt"
_UNDECODABLE = "data undecodable, each shown as the nearest intact frame"


def syntax_name(syntax: UID) -> str:
    return JPEG_XL_SYNTAXES.get(str(syntax), syntax.name)


def _compressed(syntax: UID) -> bool:
    return str(syntax) in JPEG_XL_SYNTAXES or syntax.is_compressed


def _check_decodable(path: Path, ds: Dataset, syntax: UID) -> None:
    if str(syntax) in JPEG_XL_SYNTAXES:
        if importlib.util.find_spec("imagecodecs") is None:
            raise UnsupportedTransferSyntaxError(
                f"{path.name}: {syntax_name(syntax)} needs a decoder that is not installed; run: pip install imagecodecs")
        return
    if not syntax.is_transfer_syntax:
        raise UnsupportedTransferSyntaxError(
            f"{path.name}: its pixels are stored as a transfer syntax this pydicom does not know ({syntax}), "
            "which echoviewer cannot decode; export the cine from the scanner or PACS as JPEG Baseline, "
            "JPEG 2000 or uncompressed DICOM")
    if not syntax.is_compressed:
        return
    name = syntax.name
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        hint = ("export the cine from the scanner as JPEG Baseline or uncompressed DICOM"
                if "MPEG" in name or "HEVC" in name else "convert it to an uncompressed DICOM")
        raise UnsupportedTransferSyntaxError(
            f"{path.name}: no decoder exists for {name} ({syntax}); {hint}") from None
    if not decoder.is_available:
        plugin = next((p for prefix, p in _PLUGIN_HINTS.items() if str(syntax).startswith(prefix)),
                      "a pydicom pixel-data plugin")
        raise UnsupportedTransferSyntaxError(
            f"{path.name}: {name} needs a decoder that is not installed; run: pip install {plugin}")


def int_attr(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword, default)
        return int(value if value not in (None, "") else default)
    except (TypeError, ValueError):
        return default


def checked_geometry(path: Path, ds: Dataset) -> tuple[int, int, int, int]:
    rows, cols = int_attr(ds, "Rows", 0), int_attr(ds, "Columns", 0)
    frames = max(1, int_attr(ds, "NumberOfFrames", 1))  # 0 means 1, as pydicom reads it
    samples = int_attr(ds, "SamplesPerPixel", 1)
    if rows <= 0 or cols <= 0:
        raise CorruptDataError(f"{path.name}: image size {rows}×{cols} is invalid; the header is damaged")
    if samples not in (1, 3):
        raise UnsupportedImageError(f"{path.name}: {samples} samples per pixel; expected 1 or 3")
    out_channels = 3 if samples == 3 or ds.get("PhotometricInterpretation") == "PALETTE COLOR" else 1
    check_decoded_size(path.name, "header claims", frames, rows, cols, out_channels + 1)
    return rows, cols, frames, samples


def _decoded_bytes(ds: Dataset, n_frames: int) -> int:
    """Size of the frames as pydicom decodes them (before any palette expansion)."""
    bytes_per_sample = max(1, int_attr(ds, "BitsAllocated", 8) // 8)
    return (int_attr(ds, "Rows", 0) * int_attr(ds, "Columns", 0) * n_frames
            * int_attr(ds, "SamplesPerPixel", 1) * bytes_per_sample)


def palette_to_rgb(frame: np.ndarray, ds: Dataset) -> np.ndarray:
    rgb = apply_color_lut(frame, ds)
    if rgb.dtype != np.uint8:
        # 16-bit LUT entries are scaled to 8 bits, except where a writer stored 8-bit values in
        # a 16-bit LUT (seen in big-endian Philips exports), which are already in range.
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        shift = max(0, bits - 8) if int(rgb.max()) > 255 else 0
        rgb = (rgb >> shift).astype(np.uint8)
    return rgb


def _malformed_jpeg_frames(path: Path, ds: Dataset, syntax: UID, n_frames: int) -> tuple[int, ...]:
    """The frames whose JPEG header is malformed, kept from gdcm, which can crash the process on
    them; refused outright when no frame is well formed."""
    if not str(syntax).startswith(_JPEG_FAMILY):
        return ()
    malformed: list[tuple[int, JpegStructureError]] = []
    count = 0
    for count, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=n_frames), 1):
        try:
            check_jpeg_header(frame)
        except JpegStructureError as exc:
            malformed.append((count - 1, exc))
    if malformed and len(malformed) == count:
        index, first = malformed[0]
        raise CorruptDataError(f"{path.name}: frame {index} is damaged ({first}); "
                               "copy the file again from the source") from first
    return tuple(index for index, _ in malformed)


def _frames_held(ds: Dataset, n_frames: int) -> int:
    """How many frames the encapsulated pixel data holds (fewer than stated when truncated)."""
    count = 0
    try:
        for _ in generate_frames(ds.PixelData, number_of_frames=n_frames):
            count += 1
    except Exception:  # the data ends inside a fragment: the frames before it are held
        pass
    return count


def _jpeg_xl_frames(ds: Dataset, indices: Sequence[int], n_frames: int
                    ) -> Iterator[tuple[int, np.ndarray | Exception]]:
    import imagecodecs  # a native codec: imported in the decode worker only

    wanted, shape = set(indices), (int_attr(ds, "Rows", 0), int_attr(ds, "Columns", 0))
    for index, encoded in enumerate(generate_frames(ds.PixelData, number_of_frames=n_frames)):
        if index not in wanted:
            continue
        try:
            frame = imagecodecs.jpegxl_decode(encoded)
            if frame.shape[:2] != shape:
                raise ValueError(f"a codestream of {frame.shape[:2]} pixels, the header says {shape}")
        except Exception as exc:  # libjxl meets arbitrary bytes: the frame is damaged
            yield index, exc
        else:
            yield index, frame


def _decoded_frames(ds: Dataset, syntax: UID, indices: Sequence[int], n_frames: int
                    ) -> Iterator[tuple[int, np.ndarray | Exception]]:
    """Each frame of ``indices`` (ascending) with its pixels, or, for compressed data, the error
    its data raised: one damaged frame costs that frame, not the file. Ends early when the data
    holds fewer frames than the header says."""
    if str(syntax) in JPEG_XL_SYNTAXES:
        yield from _jpeg_xl_frames(ds, indices, n_frames)
        return
    todo = deque(indices)
    every = list(indices) == list(range(n_frames))  # pydicom's fastest way: iterate them all
    while todo:
        try:
            for frame in iter_pixels(ds, indices=None if every else list(todo)):
                if not todo:
                    return
                yield todo.popleft(), frame
            return
        except Exception as exc:  # pydicom's iterator stops at the error: go on after that frame
            if not syntax.is_compressed or not todo:
                raise
            yield todo.popleft(), exc
            if every:  # from now on frame by frame, never past the frames the data holds
                every, held = False, _frames_held(ds, n_frames)
                while todo and todo[-1] >= held:
                    todo.pop()


def _stack_frames(path: Path, ds: Dataset, n_frames: int, skip: Sequence[int] = ()
                  ) -> tuple[np.ndarray, tuple[int, ...]]:
    """Every frame but those in ``skip``, palette colour applied: (T, H, W[, 3]), and the damaged
    frames (``skip`` and those that could not be decoded), each a copy of the nearest intact one."""
    syntax, photometric = transfer_syntax(ds), text_attr(ds, "PhotometricInterpretation")
    stack: np.ndarray | None = None
    damaged, count = set(skip), 0
    first_error: Exception | None = None
    for index, frame in _decoded_frames(ds, syntax, [i for i in range(n_frames) if i not in damaged], n_frames):
        if isinstance(frame, Exception):
            damaged.add(index)
            first_error = first_error or frame
            continue
        if photometric == "PALETTE COLOR":
            frame = palette_to_rgb(frame, ds)
        if stack is None:
            stack = np.empty((n_frames, *frame.shape), frame.dtype)
        if frame.shape != stack.shape[1:]:
            raise CorruptDataError(f"{path.name}: frame {index} has shape {frame.shape}, "
                                   f"frame 0 has {stack.shape[1:]}")
        stack[index] = frame
        count += 1
    if stack is None and first_error is not None:
        raise first_error  # no frame decodes: the file's data, not a frame, is damaged
    if stack is None or count + len(damaged) < n_frames:
        raise CorruptDataError(f"{path.name}: only {count} of {n_frames} frames could be decoded; "
                               "the file is truncated")
    intact = np.setdiff1d(np.arange(n_frames), sorted(damaged))
    for index in sorted(damaged):
        before = intact[intact < index]
        stack[index] = stack[before[-1] if before.size else intact[0]]
    return stack, tuple(sorted(damaged))


def stack_frames_of_file(path: Path, force: bool, n_frames: int, skip: Sequence[int] = ()
                         ) -> tuple[np.ndarray, tuple[int, ...]]:
    """:func:`_stack_frames` from the file itself: what the decoding worker runs."""
    return _stack_frames(path, _read(path, force), n_frames, skip)


def _decode_with_pydicom(path: Path, ds: Dataset, syntax: UID, n_frames: int, force: bool,
                         skip: tuple[int, ...]) -> tuple[np.ndarray, ColourFrames | None, tuple[int, ...]]:
    if _compressed(syntax):  # native codecs: isolated, see isolated.py
        stack, damaged = decode_pixels_isolated(
            path, force, n_frames, skip,
            timeout_s=_DECODE_TIMEOUT_S + len(ds.PixelData) / _DECODE_BYTES_PER_S,
            memory_limit=_DECODE_MEMORY_BASE + _DECODE_MEMORY_PER_BYTE * _decoded_bytes(ds, n_frames))
    else:
        stack, damaged = _stack_frames(path, ds, n_frames, skip)
    if stack.ndim == 4 and stack.dtype != np.uint8:
        # Colour with more than 8 bits per channel: keep the colour balance, drop low bits.
        bits = int_attr(ds, "BitsStored", stack.dtype.itemsize * 8)
        shift = max(0, bits - 8)
        stack = np.clip(stack.astype(np.uint64) >> shift, 0, 255).astype(np.uint8)
    stack = to_uint8(stack)
    if text_attr(ds, "PhotometricInterpretation") == "MONOCHROME1":
        np.subtract(255, stack, out=stack)  # MONOCHROME1: 0 is white
    return (*split_grey_and_colour(stack), damaged)


def _identifiers(ds: Dataset) -> PatientIdentifiers:
    values = {}
    for field_name, keyword in _IDENTIFIER_KEYWORDS.items():
        try:
            values[field_name] = str(ds.get(keyword, "") or "")
        except Exception:  # a damaged identifier is simply absent
            values[field_name] = ""
    return PatientIdentifiers(**values)


def _uid_name(uid: str) -> str:
    """The registered name of a UID, or "" for an unknown or garbled one (never echo garbage)."""
    name = UID(uid).name if uid else ""
    return name if name and name != uid else ""


def text_attr(ds: Dataset, keyword: str) -> str:
    try:
        return str(ds.get(keyword, "") or "").strip()
    except Exception:  # damaged descriptive text is not worth failing a load for
        return ""


def _stated_view(ds: Dataset) -> dict[str, str]:
    """The apical view the header names: the View Code Sequence first, then the free text."""
    try:
        codes = [str(item.get("CodeMeaning", "")) for item in ds.get("ViewCodeSequence", [])]
    except Exception:  # a damaged sequence names no view
        codes = []
    view = view_in_text(codes + [text_attr(ds, "SeriesDescription"), text_attr(ds, "ProtocolName")])
    return {"view": view, "view_source": "DICOM header"} if view else {}


def stated_header(path: Path, force: bool = False) -> dict[str, str]:
    """The StudyInstanceUID, SOPInstanceUID and apical view from the header alone, without the
    pixels; empty strings for what cannot be read (the study list asks this of many files: it
    must not decode them)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=force, stop_before_pixels=True)
    except Exception:  # an unreadable header names nothing; opening the file reports why
        return {"study": "", "instance": "", "view": ""}
    return {"study": text_attr(ds, "StudyInstanceUID"), "instance": text_attr(ds, "SOPInstanceUID"),
            "view": _stated_view(ds).get("view", "")}


def _read(path: Path, force: bool) -> Dataset:
    ds = pydicom.dcmread(path, force=force)
    if any(keyword in ds for keyword in _PIXEL_KEYWORDS) and (
            not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta):
        # A raw dataset: record the encoding the parser found, which pixel handlers need.
        syntax = transfer_syntax(ds)
        ds.file_meta = getattr(ds, "file_meta", None) or pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = syntax
    return ds


def load_dicom(path: Path, *, force: bool = False) -> Cine:
    """Load a DICOM file; parser and decoder failures are wrapped by :func:`load_cine`."""
    return _load_dataset(path, _read(path, force), force)


def _header_notes(ds: Dataset) -> tuple[str, ...]:
    """What the header states wrongly and how the loader read it instead."""
    notes = []
    if "NumberOfFrames" in ds and int_attr(ds, "NumberOfFrames", 1) == 0:
        notes.append("NumberOfFrames is 0 in the header (at least 1 is required); the image was read as one frame")
    return tuple(notes)


def _load_dataset(path: Path, ds: Dataset, force: bool) -> Cine:
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        sop_name = _uid_name(text_attr(ds, "SOPClassUID"))
        if not sop_name or "Image" in sop_name or "Rows" in ds:
            raise CorruptDataError(f"{path.name}: the image data is missing or unreadable; the "
                                   "file is truncated or damaged, copy it again")
        raise NoPixelDataError(f"{path.name}: {sop_name} holds no image data; "
                               "open an image or cine DICOM")
    if "PixelData" not in ds:
        raise UnsupportedImageError(f"{path.name}: floating-point pixel data is not an echo cine")
    if text_attr(ds, "SOPClassUID") == SegmentationStorage:
        raise UnsupportedImageError(f"{path.name} is a DICOM Segmentation (SEG), not a cine: open its cine, "
                                    "then File ▸ Open a reference segmentation")

    syntax = transfer_syntax(ds)
    rows, cols, n_frames, samples = checked_geometry(path, ds)
    photometric = text_attr(ds, "PhotometricInterpretation")
    log.debug("DICOM %s: SOP class %s, %s, %s, %d×%d×%d", path.name, text_attr(ds, "SOPClassUID"),
              syntax_name(syntax), photometric, n_frames, rows, cols)

    decoded = None
    if syntax == JPEGBaseline8Bit and dicom_jpeg.eligible(photometric, int_attr(ds, "BitsAllocated", 0)):
        decoded = dicom_jpeg.decode(ds, n_frames, rows, cols, samples)
        decoder, damage = "opencv", _CORRUPT_JPEG
    if decoded is None:
        _check_decodable(path, ds, syntax)
        skip = _malformed_jpeg_frames(path, ds, syntax, n_frames)
        decoded = _decode_with_pydicom(path, ds, syntax, n_frames, force, skip)
        decoder = "imagecodecs" if str(syntax) in JPEG_XL_SYNTAXES else "pydicom"
        damage = _UNDECODABLE
    grey, colour, damaged = decoded
    if damaged:
        log.debug("DICOM %s: %d damaged frame(s)", path.name, len(damaged))

    calibration, calibration_note, region = dicom_calibration(ds, cols, rows)
    if region is None:
        region = content_region(grey)
    sop_class = text_attr(ds, "SOPClassUID")
    metadata = CineMetadata(
        format="dicom",
        manufacturer=text_attr(ds, "Manufacturer"),
        model=text_attr(ds, "ManufacturerModelName"),
        modality=text_attr(ds, "Modality"),
        sop_class_uid=sop_class,
        sop_class_name=_uid_name(sop_class),
        transfer_syntax_uid=str(syntax),
        transfer_syntax_name=syntax_name(syntax),
        photometric=photometric,
        decoder=decoder,
        bits_stored=int_attr(ds, "BitsStored", 8),
        region_formats=tuple(region.spatial_format for region in parse_regions(ds)),
        header_notes=_header_notes(ds),
        burned_in_annotation=text_attr(ds, "BurnedInAnnotation").upper() == "YES",
        damaged_frames=damaged,
        damage=damage if damaged else "",
        **_stated_view(ds),
    )
    return Cine(path=path, frames=grey, colour=colour, timing=dicom_timing(ds, n_frames),
                calibration=calibration, calibration_note=calibration_note, region=region,
                metadata=metadata, identifiers=_identifiers(ds))

