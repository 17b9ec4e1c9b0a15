"""``python -m distill COMMAND``: the distillation toolkit's command line.

Commands: ``generate`` (synthetic A4C cines with truth), ``realism`` (real vs synthetic image
statistics), ``targets`` (a teacher's soft masks), ``train``, ``evaluate``, ``export`` and
``reproduce-bundled``. Errors in what the user asked for print one line and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from distill import bundled, evaluate, export, generate, targets, train
from echoviewer.io.errors import CineLoadError


def _realism(args: argparse.Namespace) -> int:
    from distill.realism import realism_report

    print(realism_report(args.real, args.synth_dir, max_cines=args.max_cines, seed=args.seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m distill", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = commands.add_parser("generate", help="simulate a seeded synthetic A4C dataset with ground truth",
                              description=generate.__doc__.splitlines()[0])
    generate.add_arguments(gen)
    gen.set_defaults(handler=generate.run)
    real = commands.add_parser("realism", help="compare image statistics of a real cine and a synthetic set")
    real.add_argument("real", type=Path, help="a real echo cine (DICOM, AVI, ...)")
    real.add_argument("synth_dir", type=Path, help="a folder made by 'generate'")
    real.add_argument("--max-cines", type=int, default=40, help="synthetic cines sampled (default 40)")
    real.add_argument("--seed", type=int, default=0, help="seed of that sample")
    real.set_defaults(handler=_realism)
    for module, name, help_text in ((targets, "targets", "run a teacher over a dataset: soft masks per video"),
                                    (train, "train", "train a student (or the teacher) on soft targets"),
                                    (evaluate, "evaluate", "score a student against a teacher, no labels needed"),
                                    (export, "export", "write a trained network as ONNX with its model card"),
                                    (bundled, "reproduce-bundled", "rebuild resources/models from a seed")):
        sub = commands.add_parser(name, help=help_text, description=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (generate.UsageError, ValueError, CineLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing folder, no permission, a full disk
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
