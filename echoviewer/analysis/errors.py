"""The one error a model loader or runner raises."""

from __future__ import annotations


class ModelLoadError(ValueError):
    """A model file (ONNX with its card, or a checkpoint) could not be loaded or run; the message is
    one line that names the file and says what was expected."""

    def __init__(self, message: str) -> None:
        # One printable line: parts of it may be quoted from an untrusted file.
        text = " ".join(str(message).split())
        super().__init__("".join(ch if ch.isprintable() else "?" for ch in text))
