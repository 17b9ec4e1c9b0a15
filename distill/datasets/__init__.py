"""Datasets for distillation: EchoNet-style video folders, their tracings and reproducible .npz files."""

from distill.datasets.echonet import (FILELIST_COLUMNS, TRACING_COLUMNS, EchoNetFolder, TracedFrames,
                                      TruthMasks, VideoRecord, hash_split, write_filelist,
                                      write_volume_tracings)
from distill.datasets.npz import load_npz, save_npz
from distill.datasets.tracings import mask_from_tracing, tracing_area, tracing_from_contour

__all__ = [
    "FILELIST_COLUMNS", "TRACING_COLUMNS", "EchoNetFolder", "TracedFrames", "TruthMasks",
    "VideoRecord", "hash_split", "load_npz", "mask_from_tracing", "save_npz",
    "tracing_area", "tracing_from_contour", "write_filelist", "write_volume_tracings",
]
