"""``python -m distill train``: fit a network to soft targets (a teacher's, or the simulator truth).

A plain PyTorch loop, as in the paper: Adam, BCE-with-logits on the soft targets (optionally plus
a soft Dice term), one random window per video per epoch, validation loss every epoch, early
stopping. Files in ``--out``:

* ``config.json``: the settings (a resumed run must use the same ones);
* ``last.pt``: model, optimiser, RNG states and history after the last finished epoch, written
  atomically, so ``--resume`` after a kill continues from there with the same results;
* ``best.pt``: the weights with the lowest validation loss so far;
* ``history.json``: per-epoch losses and times.

Cancelling (Ctrl-C, SIGTERM, or the ``cancelled`` callback) is checked before every step, so it
takes effect within a step; the work of the unfinished epoch is dropped.

Under ``torchrun --nproc_per_node N`` each process trains on its share of every batch
(DistributedDataParallel; gloo on CPU, NCCL on GPU) and rank 0 writes the files. At the end the
ranks compare checksums of their weights and record them in ``summary.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from distill.augment import augment
from distill.clips import Clip, load_clips, stack_windows, window_starts
from distill.datasets.echonet import EchoNetFolder
from distill.networks import build, parameter_count
from distill.networks.checkpoints import read_checkpoint, save_checkpoint
from distill.progress import Progress
from echoviewer.io.atomic import is_temporary, remove_temporaries, write_json
from echoviewer.run_contract import DONE, EPOCH, TrainFolder, event_line, tagged, write_line

ProgressCallback = Callable[[dict], None]


class Cancelled(Exception):
    """Training stopped on request; ``last.pt`` holds the last finished epoch."""


@dataclass
class TrainConfig:
    data: str
    targets: str  # a folder made by 'distill targets', or "truth"
    out: str
    model: str = "fast"
    epochs: int = 60
    patience: int = 10
    batch: int = 8  # clips per step (all processes together)
    clip: int = 16  # frames per clip
    lr: float = 1e-3
    schedule: str = "constant"  # or "cosine": lr decays to 0 over `epochs` (the paper: constant)
    dice: float = 0.0  # weight of the soft Dice term added to BCE
    augment: float = 0.0  # domain-randomisation strength (0 = none, 1 = strong)
    clutter: float = 0.0  # share of clips given near-field clutter over the apex (distill.augment)
    seed: int = 0
    device: str = "auto"

    def identity(self) -> dict:
        """What must not change between a run and its resumption."""
        identity = {k: v for k, v in asdict(self).items() if k not in ("epochs", "patience", "device", "out")}
        if not self.clutter:
            del identity["clutter"]  # a run made before the setting existed resumes
        return identity


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _device(name: str, rank: int) -> torch.device:
    if name == "auto":
        name = f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def loss_terms(logits: torch.Tensor, target: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """Mean BCE-with-logits on soft targets, plus ``dice_weight`` × (1 − soft Dice) per frame."""
    loss = F.binary_cross_entropy_with_logits(logits, target)
    if dice_weight:
        p = torch.sigmoid(logits).flatten(-3)
        t = target.flatten(-3)
        dice = (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)
        loss = loss + dice_weight * (1 - dice.mean())
    return loss


def _weights_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_last(files: TrainFolder, config: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              history: list, **state: object) -> None:
    """A resumable run's state: ``config.json`` the first time (``config`` a dataclass with
    ``identity()``), ``last.pt`` (weights, optimiser, history, torch's global RNG and ``state``: the
    counters and the run's own RNG states) and ``history.json``."""
    if not files.config.is_file():
        write_json(files.config, {"config": asdict(config), "identity": config.identity()}, allow_nan=True)
    save_checkpoint(files.last, model, optimizer=optimizer.state_dict(), history=json.dumps(history),
                    torch_global_rng=torch.get_rng_state(), **state)
    write_json(files.history, history, allow_nan=True)  # a diverged loss is NaN


def before_first_epoch(files: TrainFolder) -> bool:
    """Whether the folder holds only what a run killed before its first finished epoch can leave
    (``best.pt`` and ``config.json`` come just before the first ``last.pt``, and temporaries of
    half-written files): nothing to resume, so a start may clear it and begin again."""
    if not files.path.is_dir() or files.last.is_file():
        return False
    leftovers = {files.best.name, files.config.name, files.history.name}
    return all(p.name in leftovers or is_temporary(p) for p in files.path.iterdir())


def clear_for_start(files: TrainFolder, resume: bool) -> bool:
    """Get ``files`` ready for a run and say whether it resumes: temporaries a kill left are
    removed; a folder killed before its first finished epoch is emptied and starts afresh, asked
    to resume or not (every state a kill leaves can go on)."""
    if not files.path.is_dir():
        return resume
    remove_temporaries(files.path)
    if before_first_epoch(files):
        for leftover in files.path.iterdir():
            leftover.unlink()
        return False
    return resume


class _Run:
    """State of one training run (one process)."""

    def __init__(self, config: TrainConfig, resume: bool) -> None:
        self.config = config
        self.rank, self.world = _distributed()
        self.device = _device(config.device, self.rank)
        self.out = Path(config.out)
        self.files = TrainFolder(self.out)
        torch.manual_seed(config.seed)
        self.model = build(config.model).to(self.device)
        self.per_frame = getattr(self.model, "temporal", "frame") == "frame"
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.rng = np.random.default_rng([config.seed, 1])
        self.generator = torch.Generator().manual_seed(config.seed)
        self.epoch, self.best, self.best_epoch = 0, float("inf"), -1
        self.history: list[dict[str, Any]] = []
        self._prepare_out(resume)
        self.net: nn.Module  # the model, or its DistributedDataParallel wrapper
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        else:
            self.net = self.model

    def _prepare_out(self, resume: bool) -> None:
        last = self.files.last
        if self.world > 1:  # every rank decides on the folder as rank 0 found it, before it changes
            decided = [resume and not before_first_epoch(self.files)]
            dist.broadcast_object_list(decided, 0)
            if self.rank == 0:
                clear_for_start(self.files, resume)
            dist.barrier()
            resume = bool(decided[0])
        else:
            resume = clear_for_start(self.files, resume)
        if resume:
            if not last.is_file():
                raise ValueError(f"{self.out}: nothing to resume (no {last.name}); start without --resume")
            saved = json.loads(self.files.config.read_text(encoding="utf-8"))
            if saved.get("identity") != self.config.identity():
                raise ValueError(f"{self.out} was trained with other settings ({saved.get('identity')}); "
                                 "resume with the same ones or choose a new --out")
            self._restore(read_checkpoint(last))
            return
        if self.rank == 0:
            if self.out.exists() and any(self.out.iterdir()):
                raise ValueError(f"{self.out} is not empty; choose a new --out folder or pass --resume")
            self.out.mkdir(parents=True, exist_ok=True)  # config.json comes with the first last.pt, so a
            # start that fails before (missing targets, Ctrl-C in epoch 1) leaves the folder empty for a retry
        if self.world > 1:
            dist.barrier()

    def _restore(self, checkpoint: dict) -> None:
        self.model.load_state_dict(checkpoint["state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.epoch, self.best, self.best_epoch = checkpoint["epoch"], checkpoint["best"], checkpoint["best_epoch"]
        self.history = json.loads(checkpoint["history"])
        self.rng.bit_generator.state = json.loads(checkpoint["numpy_rng"])
        self.generator.set_state(checkpoint["torch_rng"])
        torch.set_rng_state(checkpoint["torch_global_rng"])

    def _save_last(self) -> None:
        save_last(self.files, self.config, self.model, self.optimizer, self.history, epoch=self.epoch,
                  best=self.best, best_epoch=self.best_epoch, numpy_rng=json.dumps(self.rng.bit_generator.state),
                  torch_rng=self.generator.get_state())

    def _batch(self, clips: list[Clip], starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        length = self.config.clip
        indices = None
        if self.per_frame:  # independent frames decorrelate a per-frame network's batch
            indices = np.stack([self.rng.integers(0, len(c.frames), length) for c in clips])
        return stack_windows(clips, starts, length, frame_indices=indices)

    def _set_learning_rate(self) -> None:
        """The epoch's rate; a function of the epoch alone, so a resumed run follows the same curve."""
        lr = self.config.lr
        if self.config.schedule == "cosine":
            lr *= 0.5 * (1 + math.cos(math.pi * self.epoch / self.config.epochs))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        x, y = augment(x, y, self.config.augment, self.generator, self.config.clutter)
        x, y = x.to(self.device), y.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss = loss_terms(self.net(x), y, self.config.dice)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def validate(self, clips: list[Clip]) -> float:
        """Mean loss over fixed windows (the same every epoch), no augmentation."""
        self.model.eval()
        starts = np.array([max(len(c.frames) - self.config.clip, 0) // 2 for c in clips])
        total, count = 0.0, 0
        with torch.inference_mode():
            for i in range(0, len(clips), self.config.batch):
                x, y = stack_windows(clips[i:i + self.config.batch], starts[i:i + self.config.batch], self.config.clip)
                total += float(loss_terms(self.model(x.to(self.device)), y.to(self.device), self.config.dice)) * len(x)
                count += len(x)
        self.model.train()
        return total / count

    def fit(self, train: list[Clip], val: list[Clip], on_progress: ProgressCallback,
            cancelled: Callable[[], bool]) -> dict:
        cfg = self.config
        steps = max(len(train) // cfg.batch, 1)
        local = cfg.batch // self.world
        self.model.train()
        start_time = time.monotonic()
        while self.epoch < cfg.epochs and self.epoch - self.best_epoch <= cfg.patience:
            epoch_start = time.monotonic()
            self._set_learning_rate()
            order = self.rng.permutation(len(train))
            starts = window_starts(train, cfg.clip, self.rng)
            losses = []
            for step in range(steps):
                if cancelled():
                    raise Cancelled(f"cancelled during epoch {self.epoch + 1}; 'python -m distill train "
                                    f"--resume --out {self.out} ...' continues from epoch {self.epoch + 1}")
                chosen = order[step * cfg.batch:(step + 1) * cfg.batch][self.rank * local:(self.rank + 1) * local]
                losses.append(self._step(*self._batch([train[i] for i in chosen], starts[chosen])))
                on_progress({"epoch": self.epoch + 1, "epochs": cfg.epochs, "step": step + 1, "steps": steps,
                             "loss": round(float(np.mean(losses)), 5)})
            if self.world > 1:  # each rank's last forward updated its BatchNorm statistics on its own share
                for buffer in self.model.buffers():
                    dist.broadcast(buffer, 0)
            val_loss = self.validate(val)
            self.epoch += 1
            if val_loss < self.best:
                self.best, self.best_epoch = val_loss, self.epoch
                if self.rank == 0:
                    save_checkpoint(self.files.best, self.model, epoch=self.epoch, val_loss=val_loss,
                                    train=json.dumps(asdict(cfg)))
            self.history.append({"epoch": self.epoch, "loss": float(np.mean(losses)), "val_loss": val_loss,
                                 "seconds": round(time.monotonic() - epoch_start, 2)})
            if self.rank == 0:
                self._save_last()
            on_progress({"event": EPOCH, "epoch": self.epoch, "epochs": cfg.epochs, "loss": self.history[-1]["loss"],
                         "val_loss": round(val_loss, 5), "best_val_loss": round(self.best, 5),
                         "best_epoch": self.best_epoch})
        return self._finish(time.monotonic() - start_time)

    def _finish(self, seconds: float) -> dict:
        checksum = _weights_sha256(self.model)
        summary: dict[str, Any] = {
            "epochs": self.epoch, "best_epoch": self.best_epoch, "best_val_loss": self.best,
            "parameters": parameter_count(self.model), "world_size": self.world, "seconds": round(seconds, 1)}
        if self.world > 1:
            gathered: list[str] = [""] * self.world
            dist.all_gather_object(gathered, checksum)
            summary["weights_sha256_per_rank"] = gathered
            if len(set(gathered)) != 1:
                raise RuntimeError(f"ranks hold different weights after training: {gathered}")
        else:
            summary["weights_sha256_per_rank"] = [checksum]
        if self.rank == 0:
            write_json(self.files.summary, summary, allow_nan=True)
        return summary


def train(config: TrainConfig, *, resume: bool = False, on_progress: ProgressCallback | None = None,
          cancelled: Callable[[], bool] | None = None, progress: str = "none") -> dict:
    """Train as ``config`` says; returns the summary (also written to ``summary.json``)."""
    if config.batch < 1 or config.clip < 1 or config.epochs < 1:
        raise ValueError("batch, clip and epochs must be at least 1")
    if config.schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be constant or cosine, not {config.schedule!r}")
    run = _Run(config, resume)
    if config.batch % run.world:
        raise ValueError(f"--batch {config.batch} must be a multiple of the {run.world} processes")
    folder = EchoNetFolder(config.data)
    mode = progress if run.rank == 0 else "none"
    train_clips = load_clips(folder, "TRAIN", config.targets, progress=mode)
    val_clips = load_clips(folder, "VAL", config.targets, progress=mode)
    return run.fit(train_clips, val_clips, on_progress or (lambda event: None), cancelled or (lambda: False))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig("", "", "")
    parser.add_argument("--data", required=True, help="EchoNet-style folder with TRAIN and VAL videos")
    parser.add_argument("--targets", required=True, help="folder made by 'distill targets', or 'truth'")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, history")
    parser.add_argument("--model", default=defaults.model, help="fast, teacher, convlstm or convlstm:KxN")
    for field in fields(TrainConfig):
        if field.name not in ("data", "targets", "out", "model"):
            parser.add_argument(f"--{field.name}", type=type(getattr(defaults, field.name)),
                                default=getattr(defaults, field.name), help=f"default {getattr(defaults, field.name)}")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def _progress_printer(mode: str) -> tuple[ProgressCallback, Callable[[], None]]:
    """A callback showing training as one bar (or JSON lines) over steps × the epoch limit."""
    state: dict[str, Progress] = {}

    def on_progress(event: dict) -> None:
        if event.get("event") == EPOCH:
            if mode == "json":
                write_line(tagged("train", event))
            elif mode == "bar":
                tqdm.write(f"epoch {event['epoch']}: loss {event['loss']:.4f}, val {event['val_loss']:.4f} "
                           f"(best {event['best_val_loss']:.4f} at epoch {event['best_epoch']})", file=sys.stderr)
            return
        if "bar" not in state:
            done = (event["epoch"] - 1) * event["steps"] + event["step"] - 1
            state["bar"] = Progress("train", total=event["steps"] * event["epochs"], done=done, mode=mode, unit="step")
        state["bar"].advance(1, epoch=event["epoch"], loss=event["loss"])

    return on_progress, lambda: state.pop("bar").close() if "bar" in state else None


def run(args: argparse.Namespace) -> int:
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    stop = {"requested": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["requested"] = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    rank, world = _distributed()
    on_progress, close = _progress_printer(args.progress if rank == 0 else "none")
    try:
        summary = train(config, resume=args.resume, on_progress=on_progress, cancelled=lambda: stop["requested"],
                        progress=args.progress)
    except Cancelled as exc:
        close()
        print(str(exc), file=sys.stderr)
        return 130
    finally:
        close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0 and args.progress == "json":
        write_line(event_line("train", DONE, **summary))
    elif rank == 0:
        print(f"done: {summary['epochs']} epochs, best val loss {summary['best_val_loss']:.4f} at epoch "
              f"{summary['best_epoch']} -> {TrainFolder(Path(config.out)).best}")
    if world > 1:  # every file is written: leave now. torch's gloo can abort the interpreter's shutdown
        # ("terminate called without an active exception"; torch 2.13, busy CPU), failing a finished run
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
