"""``python -m distill evaluate``: score a student without human labels (and against the simulator's
truth or human tracings where the data has them).

Per video, both models run on the same frames; masks are soft masks > 80 (uint8), the paper's
threshold; timing curves count pixels > 25. Reported, as means over videos:

* Dice of the student against the teacher, over every frame;
* aFD (mean absolute frame distance) of the student's ED and ES against the teacher's picks: each
  ED/ES the teacher's curve shows (every beat) is a reference, refined on the student's curve by
  the paper's block rule; the paper's annotation-free protocol;
* on synthetic data, the same aFD against the simulator's true ED/ES frames, for student and
  teacher, and Dice against the true masks;
* on data with human labels (an EchoNet ``VolumeTracings.csv`` and no simulator truth beside it),
  Dice and HD95 (px) of student and teacher against the traced ED and ES masks
  (:mod:`distill.scores`, as ``realeval`` scores them), means over the two frames;
* a naive area EF, 100 (A_ED − A_ES) / A_ED at the reference frames, correlated (Pearson r) with the
  true EF (synthetic data) or with the teacher's naive EF;
* parameters and frames per second of student and teacher, timed in this run on this machine.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from distill.datasets.echonet import EchoNetFolder, TracedFrames, TruthMasks, VideoRecord
from distill.datasets.tracings import mask_from_tracing
from distill.progress import Progress
from distill.scores import dice, hd95
from distill.segmenters.base import Segmenter
from distill.segmenters.registry import load_segmenter
from echoviewer.analysis.phases import MASK_THRESHOLD, area_curve, block_rule, find_events
from echoviewer.analysis.quality import dice_per_frame
from echoviewer.io.atomic import atomic_output, write_json
from echoviewer.run_contract import REPORT


def mean_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame Dice of two boolean (T, H, W) stacks; two empty frames agree (1)."""
    return float(np.mean(dice_per_frame(a, b)))


def afd(curve: np.ndarray, references: np.ndarray, kind: str) -> float | None:
    """Mean |block-rule estimate − reference| in frames; None without references."""
    if len(references) == 0:
        return None
    return float(np.mean([abs(block_rule(curve, int(r), kind) - int(r)) for r in references]))


def naive_ef(soft: np.ndarray, ed_frames: np.ndarray, es_frames: np.ndarray) -> float | None:
    """Mean over beats of 100 (A_ED − A_ES) / A_ED, A = pixels > 80; each ES pairs with the ED before it."""
    area = area_curve(soft, MASK_THRESHOLD)
    values = []
    for es in es_frames:
        earlier = ed_frames[ed_frames < es]
        if len(earlier) and area[earlier[-1]] > 0:
            values.append(100.0 * (area[earlier[-1]] - area[es]) / area[earlier[-1]])
    return float(np.mean(values)) if values else None


@dataclass
class _Timer:
    seconds: float = 0.0
    frames: int = 0

    def run(self, model: Segmenter, frames: np.ndarray, folder: EchoNetFolder, record: VideoRecord) -> np.ndarray:
        start = time.perf_counter()
        soft = model.soft_masks(frames, folder, record)
        self.seconds += time.perf_counter() - start
        self.frames += len(frames)
        return soft

    @property
    def fps(self) -> float | None:
        return self.frames / self.seconds if self.seconds > 0 else None


@dataclass
class _Scores:
    rows: list[dict] = field(default_factory=list)

    def mean(self, key: str) -> float | None:
        values = [row[key] for row in self.rows if row.get(key) is not None]
        return float(np.mean(values)) if values else None

    def pearson(self, x: str, y: str) -> float | None:
        pairs = np.array([(r[x], r[y]) for r in self.rows if r.get(x) is not None and r.get(y) is not None])
        if len(pairs) < 3 or np.std(pairs[:, 0]) == 0 or np.std(pairs[:, 1]) == 0:
            return None
        return float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1])


def label_scores(soft: np.ndarray, traced: TracedFrames, prefix: str = "") -> dict[str, float]:
    """Dice and HD95 (px) of soft masks > 80 against the human tracings, means over ED and ES."""
    frames = [(traced.ed_frame, traced.ed_rows), (traced.es_frame, traced.es_rows)]
    pairs = [(soft[frame] > MASK_THRESHOLD, mask_from_tracing(rows, soft.shape[1:]))
             for frame, rows in frames if frame < len(soft)]
    if not pairs:
        return {}
    return {f"{prefix}dice_vs_labels": float(np.mean([dice(p, r) for p, r in pairs])),
            f"{prefix}hd95_vs_labels": float(np.mean([hd95(p, r) for p, r in pairs]))}


def _score_video(student_soft: np.ndarray, teacher_soft: np.ndarray, fps: float, truth: TruthMasks | None,
                 traced: TracedFrames | None = None) -> dict:
    s_curve, t_curve = area_curve(student_soft), area_curve(teacher_soft)
    # The teacher's picks: its curve's peaks, placed by the same block rule the student is scored
    # with, so a model scored against itself gets aFD 0 even on flat-topped peaks.
    t_ed, t_es = (np.array([block_rule(t_curve, int(p), kind) for p in peaks], int)
                  for peaks, kind in zip(find_events(t_curve, fps), ("ed", "es")))
    s_mask, t_mask = student_soft > MASK_THRESHOLD, teacher_soft > MASK_THRESHOLD
    row = {"frames": len(student_soft), "dice_vs_teacher": mean_dice(s_mask, t_mask),
           "afd_ed_vs_teacher": afd(s_curve, t_ed, "ed"), "afd_es_vs_teacher": afd(s_curve, t_es, "es"),
           "teacher_events": int(len(t_ed) + len(t_es))}
    if truth is None:
        if traced is not None:  # human labels: tracings that are not the simulator's truth
            row.update(label_scores(student_soft, traced))
            row.update(label_scores(teacher_soft, traced, "teacher_"))
        row["ef_naive_student"] = naive_ef(student_soft, t_ed, t_es)
        row["ef_naive_teacher"] = naive_ef(teacher_soft, t_ed, t_es)
        return row
    ed, es = truth.ed_frames.astype(int), truth.es_frames.astype(int)
    row.update({"dice_vs_truth": mean_dice(s_mask, truth.masks),
                "teacher_dice_vs_truth": mean_dice(t_mask, truth.masks),
                "afd_ed_vs_truth": afd(s_curve, ed, "ed"), "afd_es_vs_truth": afd(s_curve, es, "es"),
                "teacher_afd_ed_vs_truth": afd(t_curve, ed, "ed"), "teacher_afd_es_vs_truth": afd(t_curve, es, "es"),
                "ef_true": truth.ef, "ef_naive_student": naive_ef(student_soft, ed, es),
                "ef_naive_teacher": naive_ef(teacher_soft, ed, es)})
    return row


def evaluate(student: Segmenter, teacher: Segmenter, folder: EchoNetFolder, records: list[VideoRecord], *,
             progress: str = "none") -> dict:
    """The report as a dict (see the module docstring); per-video rows under ``videos``."""
    scores = _Scores()
    failed: dict[str, str] = {}
    student_time, teacher_time = _Timer(), _Timer()
    bar = Progress("evaluate", total=len(records), mode=progress, unit="video")
    try:
        for record, frames, fps in folder.read_videos(records, failed, bar.advance):
            s_soft = student_time.run(student, frames, folder, record)
            t_soft = teacher_time.run(teacher, frames, folder, record)
            truth = folder.truth(record.name)
            traced = folder.traced(record.name) if truth is None else None
            scores.rows.append({"name": record.name, **_score_video(s_soft, t_soft, fps, truth, traced)})
    finally:
        bar.close()
    if not scores.rows:
        raise ValueError(f"{folder.root}: none of the {len(records)} videos could be read")
    has_truth = any("dice_vs_truth" in row for row in scores.rows)
    keys = dict.fromkeys(key for row in scores.rows for key in row if key not in ("name", "ef_true"))
    summary = {key: scores.mean(key) for key in keys}
    summary["ef_naive_r_student"] = scores.pearson("ef_naive_student", "ef_true" if has_truth else "ef_naive_teacher")
    if has_truth:
        summary["ef_naive_r_teacher"] = scores.pearson("ef_naive_teacher", "ef_true")
    return {"student": student.describe(), "teacher": teacher.describe(), "data": str(folder.root),
            "videos_scored": len(scores.rows), "videos_failed": failed,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "speed": {"student_fps": student_time.fps, "teacher_fps": teacher_time.fps,
                      "cpu_threads": os.cpu_count()},
            "summary": summary, "videos": scores.rows}


_TABLE = (("Dice vs teacher (> 80)", "dice_vs_teacher", "{:.3f}"),
          ("aFD ED vs teacher (frames)", "afd_ed_vs_teacher", "{:.2f}"),
          ("aFD ES vs teacher (frames)", "afd_es_vs_teacher", "{:.2f}"),
          ("Dice vs truth", "dice_vs_truth", "{:.3f}"),
          ("teacher Dice vs truth", "teacher_dice_vs_truth", "{:.3f}"),
          ("aFD ED vs truth (frames)", "afd_ed_vs_truth", "{:.2f}"),
          ("aFD ES vs truth (frames)", "afd_es_vs_truth", "{:.2f}"),
          ("teacher aFD ED vs truth (frames)", "teacher_afd_ed_vs_truth", "{:.2f}"),
          ("teacher aFD ES vs truth (frames)", "teacher_afd_es_vs_truth", "{:.2f}"),
          ("Dice vs human labels", "dice_vs_labels", "{:.3f}"),
          ("teacher Dice vs human labels", "teacher_dice_vs_labels", "{:.3f}"),
          ("HD95 vs human labels (px)", "hd95_vs_labels", "{:.1f}"),
          ("teacher HD95 vs human labels (px)", "teacher_hd95_vs_labels", "{:.1f}"),
          ("naive EF r, student", "ef_naive_r_student", "{:.3f}"),
          ("naive EF r, teacher", "ef_naive_r_teacher", "{:.3f}"))


def markdown(report: dict) -> str:
    """The report's summary as a Markdown table."""
    s, t, summary, speed = report["student"], report["teacher"], report["summary"], report["speed"]
    lines = [f"Student: {s['name']}; teacher: {t['name']}; {report['videos_scored']} videos of {report['data']}",
             "", "| metric | value |", "|---|---|"]
    for label, key, form in _TABLE:
        if summary.get(key) is not None:
            lines.append(f"| {label} | {form.format(summary[key])} |")
    for who, description in (("student", s), ("teacher", t)):
        if description.get("parameters"):
            lines.append(f"| {who} parameters | {description['parameters']:,} |")
        if speed.get(f"{who}_fps"):
            lines.append(f"| {who} frames/s (this machine) | {speed[f'{who}_fps']:.0f} |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--student", required=True, help="student: FILE.onnx (+ .json), FILE.pt or 'student'")
    parser.add_argument("--teacher", required=True, help="teacher: 'teacher', 'truth', FILE.onnx or FILE.pt")
    parser.add_argument("--data", type=Path, required=True, help="EchoNet-style dataset folder")
    parser.add_argument("--split", default="TEST", help="TRAIN, VAL, TEST or all (default TEST)")
    parser.add_argument("--max-videos", type=int, default=0, help="score only the first N videos (0: all)")
    parser.add_argument("--out", type=Path, default=Path("evaluation"),
                        help="folder for evaluation.json and evaluation.md (default ./evaluation)")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def write_report(report: dict, out: Path) -> str:
    table = markdown(report)
    write_json(out / REPORT, report, allow_nan=True)
    with atomic_output(out / "evaluation.md") as temporary:
        temporary.write_text(table, encoding="utf-8")
    return table


def run(args: argparse.Namespace) -> int:
    folder = EchoNetFolder(args.data)
    records = folder.split(args.split)
    if args.max_videos > 0:
        records = records[:args.max_videos]
    if not records:
        raise ValueError(f"{folder.root}: no videos in split {args.split!r}")
    student, teacher = load_segmenter(args.student), load_segmenter(args.teacher)
    report = evaluate(student, teacher, folder, records, progress=args.progress)
    print(write_report(report, args.out), end="")
    return 0
