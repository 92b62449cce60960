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

import numpy as np
import torch

from gradscope.config import ClipConfig, Config
from gradscope.diagnosis import Diagnosis, diagnose_trace
from gradscope.errors import UserCodeError
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
from gradscope.trace import Event, Trace, write_run_info

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
    from gradscope.report.artifacts import write_artifacts, write_resolved_config

    steps = steps or config.run.steps
    clip = clip if clip is not None else config.clip
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_resolved_config(run_dir, replace(config, run=replace(config.run, steps=steps), clip=clip))
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    device = resolve_device(config.run.device)
    seed_everything(config.run.seed)
    model = build_model(config)
    batches = iter(build_batches(config, config.run.seed))
    loss_fn = build_loss(config)
    model.to(device)
    model.train()
    optimizer = build_optimizer(config, model)

    monitor = Monitor(model, weight_every=1, track_max_abs=True, recent=max(steps, 256),
                      history=max(steps, 4096), label=label or config.name)
    trace = monitor.trace
    info = trace.info
    info.steps_requested = steps
    info.clip_mode = "norm" if clip.norm is not None else ("value" if clip.value is not None else None)
    info.clip_threshold = clip.norm if clip.norm is not None else clip.value
    trace.stream_to(run_dir)

    interrupted, error = False, None
    located: set[str] = set()
    step = 0
    try:
        for step in range(steps):
            batch = move_to(next(batches), device)
            rng = rng_snapshot(device)
            optimizer.zero_grad(set_to_none=True)
            with user_code("your model or loss code", step):
                loss = loss_fn(model, batch)
            with user_code("backward() through your model", step):
                loss.backward()
            stats = monitor.record(loss, lr=float(optimizer.param_groups[0].get("lr", float("nan"))))
            assert stats is not None  # sync_every=1: statistics land every step
            if stats.nonfinite_weights:
                info.stopped = "nonfinite_weights"  # nothing more to learn from NaN weights
                break
            _locate_first(monitor, model, loss_fn, batch, rng, stats, located)
            if clip.norm is not None:
                monitor.clip_norm_(clip.norm)
            elif clip.value is not None:
                monitor.clip_value_(clip.value)
            with user_code("optimizer.step()", step):
                optimizer.step()
            if progress is not None:
                progress(step + 1, steps, stats)
        else:
            _check_final_weights(monitor, steps - 1)
    except KeyboardInterrupt:
        interrupted = True
        info.stopped = "interrupted"
    except UserCodeError as exc:
        error = exc
        info.stopped = "error"
    finally:
        trace.close()
        write_run_info(run_dir, info)
    diagnosis = diagnose_trace(trace, label=label or config.name)
    diagnosis.run_dir = str(run_dir)
    write_artifacts(run_dir, trace, diagnosis, plots=write_plots)
    return RunResult(trace, diagnosis, run_dir, interrupted, error)


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
