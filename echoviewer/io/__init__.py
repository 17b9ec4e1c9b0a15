"""GUI-free cine loading: DICOM, video and NumPy files → :class:`Cine`."""

from echoviewer.io.cine import Calibration, Cine, CineMetadata, FrameTiming, PatientIdentifiers
from echoviewer.io.pixels import ColourFrames
from echoviewer.io.sector import ImagingRegion
from echoviewer.io.errors import (CineLoadError, CorruptDataError, EmptyFileError, FileMissingError,
                                  NoPixelDataError, NotAFileError, UnrecognisedFormatError,
                                  UnsupportedImageError, UnsupportedTransferSyntaxError,
                                  VideoOpenError)
from echoviewer.io.loader import find_cines, load_cine

__all__ = [
    "Calibration", "Cine", "CineMetadata", "ColourFrames", "FrameTiming", "ImagingRegion", "PatientIdentifiers",
    "CineLoadError", "CorruptDataError", "EmptyFileError", "FileMissingError", "NoPixelDataError",
    "NotAFileError", "UnrecognisedFormatError", "UnsupportedImageError",
    "UnsupportedTransferSyntaxError", "VideoOpenError", "find_cines", "load_cine",
]
