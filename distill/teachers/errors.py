"""The one error a teacher loader raises."""

from __future__ import annotations


class TeacherLoadError(ValueError):
    """A teacher (checkpoint or model file) could not be loaded; the message is one line that names
    the file and says what was expected."""

    def __init__(self, message: str) -> None:
        # One printable line: parts of it may be quoted from an untrusted file.
        text = " ".join(str(message).split())
        super().__init__("".join(ch if ch.isprintable() else "?" for ch in text))
