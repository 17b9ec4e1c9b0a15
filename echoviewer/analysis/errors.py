"""The one error a model loader or runner raises."""

from __future__ import annotations

from echoviewer.io.errors import one_line


class ModelLoadError(ValueError):
    """A model file (ONNX with its card, or a checkpoint) could not be loaded or run; the message is
    one line that names the file and says what was expected."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))  # parts of it may be quoted from an untrusted file
