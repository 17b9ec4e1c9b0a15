"""Typed loader errors. Every failure to read a cine is one of these, with a one-line message
that says what is wrong and what to do."""

from __future__ import annotations


def one_line(message: object) -> str:
    """One printable line, always: GUIs show messages in a status bar and the CLI prints them to a
    terminal, so bytes quoted from a damaged file (or a file name) must not carry control sequences."""
    text = " ".join(str(message).split())
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class CineLoadError(Exception):
    """Base class: the file could not be turned into a cine."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        return str(self)


class FileMissingError(CineLoadError):
    """The path does not exist."""


class NotAFileError(CineLoadError):
    """The path is a directory or another non-regular file."""


class EmptyFileError(CineLoadError):
    """The file has zero bytes."""


class UnrecognisedFormatError(CineLoadError):
    """Neither DICOM, a video OpenCV can open, nor a NumPy array file."""


class NoPixelDataError(CineLoadError):
    """A DICOM without an image (a report, a structured document, a header-only file)."""


class UnsupportedTransferSyntaxError(CineLoadError):
    """A DICOM whose compression no installed decoder handles."""


class CorruptDataError(CineLoadError):
    """The file is truncated or its image data cannot be decoded."""


class UnsupportedImageError(CineLoadError):
    """Readable, but not an image layout a cine can hold (e.g. 4-D arrays, >4 channels)."""


class VideoOpenError(CineLoadError):
    """A video container OpenCV cannot open or that holds no frames."""


def short_reason(exc: BaseException) -> str:
    """An exception as a short single-line reason for a user-facing message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
