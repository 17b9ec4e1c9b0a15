"""``python -m distill realism``: image statistics of a real cine beside those of a synthetic set."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("real", type=Path, help="a real echo cine (DICOM, AVI, ...)")
    parser.add_argument("synth_dir", type=Path, help="a folder made by 'generate'")
    parser.add_argument("--max-cines", type=int, default=40, help="synthetic cines sampled (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that sample")


def run(args: argparse.Namespace) -> int:
    from distill.realism import realism_report

    print(realism_report(args.real, args.synth_dir, max_cines=args.max_cines, seed=args.seed))
    return 0
