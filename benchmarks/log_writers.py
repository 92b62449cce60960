"""Each log format written by its real writer, from a plain loop's per-step numbers (`log_cases.Row`), at every
step or every `every`-th step: what `benchmarks/log_accuracy.py` reads back.

- trainer_state.json: transformers' own `TrainerState.save_to_json`, with the Trainer's logging arithmetic
  (transformers 5: each `loss` the mean of the window's step losses, NaN/Inf ones replaced as its default
  `logging_nan_inf_filter` does; `grad_norm` and `learning_rate` the logged step's), in `checkpoint-N/`;
- TensorBoard: `torch.utils.tensorboard.SummaryWriter.add_scalar` (tags train/loss, train/grad_norm, train/lr);
- Lightning: `lightning.pytorch.loggers.CSVLogger.log_metrics` (train_loss, grad_2.0_norm_total, lr-SGD), at
  Lightning's 0-based `global_step`;
- CSV: `csv.writer` (step, loss, grad_norm, lr: Python writes nan, inf);
- JSONL: `json.dumps` per row (step, train_loss, grad_norm, learning_rate: NaN, Infinity tokens).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMATS = ("trainer_state", "tensorboard", "lightning", "csv", "jsonl")


def logged(rows: list[Any], every: int) -> list[Any]:
    return [r for r in rows if r.step % every == 0]


def written_step(fmt: str, step: int) -> int:
    """The step number a format writes for 1-based step `step` (Lightning counts from 0)."""
    return step - 1 if fmt == "lightning" else step


def write_trainer_state(rows: list[Any], every: int, folder: Path) -> Path:
    from transformers import TrainerState

    history, window, last = [], 0.0, 0
    for r in rows:
        global_step = r.step - 1  # completed steps when this step's loss is added
        if math.isfinite(r.loss):
            window += r.loss
        else:  # logging_nan_inf_filter: "add the average of previous logged losses"
            window += window / (1 + global_step - last)
        if r.step % every == 0:
            history.append({"epoch": r.step / len(rows), "grad_norm": r.grad_norm, "learning_rate": r.lr,
                            "loss": window / (r.step - last), "step": r.step})
            window, last = 0.0, r.step
    state = TrainerState(global_step=len(rows), max_steps=len(rows), logging_steps=every, log_history=history)
    path = folder / f"checkpoint-{len(rows)}" / "trainer_state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    state.save_to_json(str(path))
    return path


def write_tensorboard(rows: list[Any], every: int, folder: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    for r in logged(rows, every):
        writer.add_scalar("train/loss", r.loss, r.step)
        writer.add_scalar("train/grad_norm", r.grad_norm, r.step)
        writer.add_scalar("train/lr", r.lr, r.step)
    writer.close()
    return next(folder.glob("*tfevents*"))


def write_lightning(rows: list[Any], every: int, folder: Path) -> Path:
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(save_dir=str(folder), name="lightning_logs", version=0)
    logger.log_hyperparams({"every": every})
    for r in logged(rows, every):
        logger.log_metrics({"train_loss": r.loss, "grad_2.0_norm_total": r.grad_norm, "lr-SGD": r.lr},
                           step=written_step("lightning", r.step))
    logger.save()
    logger.finalize("success")
    return folder / "lightning_logs" / "version_0" / "metrics.csv"


def write_csv(rows: list[Any], every: int, folder: Path) -> Path:
    path = folder / "metrics.csv"
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss", "grad_norm", "lr"])
        writer.writerows([r.step, r.loss, r.grad_norm, r.lr] for r in logged(rows, every))
    return path


def write_jsonl(rows: list[Any], every: int, folder: Path) -> Path:
    path = folder / "metrics.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"step": r.step, "train_loss": r.loss, "grad_norm": r.grad_norm,
                                        "learning_rate": r.lr}) + "\n" for r in logged(rows, every)))
    return path


WRITERS: dict[str, Callable[[list[Any], int, Path], Path]] = {
    "trainer_state": write_trainer_state, "tensorboard": write_tensorboard, "lightning": write_lightning,
    "csv": write_csv, "jsonl": write_jsonl}
