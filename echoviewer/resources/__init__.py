"""The files the package ships: bundled models, the demo cine and the application icon.

They live inside the package (package data), so an installed wheel finds them as a checkout does.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
SAMPLE_CINE = RESOURCES / "samples" / "sample_a4c.dcm"
MODELS = RESOURCES / "models"
STUDENT_MODEL = MODELS / "student.onnx"  # model cards: the same name with .json
TEACHER_MODEL = MODELS / "teacher.onnx"
APP_ICON = RESOURCES / "icons" / "echoviewer.svg"
