"""The instrumented training loop behind `diagnose`, `recommend` and `compare`.

Seeded, so the same config gives the same numbers run after run, and so a clipped rerun sees the same initial
weights and data order as the baseline. The loop is the plain one a user writes (zero_grad, loss, backward,
[clip], step) with `Monitor.record` after backward; it stops when the weights are no longer finite, and it
keeps everything recorded when the user's code raises or the user presses Ctrl-C.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradscope.build.loading import (
    build_batches,
    build_loss,
    build_model,
    build_optimizer,
    move_to,
    resolve_device,
    user_code,
)
from gradscope.build.schedules import build_schedule
from gradscope.config.load import Config
from gradscope.diagnose.diagnosis import Diagnosis
from gradscope.drivers.distributed import rank_slice, replay_model, start, wrap
from gradscope.errors import GradscopeError, UserCodeError
from gradscope.monitor.monitor import StepStats
from gradscope.record.locate import StepReplay
from gradscope.record.recipe import Recipe
from gradscope.record.recorder import RunRecorder, write_empty_run
from gradscope.record.replay import restore_rng, rng_snapshot
from gradscope.trace.run_folder import prepare_run_folder, write_resolved_config
from gradscope.trace.trace import StopReason, Trace

Progress = Callable[[int, int, StepStats], None]


@dataclass(frozen=True)
class RunResult:
    """A finished (or stopped) run: its trace, findings, folder and how it ended; `error` is what ended it when
    `stop` is StopReason.ERROR: the user's code raising (UserCodeError), bad input found mid-run
    (GradscopeError) or a write that failed (OSError)."""

    trace: Trace
    diagnosis: Diagnosis
    run_dir: Path
    stop: StopReason = StopReason.COMPLETED
    error: Exception | None = None

    @property
    def interrupted(self) -> bool:
        return self.stop is StopReason.INTERRUPTED


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) before the model is built."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(config: Config, run_dir: Path, *, steps: int | None = None, progress: Progress | None = None,
          label: str = "", write_plots: bool = True) -> RunResult:
    """Run `steps` instrumented optimizer steps of `config` (clipped as its `clip` says) and write the run's
    artifacts into `run_dir`."""
    session = TrainingSession(config, run_dir, steps=steps, label=label)
    session.advance(session.steps, progress)
    return session.finish(write_plots=write_plots)


class TrainingSession:
    """One seeded run that can advance a few steps at a time (recommend's trials interleave several).

    Each session keeps its own copy of the global RNG states (torch, NumPy, Python) and swaps them in while it
    runs, so a run advanced in pieces, interleaved with other runs, is step for step the run made in one go.
    """

    def __init__(self, config: Config, run_dir: Path, *, steps: int | None = None, label: str = "") -> None:
        self.config = config
        self.steps = steps or config.run.steps
        self.clip = config.clip
        self.label = label or config.name
        # Under torchrun (`[run] parallel`): join the process group first, so only rank 0 writes from here on.
        self.device, self.world = start(config.run, resolve_device(config.run.device), config.source)
        # A reused --out must not show an older run's files (the config itself may be one of them: kept).
        self.run_dir = prepare_run_folder(Path(run_dir), keep=[config.path])
        write_resolved_config(self.run_dir, replace(config, run=replace(config.run, steps=self.steps)))
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        outer = rng_snapshot(host=True)
        seed_everything(config.run.seed)
        try:
            self.model = build_model(config)
            self.source = build_batches(config, config.run.seed)
            self.batches = iter(self.source)
            self.loss_fn = build_loss(config)
            self.model.to(self.device)
            self.model = wrap(self.model, config.run.parallel, self.device)  # DDP / FSDP2, before the optimizer
            self.model.train()
            self.optimizer = build_optimizer(config, self.model)
            self.scheduler = build_schedule(config, self.optimizer, self.steps)
        except (UserCodeError, GradscopeError, KeyboardInterrupt) as exc:  # the run folder still reads as a run
            write_empty_run(self.run_dir, self.steps, self.label,
                             StopReason.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else StopReason.ERROR)
            raise
        finally:
            self._rng = rng_snapshot(host=True)
            restore_rng(outer)
        self.recipe = Recipe.build(self.device, config.run.precision, config.run.accumulate)
        # The folder is prepared above (its resolved config written); rows stream into it from rank 0.
        self.recorder = RunRecorder(self.model, self.run_dir, clip=self.clip, scaler=self.recipe.scaler,
                                    steps_requested=self.steps, label=self.label, track_max_abs=True,
                                    recent=max(self.steps, 256), history=max(self.steps, 4096), prepare=False)
        self.monitor, self.trace, self.guard = self.recorder.monitor, self.recorder.trace, self.recorder.guard
        self.step = 0
        self.stop: StopReason | None = None  # why no more steps can run; None while the run can go on
        self.error: Exception | None = None  # with StopReason.ERROR: what ended the run (see RunResult)
        self.first_batch: Any = None

    def advance(self, n: int, progress: Progress | None = None) -> bool:
        """Run up to `n` more steps; False once the run cannot go on (done, non-finite weights, error, Ctrl-C)."""
        if self.stop is not None:
            return False
        outer = rng_snapshot(host=True)
        restore_rng(self._rng)
        try:
            self._advance(min(n, self.steps - self.step), progress)
            self.trace.flush()
        except KeyboardInterrupt:
            self.stop = StopReason.INTERRUPTED
        except (UserCodeError, GradscopeError, OSError) as exc:  # bad input found mid-run, a full disk: finish()
            self.stop, self.error = StopReason.ERROR, exc          # still leaves the run folder readable
        finally:
            self._rng = rng_snapshot(host=True)
            restore_rng(outer)
        if self.step >= self.steps and self.stop is None:
            finite = self.recorder.check_final_weights()
            self.stop = StopReason.COMPLETED if finite else StopReason.NONFINITE_WEIGHTS
        return self.stop is None

    def _advance(self, n: int, progress: Progress | None) -> None:
        optimizer, recorder, recipe = self.optimizer, self.recorder, self.recipe
        for _ in range(n):
            step = self.step
            optimizer.zero_grad(set_to_none=True)
            micro = self._accumulate(step)
            lr = float(optimizer.param_groups[0].get("lr", float("nan")))  # what this step uses
            recipe.unscale(optimizer)  # norms and clipping see the true gradients, as AMP's docs prescribe
            model = replay_model(self.model, self.config.run.parallel)  # no collective in the replay
            replay = None if model is None else StepReplay(model, self.loss_fn, [(b, r) for _, b, r in micro], recipe)
            stats = recorder.record(Recipe.step_loss([loss for loss, _, _ in micro]), lr=lr, replay=replay)
            self.step += 1
            if stats.nonfinite_weights:
                self.stop = StopReason.NONFINITE_WEIGHTS  # nothing more to learn from NaN weights
                return
            if replay is not None and self.step == self.steps and recipe.precision != "fp32":
                recorder.check_hidden_overflow(replay)  # once, at the last step
            if recorder.before_step():
                with user_code("optimizer.step()", step):
                    recipe.step(optimizer)
            else:  # the guard skipped this update (a non-finite loss or gradient)
                recipe.skip()
            if self.scheduler is not None:
                self._step_schedule(step)
            if progress is not None:
                progress(self.step, self.steps, stats)

    def _accumulate(self, step: int) -> list[tuple[Any, Any, Any]]:
        """Forward and backward of the step's micro-batches: (loss, batch, RNG state before it) for each."""
        micro = []
        for _ in range(self.recipe.accumulate):
            part = rank_slice(next(self.batches), self.world, self.source.batch_size_at)  # this rank's part
            batch = move_to(part, self.device)
            if self.first_batch is None:
                self.first_batch = batch  # kept for input statistics (recommend's input-scale note)
            rng = rng_snapshot(self.device)
            with user_code("your model or loss code", step), self.recipe.autocast():
                loss = self.loss_fn(self.model, batch)
            with user_code("backward() through your model", step):
                self.recipe.backward(loss)
            micro.append((loss.detach(), batch, rng))
        return micro

    def _step_schedule(self, step: int) -> None:
        with warnings.catch_warnings(), user_code("your learning-rate schedule", step):
            # A GradScaler that skips the very first update makes torch warn that the schedule stepped
            # before the optimizer: expected with fp16, and what a plain loop does too.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self.scheduler.step()

    def finish(self, *, write_plots: bool = True) -> RunResult:
        """Close the trace, diagnose it and write the run's artifacts."""
        diagnosis = self.recorder.finish(self.stop or StopReason.COMPLETED, plots=write_plots)
        return RunResult(self.trace, diagnosis, self.run_dir, self.trace.info.stopped, self.error)

