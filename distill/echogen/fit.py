"""``python -m distill train-generator``: a label-to-echo generator learned from human-labelled frames.

It learns what an echo looks like given its labels (CAMUS: LV cavity, myocardium, left atrium) from
the frames as the product's model view cuts them, keeps the ED/ES label maps of its training
patients as shape sources, measures its residual grain on held-out patients and writes the folder
:func:`distill.echogen.generator.load_generator` reads. ``distill generate --generator DIR`` then
draws cines from it: frames that no scanner recorded, so a student trained on them still sees no
real image. The folder inherits the training data's licence, recorded in its card.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from distill.datasets.labelled import LabelledCase, camus_label_maps
from distill.echogen import CARD
from distill.echogen.generator import save_generator
from distill.echogen.network import LabelToEcho, gaussian_nll
from distill.echogen.render import fit_grain, residual_correlation
from distill.echogen.shapes import ShapeSource
from distill.errors import UsageError
from distill.progress import Progress
from distill.realeval import one_frame_cine
from distill.train_teacher import data_licence, in_validation, patient_of
from echoviewer.analysis.preprocess import model_view
from echoviewer.io.errors import one_line

STAGE = "train-generator"
_VIEWS = {"4CH": "A4C", "2CH": "A2C"}


def model_view_pairs(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, images (N, 112, 112) uint8, label maps (N, 112, 112) uint8) as the model view cuts them."""
    names, images, labels = [], [], []
    with tempfile.TemporaryDirectory(prefix="train-generator-") as scratch:
        for name, image, label in camus_label_maps(path):
            cine = one_frame_cine(LabelledCase(name, "", (), image=image), Path(scratch))
            frames, _, crop = model_view(cine)
            names.append(name)
            images.append(frames[0])
            labels.append(crop.to_model(label[None], interpolation=cv2.INTER_NEAREST)[0])
    return names, np.stack(images), np.stack(labels)


def shape_sources(names: list[str], labels: np.ndarray) -> list[ShapeSource]:
    """One source per patient and view that has both its ED and its ES label map."""
    by_key = {name: label for name, label in zip(names, labels)}
    sources = []
    for name in names:
        if name.endswith("_ED") and (es := by_key.get(name[:-3] + "_ES")) is not None:
            view = next((v for k, v in _VIEWS.items() if f"_{k}_" in name), "A4C")
            sources.append(ShapeSource(name[:-3], view, by_key[name], es))
    return sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labelled", type=Path, required=True,
                        help="CAMUS frames with all their labels: the .npz or a patientNNNN/ NIfTI folder")
    parser.add_argument("--out", type=Path, required=True, help="generator folder (new or empty)")
    parser.add_argument("--epochs", type=int, default=10, help="(default 10)")
    parser.add_argument("--batch", type=int, default=16, help="(default 16)")
    parser.add_argument("--lr", type=float, default=2e-3, help="(default 0.002)")
    parser.add_argument("--val-share", type=float, default=0.1,
                        help="share of patients held out to measure the grain and the fit (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=0.0, help="time budget (0: none)")
    parser.add_argument("--data-licence", default="", help="the data's licence, recorded in the card")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def _evaluate(network: LabelToEcho, labels: torch.Tensor, images: torch.Tensor
              ) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Held-out (negative log-likelihood per pixel, grey MAE, mean, std)."""
    network.eval()
    with torch.no_grad():
        mean, log_std = network(labels)
        loss = gaussian_nll(mean, log_std, images)
        mae = float((mean - images).abs().mean())
    return float(loss), mae, mean.numpy(), np.exp(log_std.numpy())


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} is not a new or empty folder; choose another --out")
    if args.epochs < 1 or args.batch < 2 or not 0 < args.val_share < 1:
        raise UsageError("--epochs must be ≥ 1, --batch ≥ 2 and --val-share between 0 and 1")
    licence = data_licence("camus", args.data_licence)
    try:
        names, images_u8, labels_u8 = model_view_pairs(args.labelled)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--labelled: {one_line(exc)}") from None
    patients = [patient_of(name) for name in names]
    held = np.array([in_validation(patient, args.val_share) for patient in patients])
    if held.all() or not held.any():
        raise UsageError(f"--labelled has too few patients ({len(set(patients))}) to hold some out")
    torch.manual_seed(args.seed)
    images = torch.from_numpy(images_u8.astype(np.float32) / 255.0)
    labels = torch.from_numpy(labels_u8.astype(np.int64))
    train_index = np.nonzero(~held)[0]
    network = LabelToEcho()
    steps_per_epoch = max(len(train_index) // args.batch, 1)
    optimiser = torch.optim.AdamW(network.parameters(), args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.epochs * steps_per_epoch)
    rng = np.random.default_rng(args.seed)
    progress = Progress(STAGE, total=args.epochs, mode=args.progress, unit="epoch")
    start, history = time.monotonic(), []
    try:
        for epoch in range(args.epochs):
            network.train()
            order = rng.permutation(train_index)
            total = 0.0
            for step in range(steps_per_epoch):
                batch = order[step * args.batch:(step + 1) * args.batch]
                x, y = labels[batch], images[batch]
                if rng.random() < 0.5:  # a mirrored heart is still a heart: both framings
                    x, y = x.flip(-1), y.flip(-1)
                mean, log_std = network(x)
                loss = gaussian_nll(mean, log_std, y)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                total += loss.item()
            val_loss, val_mae, mean, std = _evaluate(network, labels[held], images[held])
            history.append({"epoch": epoch + 1, "train_loss": round(total / steps_per_epoch, 4),
                            "val_loss": round(val_loss, 4), "val_mae": round(val_mae, 4)})
            progress.advance(**history[-1])
            if args.minutes and time.monotonic() - start > 60 * args.minutes:
                break
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: nothing written to {out}", file=sys.stderr)
        return 130
    progress.close()
    residuals = (images[held].numpy() - mean) / std
    valid = std > 0.03  # inside the sector: outside it the network is sure of black
    rho_x, rho_y = residual_correlation(residuals, valid, 2), residual_correlation(residuals, valid, 1)
    grain = fit_grain(rho_x, rho_y)
    sources = shape_sources([n for n, h in zip(names, held) if not h], labels_u8[~held])
    card = {"kind": "label-to-echo generator", "data": {"path": args.labelled.name, "frames": int((~held).sum()),
                                                          "patients": len({p for p, h in zip(patients, held) if not h}),
                                                          "held_out_patients": len({p for p, h in zip(patients, held) if h})},
            "licence": licence, "training": {"epochs": len(history), "batch": args.batch, "lr": args.lr, "seed": args.seed},
            "history": history, "validation": {"loss": round(val_loss, 4), "mae_grey": round(255 * val_mae, 2),
                                               "rho_x": np.round(rho_x, 3).tolist(), "rho_y": np.round(rho_y, 3).tolist()},
            "shapes": len(sources)}
    save_generator(out, network, grain, sources, card)
    print(f"done: {len(sources)} shape sources, held-out grey MAE {255 * val_mae:.1f}, grain {grain.as_dict()} "
          f"-> {out / CARD}")
    return 0
