"""GUI-free cine loading: DICOM, video and NumPy files → :class:`Cine`."""

from echoviewer.io.cine import Calibration, Cine, CineMetadata, FrameTiming, ImagingRegion, PatientIdentifiers
from echoviewer.io.errors import (CineLoadError, CorruptDataError, EmptyFileError, FileMissingError,
                                  NoPixelDataError, NotAFileError, UnrecognisedFormatError,
                                  UnsupportedImageError, UnsupportedTransferSyntaxError,
                                  VideoOpenError)
from echoviewer.io.loader import load_cine

__all__ = [
    "Calibration", "Cine", "CineMetadata", "FrameTiming", "ImagingRegion", "PatientIdentifiers",
    "CineLoadError", "CorruptDataError", "EmptyFileError", "FileMissingError", "NoPixelDataError",
    "NotAFileError", "UnrecognisedFormatError", "UnsupportedImageError",
    "UnsupportedTransferSyntaxError", "VideoOpenError", "load_cine",
]
