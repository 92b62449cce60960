"""The instrumented training loop behind `diagnose`, `recommend` and `compare`.

Seeded, so the same config gives the same numbers run after run, and so a clipped rerun sees the same initial
weights and data order as the baseline. The loop is the plain one a user writes (zero_grad, loss, backward,
[clip], step) with `Monitor.record` after backward; it stops when the weights are no longer finite, and it
keeps everything recorded when the user's code raises or the user presses Ctrl-C.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradscope.config import ClipConfig, Config
from gradscope.diagnosis import Diagnosis, diagnose_trace
from gradscope.errors import UserCodeError
from gradscope.guard import Guard
from gradscope.loading import (
    build_batches,
    build_loss,
    build_model,
    build_optimizer,
    move_to,
    resolve_device,
    user_code,
)
from gradscope.locate import Location, locate_nonfinite, rng_snapshot
from gradscope.monitor import Monitor, StepStats
from gradscope.report.artifacts import DIAGNOSIS_FILE
from gradscope.trace import (
    GRAD_NORMS_FILE,
    RUN_FILE,
    TRACE_FILE,
    WEIGHT_NORMS_FILE,
    Event,
    RunInfo,
    Trace,
    write_run_info,
)

Progress = Callable[[int, int, StepStats], None]


@dataclass
class RunResult:
    """A finished (or stopped) run: its trace, findings and folder; `error` is set when user code raised."""

    trace: Trace
    diagnosis: Diagnosis
    run_dir: Path
    interrupted: bool = False
    error: UserCodeError | None = None


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
        from gradscope.report.artifacts import write_resolved_config

        self.config = config
        self.steps = steps or config.run.steps
        self.clip = clip if clip is not None else config.clip
        self.label = label or config.name
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (TRACE_FILE, GRAD_NORMS_FILE, WEIGHT_NORMS_FILE, RUN_FILE, DIAGNOSIS_FILE):
            (self.run_dir / stale).unlink(missing_ok=True)  # a reused --out must not show an older run's trace
        write_resolved_config(self.run_dir, replace(config, run=replace(config.run, steps=self.steps), clip=self.clip))
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        self.device = resolve_device(config.run.device)
        outer = _rng_states()
        seed_everything(config.run.seed)
        try:
            self.model = build_model(config)
            self.batches = iter(build_batches(config, config.run.seed))
            self.loss_fn = build_loss(config)
            self.model.to(self.device)
            self.model.train()
            self.optimizer = build_optimizer(config, self.model)
        except UserCodeError:
            _write_empty_run(self.run_dir, self.steps, self.label)  # the run folder still reads as a run
            raise
        finally:
            self._rng = _rng_states()
            _set_rng_states(outer)
        self.monitor = Monitor(self.model, weight_every=1, track_max_abs=True, recent=max(self.steps, 256),
                               history=max(self.steps, 4096), label=self.label)
        self.trace = self.monitor.trace
        info = self.trace.info
        info.steps_requested = self.steps
        info.clip_mode = "norm" if self.clip.norm is not None else ("value" if self.clip.value is not None else None)
        info.clip_threshold = self.clip.norm if self.clip.norm is not None else self.clip.value
        self.guard: Guard | None = None
        if self.clip.adaptive:  # the Guard records through this monitor, decides and clips
            self.guard = Guard(monitor=self.monitor)
            info.clip_mode = "adaptive"
        self.trace.stream_to(self.run_dir)
        self.step = 0
        self.stopped = False  # no more steps: non-finite weights, an error, Ctrl-C or done
        self.interrupted = False
        self.error: UserCodeError | None = None
        self._located: set[str] = set()
        self.first_batch: Any = None

    def advance(self, n: int, progress: Progress | None = None) -> bool:
        """Run up to `n` more steps; False once the run cannot go on (done, non-finite weights, error, Ctrl-C)."""
        if self.stopped:
            return False
        outer = _rng_states()
        _set_rng_states(self._rng)
        try:
            self._advance(min(n, self.steps - self.step), progress)
        except KeyboardInterrupt:
            self.interrupted = True
            self.trace.info.stopped = "interrupted"
            self.stopped = True
        except UserCodeError as exc:
            self.error = exc
            self.trace.info.stopped = "error"
            self.stopped = True
        finally:
            self._rng = _rng_states()
            _set_rng_states(outer)
        self.trace.flush()
        if self.step >= self.steps and not self.stopped:
            _check_final_weights(self.monitor, self.steps - 1)
            self.stopped = True
        return not self.stopped

    def _advance(self, n: int, progress: Progress | None) -> None:
        model, optimizer, monitor, clip = self.model, self.optimizer, self.monitor, self.clip
        for _ in range(n):
            step = self.step
            batch = move_to(next(self.batches), self.device)
            if step == 0:
                self.first_batch = batch  # kept for input statistics (recommend's input-scale note)
            rng = rng_snapshot(self.device)
            optimizer.zero_grad(set_to_none=True)
            with user_code("your model or loss code", step):
                loss = self.loss_fn(model, batch)
            with user_code("backward() through your model", step):
                loss.backward()
            lr = float(optimizer.param_groups[0].get("lr", float("nan")))
            take = self.guard.step(loss, lr=lr) if self.guard is not None else True  # False: skip the update
            stats = monitor.last if self.guard is not None else monitor.record(loss, lr=lr)
            assert stats is not None  # sync_every=1: statistics land every step
            self.step += 1
            if stats.nonfinite_weights:
                self.trace.info.stopped = "nonfinite_weights"  # nothing more to learn from NaN weights
                self.stopped = True
                return
            _locate_first(monitor, model, self.loss_fn, batch, rng, stats, self._located)
            if clip.norm is not None:
                monitor.clip_norm_(clip.norm)
            elif clip.value is not None:
                monitor.clip_value_(clip.value)
            if take:  # False: the guard skipped this update (a non-finite loss or gradient), no optimizer step
                with user_code("optimizer.step()", step):
                    optimizer.step()
            if progress is not None:
                progress(self.step, self.steps, stats)

    def finish(self, *, write_plots: bool = True) -> RunResult:
        """Close the trace, diagnose it and write the run's artifacts."""
        from gradscope.report.artifacts import write_artifacts

        self.trace.close()
        if self.guard is not None:
            self.trace.info.clip_threshold = self.guard.threshold  # the threshold in force at the end
        write_run_info(self.run_dir, self.trace.info)
        diagnosis = diagnose_trace(self.trace, label=self.label)
        diagnosis.run_dir = str(self.run_dir)
        write_artifacts(self.run_dir, self.trace, diagnosis, plots=write_plots)
        return RunResult(self.trace, diagnosis, self.run_dir, self.interrupted, self.error)


def _write_empty_run(run_dir: Path, steps: int, label: str) -> None:
    """A run that failed while setting up: an empty trace and a diagnosis of zero steps."""
    from gradscope.report.artifacts import write_artifacts

    trace = Trace(RunInfo([], [], steps_requested=steps, stopped="error", label=label))
    trace.stream_to(run_dir)
    trace.close()
    write_run_info(run_dir, trace.info)
    diagnosis = diagnose_trace(trace, label=label)
    diagnosis.run_dir = str(run_dir)
    write_artifacts(run_dir, trace, diagnosis, plots=False)


def _rng_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])


def _locate_first(monitor: Monitor, model: torch.nn.Module, loss_fn, batch, rng, stats: StepStats,
                  located: set[str]) -> None:
    """On the first non-finite loss or gradient, replay the step with hooks and record where it began."""
    kinds = [k for k, bad in (("nonfinite_loss", not stats.loss_finite),
                              ("nonfinite_gradient", bool(stats.nonfinite_grads))) if bad and k not in located]
    if not kinds:
        return
    located.update(kinds)
    loc: Location = locate_nonfinite(model, loss_fn, batch, rng)
    for kind in kinds:
        old = next((e for e in monitor.trace.info.events if e.kind == kind), None)
        parameter = loc.parameter or (old.parameter if old else None)
        others = tuple(n for n in stats.nonfinite_grads if n != parameter)[:20]
        monitor.replace_event(Event(kind, stats.step, parameter=parameter if kind != "nonfinite_loss" else None,
                                    module=loc.module, stage=loc.stage if loc.stage != "unknown" else None,
                                    detail=loc.detail, others=others if kind == "nonfinite_gradient" else ()))


@torch.no_grad()
def _check_final_weights(monitor: Monitor, last_step: int) -> None:
    """The last optimizer.step() is not followed by a record: check its weights once."""
    bad = [n for n, p in zip(monitor.names, monitor.params, strict=True) if not bool(torch.isfinite(p).all())]
    if bad and not any(e.kind == "nonfinite_weight" for e in monitor.trace.info.events):
        monitor.replace_event(Event("nonfinite_weight", last_step, parameter=bad[0], stage="step",
                                    others=tuple(bad[1:21])))
        monitor.trace.info.stopped = "nonfinite_weights"
