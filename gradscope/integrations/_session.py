"""What the Lightning and Hugging Face callbacks share: one recorded run inside somebody else's training loop.

A `CallbackSession` owns the `Monitor` (public API only: `record`, `trace`, `replace_event`, `diagnose`, `save`),
the run folder (streamed as the run goes, completed at the end with the artifacts `gradscope diagnose` writes),
`stop_on`, the scalars the callbacks hand to their framework's logger, and the search for the first module whose
output went non-finite. The callbacks only decide *when* to call it, from their framework's hooks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gradscope.monitor.monitor import Monitor, StepStats
from gradscope.trace.trace import Event, StopReason

if TYPE_CHECKING:
    from gradscope.diagnose.diagnosis import Diagnosis

STOP_ON = {"never": None, "warning": 1, "critical": 2}  # stop_on -> the severity rank that stops training
# With stop_on set, the detectors run on every step that has a non-finite value, and otherwise every
# CHECK_EVERY steps or every tenth of the steps so far, whichever is more: a diagnosis reads the whole trace,
# so checking at a fraction of its length keeps their total cost linear in the number of steps.
CHECK_EVERY = 10
# A global norm past sqrt(float32 max) overflows `clip_grad_norm_` (norm_overflow, critical) while every element is
# still finite: such a step is checked at once too.
NORM_OVERFLOW = math.sqrt(float(torch.finfo(torch.float32).max))


def check_stop_on(stop_on: str) -> int | None:
    if stop_on not in STOP_ON:
        raise ValueError(f"stop_on={stop_on!r} is not one of never, warning, critical (fix: stop_on='critical')")
    return STOP_ON[stop_on]


def default_out(framework: str) -> Path:
    """A new folder under gradscope-runs/, named by time, as the CLI names its runs."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("gradscope-runs") / f"{stamp}-{framework}"
    n = 1
    while path.exists():
        n += 1
        path = Path("gradscope-runs") / f"{stamp}-{framework}-{n}"
    return path


class CallbackSession:
    """One run recorded from a framework's hooks: record once per optimizer step, then `finish`."""

    def __init__(self, model: nn.Module, out: Path, *, stop_rank: int | None, scaler: Any = None,
                 clip_mode: str | None = None, clip_threshold: float | None = None,
                 steps_requested: int | None = None, label: str = "", weight_every: int = 1,
                 write: bool = True, guard: bool = False) -> None:
        self.model = model
        self.write = write  # False on the ranks other than 0 of a distributed run: they record, rank 0 writes
        self.out = Path(out)
        self.stop_rank = stop_rank
        self.clip_mode = clip_mode if clip_threshold else None
        self.clip_threshold = float(clip_threshold) if clip_threshold else None
        # Value clipping is judged by the largest |gradient element|: only then is it measured.
        self.monitor = Monitor(model, scaler=scaler, weight_every=weight_every, sync_every=1,
                               track_max_abs=self.clip_mode == "value", label=label or self.out.name)
        info = self.monitor.trace.info
        info.clip_mode, info.clip_threshold, info.steps_requested = self.clip_mode, self.clip_threshold, \
            steps_requested
        self.guard = None  # guard=True: a gradscope.Guard on this monitor clips (and skips) in place of the framework
        if guard:
            from gradscope.clip.guard import Guard

            if self.clip_mode is not None:
                raise ValueError("GradscopeCallback(guard=True) clips itself, and the Trainer clips too (fix: "
                                 "remove the Trainer's gradient clipping, or drop guard=True)")
            self.guard = Guard(monitor=self.monitor)
            info.clip_mode = "adaptive"
        if write:
            self.monitor.trace.stream_to(self.out)  # written as the run goes: a crash still leaves a readable trace
        self.should_stop = False
        self.stop_reason = ""
        self._next_check = 0
        self._located = False
        self.nonfinite_steps = 0
        self._since_log = 0
        self._clipped_since_log = 0
        self.last: StepStats | None = None
        self.last_clipped = False

    # -- per optimizer step ------------------------------------------------------------------------
    def record(self, loss: torch.Tensor | float, lr: float | None,
               replays: list[Callable[[], Any]] | None = None) -> StepStats:
        """Record the step (gradients as they are now: unscaled, before clipping) and set `clipped`.

        `replays` re-run this step's forwards (one per micro-batch); they are called only on the first step with
        a non-finite loss or gradient, with forward hooks on every module, to name the first module whose output
        went non-finite. Before that first non-finite value no hook is registered: they cost nothing.
        """
        stats = self.monitor.record(loss, lr=lr)
        assert stats is not None  # sync_every=1: the statistics land at once
        if self.guard is not None:
            before = self.guard.clipped
            if not self.guard.decide(stats):
                self._skip_update()
            clipped = self.guard.clipped > before
        else:
            clipped = self._clipped(stats)
            if clipped:
                self.monitor.trace.set_clipped(len(self.monitor.trace) - 1, True)
        self.last, self.last_clipped = stats, clipped
        self._since_log += 1
        self._clipped_since_log += int(clipped)
        bad = not stats.loss_finite or bool(stats.nonfinite_grads)
        if bad or stats.nonfinite_weights:
            self.nonfinite_steps += 1
        if bad and not self._located and replays:
            self._located = True
            self._locate(stats, replays)
        self._check_stop(stats)
        return stats

    def _skip_update(self) -> None:
        """The guard skips this update: with no gradients, the optimizer's step leaves every parameter (and its
        state: moments, step count) as it is; so does the framework's clipping."""
        for p in self.model.parameters():
            p.grad = None

    def _clipped(self, stats: StepStats) -> bool:
        """Whether the framework's own clipping changes this step's gradients (clip_grad_norm_ / _value_)."""
        if self.clip_threshold is None:
            return False
        value = stats.grad_norm if self.clip_mode == "norm" else stats.grad_max_abs
        return math.isfinite(value) and value > self.clip_threshold

    def _check_stop(self, stats: StepStats) -> None:
        if self.stop_rank is None or self.should_stop:
            return
        urgent = not stats.finite or not stats.grad_norm < NORM_OVERFLOW
        if not urgent and stats.step < self._next_check:
            return
        self._next_check = stats.step + max(CHECK_EVERY, stats.step // 10)
        diagnosis = self.monitor.diagnose()
        hits = [s for s in diagnosis.symptoms if s.severity.rank >= self.stop_rank]
        if hits:
            self.should_stop = True
            self.stop_reason = f"{hits[0].severity.value} {hits[0].kind.value} at step {hits[0].step}"
            self.monitor.trace.info.stopped = StopReason.STOP_ON

    def _locate(self, stats: StepStats, replays: list[Callable[[], Any]]) -> None:
        """Name the first module whose output is non-finite, replaying the step's forwards (weights unchanged:
        the optimizer has not stepped yet)."""
        try:
            found = first_nonfinite_module(self.model, replays)
        except Exception:  # noqa: BLE001 - a replay that fails must never break the user's training
            return
        if found is not None:
            module, stage, detail = found[0], "forward", found[1]
        elif not stats.loss_finite:  # every module's output finite: the loss computation itself overflowed
            module, stage, detail = None, "loss", "every module's output is finite; the loss is not"
        else:
            return  # the forward is finite: the gradients went non-finite in backward (the Monitor's event)
        events = {e.kind: e for e in self.monitor.trace.info.events}
        for kind in ("nonfinite_loss", "nonfinite_gradient"):
            old = events.get(kind)
            if old is not None and old.step == stats.step:
                self.monitor.replace_event(dataclasses.replace(old, module=module, stage=stage, detail=detail))

    # -- logging ---------------------------------------------------------------------------------
    def scalars(self) -> dict[str, float]:
        """What goes to the framework's logger, NaN kept as NaN: the last step's pre-clip norm and loss, the
        share of steps clipped since the last call, non-finite counts."""
        stats = self.last
        if stats is None:
            return {}
        clipped = self._clipped_since_log / max(self._since_log, 1)
        self._since_log = self._clipped_since_log = 0
        return {"gradscope/grad_norm": stats.grad_norm, "gradscope/loss": stats.loss,
                "gradscope/clipped": clipped, "gradscope/nonfinite_grads": float(len(stats.nonfinite_grads)),
                "gradscope/nonfinite_steps": float(self.nonfinite_steps)}

    # -- the end -----------------------------------------------------------------------------------
    def finish(self, *, report: bool) -> Diagnosis:
        """Check the last update's weights, write the run folder, print the diagnosis once (stderr)."""
        self._check_final_weights()
        monitor = self.monitor
        if self.guard is not None:
            monitor.trace.info.clip_threshold = self.guard.threshold  # the threshold in force at the end
        monitor.trace.close()
        if not self.write:
            return monitor.diagnose()
        run_dir = monitor.save(self.out)
        diagnosis = dataclasses.replace(monitor.diagnose(), run_dir=str(run_dir))
        if report:
            from gradscope.report.console import print_diagnosis

            print_diagnosis(diagnosis)
        return diagnosis

    @torch.no_grad()
    def _check_final_weights(self) -> None:
        """The last optimizer step is not followed by a record: check its weights once (one host sync)."""
        trace = self.monitor.trace
        if not len(trace) or any(e.kind == "nonfinite_weight" for e in trace.info.events):
            return
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        finite = torch.stack([torch.isfinite(p).all() for _, p in named]).cpu().tolist()
        bad = [n for (n, _), ok in zip(named, finite, strict=True) if not ok]
        if bad:
            self.monitor.replace_event(Event("nonfinite_weight", int(trace.steps[-1]), parameter=bad[0],
                                             stage="step", others=tuple(bad[1:21])))


def first_nonfinite_module(model: nn.Module, replays: list[Callable[[], Any]]) -> tuple[str, str] | None:
    """(module name, what it output) of the first module whose forward output holds NaN/Inf, replaying
    `replays` in order under no_grad with a forward hook on every module; buffers are restored afterwards.

    Forward hooks fire child before parent, so the first output caught is the innermost module where the
    value first went non-finite.
    """
    names = {id(m): n for n, m in model.named_modules()}
    found: list[tuple[str, str]] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if not found and _nonfinite(output):
            found.append((names.get(id(module)) or type(module).__name__,
                          f"{type(module).__name__} output: {_describe(output)}"))

    with _restored_buffers(model):
        handles = [m.register_forward_hook(hook) for m in model.modules()]
        try:
            with torch.no_grad():
                for replay in replays:
                    replay()
                    if found:
                        break
        finally:
            for h in handles:
                h.remove()
    return found[0] if found else None


@contextmanager
def _restored_buffers(model: nn.Module) -> Iterator[None]:
    """A replayed forward must not move running statistics (batch norm) or the RNG the run goes on with."""
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    devices = [d.index for d in {b.device for b in model.parameters()} if d.type == "cuda"]
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        with torch.no_grad():
            for n, b in model.named_buffers():
                if n in saved:
                    b.copy_(saved[n])


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    elif hasattr(value, "to_tuple"):  # transformers' ModelOutput
        value = list(value.to_tuple())
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    return []


def _nonfinite(value: Any) -> bool:
    return any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in _tensors(value))


def _describe(value: Any) -> str:
    for t in _tensors(value):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return f"{int(torch.isnan(t).sum())} NaN, {int(torch.isinf(t).sum())} Inf of {t.numel()} values"
    return ""


class SessionViews:
    """What both callbacks show of their session: its monitor and run folder (None before training starts)."""

    session: CallbackSession | None

    @property
    def monitor(self) -> Any:
        return self.session.monitor if self.session is not None else None

    @property
    def guard(self) -> Any:
        """The `gradscope.Guard` of a `guard=True` callback (its `events`, `threshold`), else None."""
        return self.session.guard if self.session is not None else None

    @property
    def run_dir(self) -> Path | None:
        return self.session.out if self.session is not None else None
