"""Paths to the files shipped in the repository's ``resources/`` folder."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SAMPLE_CINE = RESOURCES / "samples" / "sample_a4c.dcm"
MODELS = RESOURCES / "models"
STUDENT_MODEL = MODELS / "student.onnx"  # model cards: the same name with .json
TEACHER_MODEL = MODELS / "teacher.onnx"
