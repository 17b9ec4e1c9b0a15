"""The one error a teacher loader raises: a model load error (one line naming the file)."""

from __future__ import annotations

from echoviewer.analysis.errors import ModelLoadError

TeacherLoadError = ModelLoadError
