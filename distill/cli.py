"""``python -m distill COMMAND``: the distillation toolkit's command line.

Commands: ``generate`` (synthetic A4C cines with truth), ``realism`` (real vs synthetic image
statistics), ``realeval`` (a model scored on real echo), ``targets`` (a teacher's soft masks),
``train``, ``train-teacher`` (a teacher from human-labelled frames), ``train-generator`` (a
learned generator of synthetic frames), ``train-view-gate`` (the view gate's classifier), ``evaluate``, ``export`` and
``reproduce-bundled``. Errors in what the user asked for print one line and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from distill.errors import UsageError
from echoviewer.io.errors import CineLoadError

# name → (module, help). A command's module is imported only when that command runs, so that
# `generate` and its spawned workers (which re-import this module) never load torch.
COMMANDS = {
    "generate": ("distill.generate", "simulate a seeded synthetic A4C dataset with ground truth"),
    "realism": ("distill.realism_cli", "compare image statistics of a real cine and a synthetic set"),
    "realeval": ("distill.realeval", "score a model on real echo: human labels, label-free checks"),
    "train-teacher": ("distill.train_teacher", "train a teacher on human-labelled real frames and export it"),
    "train-generator": ("distill.echogen.fit", "learn a label-to-echo generator of synthetic frames from labelled frames"),
    "train-view-gate": ("distill.view_gate", "train the view gate's apical-or-not classifier on simulated cines"),
    "targets": ("distill.targets", "run a teacher over a dataset: soft masks per video"),
    "train": ("distill.train", "train a student (or the teacher) on soft targets"),
    "evaluate": ("distill.evaluate", "score a student against a teacher, no labels needed"),
    "export": ("distill.export", "write a trained network as ONNX with its model card"),
    "reproduce-bundled": ("distill.reproduce_bundled", "rebuild echoviewer/resources/models from a seed"),
    "probe": ("distill.probe", "quick checks of a teacher, dataset, generate run or student"),
    "pipeline": ("distill.pipeline", "one distillation run from a plan (the viewer's wizard), resumable"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s options are added (its module imported), if it names one."""
    parser = argparse.ArgumentParser(prog="python -m distill", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            assert module.__doc__ is not None, module_name  # every command module has a docstring
            sub.description = module.__doc__.splitlines()[0]
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, ValueError, CineLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing folder, no permission, a full disk
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
