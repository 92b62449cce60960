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
from gradscope.config.load import ClipConfig, Config
from gradscope.diagnose.diagnosis import Diagnosis, diagnose_trace
from gradscope.drivers.distributed import is_writer, rank_slice, replay_model, start, wrap
from gradscope.drivers.recipe import Recipe
from gradscope.errors import GradscopeError, UserCodeError
from gradscope.monitor.monitor import Monitor, StepStats
from gradscope.monitor.rank_reduce import ranks_for
from gradscope.record.locate import Location, locate_nonfinite, rng_snapshot
from gradscope.record.op_overflow import find_overflow
from gradscope.trace.run_folder import finish_run_folder, prepare_run_folder, write_resolved_config
from gradscope.trace.trace import Event, RunInfo, StopReason, Trace

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


def train(config: Config, run_dir: Path, *, steps: int | None = None, clip: ClipConfig | None = None,
          progress: Progress | None = None, label: str = "", write_plots: bool = True) -> RunResult:
    """Run `steps` instrumented optimizer steps of `config` and write the run's artifacts into `run_dir`."""
    session = TrainingSession(config, run_dir, steps=steps, clip=clip, label=label)
    session.advance(session.steps, progress)
    return session.finish(write_plots=write_plots)


class TrainingSession:
    """One seeded run that can advance a few steps at a time (recommend's trials interleave several).

    Each session keeps its own copy of the global RNG states (torch, NumPy, Python) and swaps them in while it
    runs, so a run advanced in pieces, interleaved with other runs, is step for step the run made in one go.
    """

    def __init__(self, config: Config, run_dir: Path, *, steps: int | None = None, clip: ClipConfig | None = None,
                 label: str = "") -> None:
        self.config = config
        self.steps = steps or config.run.steps
        self.clip = clip if clip is not None else config.clip
        self.label = label or config.name
        # Under torchrun (`[run] parallel`): join the process group first, so only rank 0 writes from here on.
        self.device, self.world = start(config.run, resolve_device(config.run.device), config.source)
        # A reused --out must not show an older run's files (the config itself may be one of them: kept).
        self.run_dir = prepare_run_folder(Path(run_dir), keep=[config.path])
        write_resolved_config(self.run_dir, replace(config, run=replace(config.run, steps=self.steps), clip=self.clip))
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        outer = _rng_states()
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
            _write_empty_run(self.run_dir, self.steps, self.label,
                             StopReason.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else StopReason.ERROR)
            raise
        finally:
            self._rng = _rng_states()
            _set_rng_states(outer)
        self.recipe = Recipe.build(self.device, config.run.precision, config.run.accumulate)
        self.monitor = Monitor(self.model, scaler=self.recipe.scaler, weight_every=1, track_max_abs=True,
                               recent=max(self.steps, 256), history=max(self.steps, 4096), label=self.label)
        self.trace = self.monitor.trace
        info = self.trace.info
        info.steps_requested = self.steps
        info.clip_mode = "norm" if self.clip.norm is not None else ("value" if self.clip.value is not None else None)
        info.clip_threshold = self.clip.norm if self.clip.norm is not None else self.clip.value
        self.guard = None  # a gradscope.Guard with [clip] adaptive: it records through this monitor and clips
        if self.clip.adaptive:
            from gradscope.clip.guard import Guard

            self.guard = Guard(monitor=self.monitor)
            info.clip_mode = "adaptive"
        if is_writer():
            self.trace.stream_to(self.run_dir)
        self.step = 0
        self.stop: StopReason | None = None  # why no more steps can run; None while the run can go on
        self.error: Exception | None = None  # with StopReason.ERROR: what ended the run (see RunResult)
        self._located: set[str] = set()
        self.first_batch: Any = None

    def advance(self, n: int, progress: Progress | None = None) -> bool:
        """Run up to `n` more steps; False once the run cannot go on (done, non-finite weights, error, Ctrl-C)."""
        if self.stop is not None:
            return False
        outer = _rng_states()
        _set_rng_states(self._rng)
        try:
            self._advance(min(n, self.steps - self.step), progress)
            self.trace.flush()
        except KeyboardInterrupt:
            self.stop = StopReason.INTERRUPTED
        except (UserCodeError, GradscopeError, OSError) as exc:  # bad input found mid-run, a full disk: finish()
            self.stop, self.error = StopReason.ERROR, exc          # still leaves the run folder readable
        finally:
            self._rng = _rng_states()
            _set_rng_states(outer)
        if self.step >= self.steps and self.stop is None:
            finite = _check_final_weights(self.monitor, self.steps - 1)
            self.stop = StopReason.COMPLETED if finite else StopReason.NONFINITE_WEIGHTS
        return self.stop is None

    def _advance(self, n: int, progress: Progress | None) -> None:
        model, optimizer, monitor, clip, recipe = self.model, self.optimizer, self.monitor, self.clip, self.recipe
        for _ in range(n):
            step = self.step
            optimizer.zero_grad(set_to_none=True)
            micro = self._accumulate(step)
            lr = float(optimizer.param_groups[0].get("lr", float("nan")))  # what this step uses
            recipe.unscale(optimizer)  # norms and clipping see the true gradients, as AMP's docs prescribe
            step_loss = Recipe.step_loss([loss for loss, _, _ in micro])
            take = self.guard.step(step_loss, lr=lr) if self.guard is not None else True  # False: skip the update
            stats = monitor.last if self.guard is not None else monitor.record(step_loss, lr=lr)
            assert stats is not None  # sync_every=1: statistics land every step
            self.step += 1
            if stats.nonfinite_weights:
                self.stop = StopReason.NONFINITE_WEIGHTS  # nothing more to learn from NaN weights
                return
            replay = replay_model(model, self.config.run.parallel)  # no collective in the replay
            if replay is not None:
                _locate_first(monitor, replay, self.loss_fn, [(b, r) for _, b, r in micro], recipe, stats,
                              self._located)
                if self.step == self.steps and recipe.precision != "fp32":  # once, at the last step
                    _record_hidden_overflow(monitor, replay, self.loss_fn, [(b, r) for _, b, r in micro], recipe,
                                            stats)
            if clip.norm is not None:
                monitor.clip_norm_(clip.norm)
            elif clip.value is not None:
                monitor.clip_value_(clip.value)
            if take:
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
        self.trace.info.stopped = self.stop or StopReason.COMPLETED
        if self.guard is not None:
            self.trace.info.clip_threshold = self.guard.threshold  # the threshold in force at the end
        diagnosis = finish_run_folder(self.run_dir, self.trace,
                                      diagnose_trace(self.trace, label=self.label, run_dir=self.run_dir),
                                      plots=write_plots)
        return RunResult(self.trace, diagnosis, self.run_dir, self.trace.info.stopped, self.error)


def _write_empty_run(run_dir: Path, steps: int, label: str, stopped: StopReason = StopReason.ERROR) -> None:
    """A run that failed (or was interrupted) while setting up: an empty trace and a diagnosis of zero steps."""
    trace = Trace(RunInfo([], [], steps_requested=steps, stopped=stopped, label=label))
    finish_run_folder(run_dir, trace, diagnose_trace(trace, label=label, run_dir=run_dir), plots=False)


def _rng_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])


def _locate_first(monitor: Monitor, model: torch.nn.Module, loss_fn, micro: list[tuple[Any, Any]], recipe: Recipe,
                  stats: StepStats, located: set[str]) -> None:
    """On the first non-finite loss or gradient, replay the step's micro-batches with hooks (the same autocast
    and loss scale) and record where it began: in the first micro-batch that shows it."""
    kinds = [k for k, bad in (("nonfinite_loss", not stats.loss_finite),
                              ("nonfinite_gradient", bool(stats.nonfinite_grads))) if bad and k not in located]
    if not kinds:
        return
    located.update(kinds)
    for batch, rng in micro:
        loc: Location = locate_nonfinite(model, loss_fn, batch, rng, recipe)
        if loc.stage != "unknown":
            break
    for kind in kinds:
        old = next((e for e in monitor.trace.info.events if e.kind == kind), None)
        parameter = loc.parameter or (old.parameter if old else None)
        others = tuple(n for n in stats.nonfinite_grads if n != parameter)[:20]
        monitor.replace_event(Event(kind, stats.step, parameter=parameter if kind != "nonfinite_loss" else None,
                                    module=loc.module, stage=loc.stage if loc.stage != "unknown" else None,
                                    detail=loc.detail, others=others if kind == "nonfinite_gradient" else (),
                                    op=loc.op.to_dict() if loc.op is not None else None))


def _record_hidden_overflow(monitor: Monitor, model: torch.nn.Module, loss_fn, micro: list[tuple[Any, Any]],
                            recipe: Recipe, stats: StepStats) -> None:
    """Under fp16/bf16, at the last step: replay it under an OverflowWatch (op_overflow.py). An op of the forward
    that overflowed while the loss stayed finite is recorded as an `activation_overflow` event: nothing else in
    the trace shows it (a saturating op after it turned the inf back into a finite 0 or 1)."""
    if not stats.loss_finite:
        return  # a non-finite loss is found, and located, as one
    for batch, rng in micro:
        # A check of a step that ran fine: a model the op-level check cannot replay (compiled, custom kernels)
        # keeps its run, without this finding.
        try:
            found, _ = find_overflow(model, loss_fn, batch, rng, recipe)
        except Exception:  # noqa: BLE001
            return
        op = found.get("forward")
        if op is not None:
            monitor.replace_event(Event("activation_overflow", stats.step, module=op.module, stage="forward",
                                        detail=op.describe(), op=op.to_dict()))
            return


@torch.no_grad()
def _check_final_weights(monitor: Monitor, last_step: int) -> bool:
    """The last optimizer.step() is not followed by a record: check its weights once. True when finite."""
    finite = ranks_for(monitor.params).all_finite(monitor.params)  # under torch.distributed: on every rank
    bad = [n for n, ok in zip(monitor.names, finite, strict=True) if not ok]
    if bad and not any(e.kind == "nonfinite_weight" for e in monitor.trace.info.events):
        monitor.replace_event(Event("nonfinite_weight", last_step, parameter=bad[0], stage="step",
                                    others=tuple(bad[1:21])))
        return False
    return True
