"""Write an Ultrasound Multi-frame Image Storage DICOM as a scanner would export it.

JPEG Baseline (colour as YBR_FULL_422, grey as MONOCHROME2) or uncompressed Explicit VR Little
Endian, with FrameTime and a Sequence of Ultrasound Regions holding the calibration. Used for the
bundled sample cine, by the synthetic-data writers and by tests; the file is written to a
temporary name and renamed, so an interrupted write never leaves half a file behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, PYDICOM_IMPLEMENTATION_UID,
                         UltrasoundMultiFrameImageStorage, generate_uid)

from echoviewer.io.atomic import atomic_output
from echoviewer.io.sector import ImagingRegion

_JPEG_PARAMS = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]


def _region_item(region: ImagingRegion, cm_per_px: tuple[float, float]) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat = 1  # 2D
    item.RegionDataType = 1  # tissue
    item.RegionFlags = 0
    item.RegionLocationMinX0, item.RegionLocationMinY0 = region.x0, region.y0
    item.RegionLocationMaxX1, item.RegionLocationMaxY1 = region.x1, region.y1
    item.ReferencePixelX0, item.ReferencePixelY0 = (region.x0 + region.x1) // 2, region.y0
    item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3  # cm
    item.ReferencePixelPhysicalValueX = item.ReferencePixelPhysicalValueY = 0.0
    item.PhysicalDeltaX, item.PhysicalDeltaY = float(cm_per_px[0]), float(cm_per_px[1])
    return item


def _encode_jpeg(frames: np.ndarray, quality: int) -> list[bytes]:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    encoded = []
    for frame in frames:
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
        ok, buffer = cv2.imencode(".jpg", image, params + (_JPEG_PARAMS if frame.ndim == 3 else []))
        if not ok:
            raise ValueError("OpenCV could not encode a frame as JPEG")
        encoded.append(buffer.tobytes())
    return encoded


def write_ultrasound_cine(path: str | os.PathLike[str], frames: np.ndarray, *, fps: float,
                          cm_per_px: tuple[float, float] | None = None,
                          region: ImagingRegion | None = None, compression: str = "jpeg",
                          quality: int = 90, manufacturer: str = "echoviewer",
                          uid_seed: str | None = None) -> Path:
    """Write uint8 ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB frames; returns the path.

    ``compression`` is ``"jpeg"`` (JPEG Baseline) or ``"none"``. With ``cm_per_px`` the file
    holds one 2D tissue ultrasound region over ``region`` (default: the whole frame). With
    ``uid_seed`` the UIDs derive from it, so equal inputs give byte-identical files.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError("frames must be uint8 (T, H, W) or (T, H, W, 3)")
    if compression not in ("jpeg", "none"):
        raise ValueError(f"compression must be 'jpeg' or 'none', not {compression!r}")
    n_frames, rows, cols = frames.shape[:3]
    colour = frames.ndim == 4
    path = Path(path)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    def new_uid(role: str) -> UID:
        return generate_uid(entropy_srcs=[uid_seed, role]) if uid_seed is not None else generate_uid()

    meta.MediaStorageSOPInstanceUID = new_uid("instance")
    meta.TransferSyntaxUID = JPEGBaseline8Bit if compression == "jpeg" else ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = new_uid("study"), new_uid("series")
    ds.Modality = "US"
    ds.Manufacturer = manufacturer
    ds.PatientName, ds.PatientID = "", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, n_frames
    ds.SamplesPerPixel = 3 if colour else 1
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.FrameTime = f"{1000.0 / fps:.3f}"
    ds.FrameIncrementPointer = (0x0018, 0x1063)
    ds.CineRate = int(round(fps))
    if colour:
        ds.PlanarConfiguration = 0
    if cm_per_px is not None:
        region = region or ImagingRegion(0, 0, cols - 1, rows - 1, "whole frame")
        ds.SequenceOfUltrasoundRegions = Sequence([_region_item(region, cm_per_px)])

    if compression == "jpeg":
        ds.PhotometricInterpretation = "YBR_FULL_422" if colour else "MONOCHROME2"
        ds.LossyImageCompression = "01"
        ds.PixelData = encapsulate(_encode_jpeg(frames, quality))
        ds["PixelData"].VR = "OB"
    else:
        ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
        ds.PixelData = np.ascontiguousarray(frames).tobytes()
        ds["PixelData"].VR = "OB"

    with atomic_output(path) as temporary:
        ds.save_as(temporary, enforce_file_format=True)
    return path
