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
# The chain from CAMUS's human labels (CC BY-NC-SA 4.0, research use): far closer to experts on real echo.
CAMUS_STUDENT_MODEL = MODELS / "student-camus.onnx"
CAMUS_TEACHER_MODEL = MODELS / "teacher-camus.onnx"
# The bundled models by the names users give them (``--model student``).
BUNDLED_MODELS = {"student": STUDENT_MODEL, "teacher": TEACHER_MODEL, "student-camus": CAMUS_STUDENT_MODEL,
                  "teacher-camus": CAMUS_TEACHER_MODEL}
# What runs when nobody chose a model: the CAMUS chain's student, the closest to experts on real echoes
# (README, "Bundled models"); ``student`` is the simulator-truth chain's, kept under its own name.
DEFAULT_MODEL = "student-camus"
BUNDLED_STUDENTS = ("student-camus", "student")  # the ones a user can make the active student
# Each bundled model's partner in its chain: what the viewer compares it with.
PARTNER = {"student": "teacher", "teacher": "student", "student-camus": "teacher-camus",
           "teacher-camus": "student-camus"}
# The view gate's classifier (python -m distill train-view-gate; simulated cines only).
VIEW_GATE_MODEL = MODELS / "view_gate.onnx"
APP_ICON = RESOURCES / "icons" / "echoviewer.svg"
