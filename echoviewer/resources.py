"""Paths to the files shipped in the repository's ``resources/`` folder."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SAMPLE_CINE = RESOURCES / "samples" / "sample_a4c.dcm"
