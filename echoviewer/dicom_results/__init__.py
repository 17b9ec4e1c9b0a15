"""The analysis results as DICOM objects to file beside the cine in its study: the LV masks as a
binary Segmentation (:func:`write_seg`, read back by :func:`read_seg`), the measurements as a
TID 1500 SR (:func:`write_sr`); :func:`write_results` writes both for one analysis. GUI-free."""

from __future__ import annotations

import os
from pathlib import Path

from echoviewer.analysis.biplane import Biplane
from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.dicom_results.seg import ReferenceSegmentation, read_seg, reference_for, write_seg
from echoviewer.dicom_results.source import Algorithm, DicomResultsError, read_source
from echoviewer.dicom_results.sr import check_source, write_sr
from echoviewer.io.atomic import same_file


def result_paths(source: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 stem: str | None = None) -> tuple[Path, Path]:
    """Where :func:`write_results` writes: ``<stem>_seg.dcm`` and ``<stem>_sr.dcm``, the stem the
    source's file name's (never a patient's) unless given (a batch whose cines share a name)."""
    stem = Path(source).stem if stem is None else stem
    return Path(out_dir) / f"{stem}_seg.dcm", Path(out_dir) / f"{stem}_sr.dcm"


def write_results(source: str | os.PathLike[str], analysis: CineAnalysis, out_dir: str | os.PathLike[str], *,
                  algorithm: Algorithm | None = None, biplane: Biplane | None = None,
                  reader: str = "", stem: str | None = None) -> list[Path]:
    """The SEG of every frame's LV mask (the reader's contours where drawn, those frames marked
    as edited) and, when the analysis has a beat, the SR of its measurements, in ``out_dir``
    (named by :func:`result_paths`); returns the paths written. ``algorithm`` defaults to
    echoviewer with the analysis's model."""
    source, out_dir = Path(source), Path(out_dir)
    if not out_dir.is_dir():
        raise DicomResultsError(f"{out_dir}: no such folder; create it or choose another")
    check_source(read_source(source), analysis, source.name)
    algorithm = algorithm or Algorithm.of(analysis.segmentation.model)
    seg_path, sr_path = result_paths(source, out_dir, stem)
    for target in (seg_path, sr_path):
        if same_file(target, source):
            raise DicomResultsError(f"{target} is the source cine itself; choose another folder for the results")
    masks = analysis.native_masks()
    written = [write_seg(source, dict(enumerate(masks)), seg_path, algorithm=algorithm,
                         manual_frames=frozenset(analysis.contours), reader=reader)]
    if analysis.beats:
        written.append(write_sr(source, analysis, sr_path, algorithm=algorithm, biplane=biplane, reader=reader))
    return written


__all__ = ["Algorithm", "DicomResultsError", "ReferenceSegmentation", "read_seg", "reference_for",
           "result_paths", "write_results", "write_seg", "write_sr"]
