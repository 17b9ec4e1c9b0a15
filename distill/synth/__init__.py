"""Seeded simulator of apical four-chamber B-mode cines with exact ground truth (numpy + OpenCV).

``simulate(seed, height=112, width=112)`` returns a :class:`SyntheticCine`; the writers put cines
on disk as an EchoNet-Dynamic style folder or as ultrasound DICOM files.
"""

from distill.synth.params import CaseParams, sample_case
from distill.synth.simulator import SyntheticCine, simulate

__all__ = ["CaseParams", "SyntheticCine", "sample_case", "simulate"]
