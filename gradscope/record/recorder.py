"""`RunRecorder`: one recorded run, whatever drives it. The only place that turns a training step into a trace row.

Every way in drives one: the config's training loop (drivers/loop.py), the Lightning and Hugging Face callbacks
(integrations/), an attached script (attach/). A driver only knows *when* its training code has a loss and
gradients and *whether* it can skip an update; the recorder does the rest: the `Monitor`, the optional `Guard`,
the clip, the trace streamed into the run folder as the run goes, the events, where the first non-finite value
appeared (module, parameter and op, by replaying the bad step once), `stop_on`, the final weight check and one
diagnosis at the end, written with the run folder.

The API, in the order a driver calls it:

```python
recorder = RunRecorder(model, out, clip=Clip("norm", 1.0))   # or clip=Clip("adaptive"): a Guard decides
for each optimizer step:                                       # after backward (and scaler.unscale_)
    stats = recorder.record(loss, lr=lr, replay=replay)          # the step's row; `replay`: see `Replay`
    if stats.nonfinite_weights: stop (nothing more to learn)     # optional: a driver that can stop
    if recorder.before_step():                                   # clips; False: the guard skips this update
        optimizer.step()
    if recorder.should_stop: stop (stop_on)                      # optional: a driver that can stop
diagnosis = recorder.finish(StopReason.INTERRUPTED if ctrl_c else None)
```

- `clip` is the clip the recorder applies in `before_step` ("norm"/"value", with `Monitor.clip_norm_` /
  `clip_value_`, which reuse the recorded norms) or through a `Guard` ("adaptive", which clips in `record`).
  `clipped_by_caller` is a clip the training code applies itself (a Trainer's `gradient_clip_val`, a script's own
  `clip_grad_norm_`): the recorder only marks the steps it bites. Give one or neither.
- A driver that cannot skip the optimizer call (a framework calls it) passes `before_step(can_skip=False)`: a
  skipped update then has its gradients dropped, so the optimizer's step leaves the weights and its state as
  they are.
- Nothing is needed after the optimizer step: the next `record` sees its weights, and `finish` checks the last
  update's weights once (`check_final_weights`, reduced across ranks: every rank must call `finish`).
- `finish(stopped)`: how the run ended (None: as recorded, `StopReason.COMPLETED` unless `stop_on` stopped it).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from gradscope.clip.guard import Guard
from gradscope.clip.setting import Clip
from gradscope.diagnose.diagnosis import Diagnosis, diagnose_trace
from gradscope.levels import FAIL_ON
from gradscope.monitor.monitor import Monitor, StepStats
from gradscope.monitor.rank_reduce import ranks_for
from gradscope.numbers import FLOAT32_NORM_MAX
from gradscope.ranks import is_writer
from gradscope.record.plots import write_run_plots
from gradscope.trace.run_folder import finish_run_folder, prepare_run_folder
from gradscope.trace.trace import Event, RunInfo, StopReason, Trace

if TYPE_CHECKING:
    from gradscope.record.locate import Location
    from gradscope.record.op_overflow import OpOverflow

# With stop_on set, the detectors run on every step that has a non-finite value, and otherwise every
# CHECK_EVERY steps or every tenth of the steps so far, whichever is more: a diagnosis reads the whole trace,
# so checking at a fraction of its length keeps their total cost linear in the number of steps.
CHECK_EVERY = 10


class Replay(Protocol):
    """A step that can be run again, once, to find where it went non-finite (record/locate.py has two: a config
    run's `StepReplay` and a framework's `ForwardReplays`). Called only on the first bad step of each kind."""

    def locate(self, loss_finite: bool) -> Location | None:
        """Where the first non-finite value appeared; None: nothing to add to the Monitor's event."""

    def overflow(self) -> OpOverflow | None:
        """The first op of the forward that overflowed while the loss stayed finite (fp16/bf16), if any."""


def check_stop_on(stop_on: str) -> int | None:
    """The severity rank `stop_on` stops at (None: never); ValueError naming the choices for anything else."""
    if stop_on not in FAIL_ON:
        raise ValueError(f"stop_on={stop_on!r} is not one of {', '.join(FAIL_ON)} (fix: stop_on='critical')")
    return None if stop_on == "never" else FAIL_ON.index(stop_on)  # the ranks of `--fail-on`'s levels


def default_out(driver: str) -> Path:
    """A new folder under gradscope-runs/, named by time and the way in ("lightning"), as the CLI names its runs."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("gradscope-runs") / f"{stamp}-{driver}"
    n = 1
    while path.exists():
        n += 1
        path = Path("gradscope-runs") / f"{stamp}-{driver}-{n}"
    return path


class RunRecorder:
    """One run recorded step by step into `out` (see the module's docstring for the calls and their order).

    Args:
        model: the module being trained (parameter names are its own, without DDP/compile/FSDP prefixes).
        out: the run folder (None: a new one under gradscope-runs/ named after `driver`).
        clip, clipped_by_caller: see the module's docstring.
        scaler: the `GradScaler` of AMP fp16, if any (the Monitor divides its scale out).
        stop_on: "never", "warning" or "critical": `should_stop` turns True at the first symptom that severe.
        steps_requested: how many optimizer steps the run means to take, if known ("N of M steps").
        label: the run's name in reports (default: the folder's name).
        weight_every, track_max_abs, recent, history: the `Monitor`'s options (track_max_abs None: when a value
            clip is in play, the only one that needs it).
        write: whether this process writes the run folder (default: rank 0 of a distributed run, or the only one).
        prepare: clear what an older run left in `out` first (False: the driver has prepared it).
    """

    def __init__(self, model: nn.Module, out: str | Path | None = None, *, clip: Clip | None = None,
                 clipped_by_caller: Clip | None = None, scaler: Any = None, stop_on: str = "never",
                 steps_requested: int | None = None, label: str = "", weight_every: int = 1,
                 track_max_abs: bool | None = None, recent: int = 256, history: int = 4096,
                 write: bool | None = None, prepare: bool = True, driver: str = "run") -> None:
        if clip is not None and clipped_by_caller is not None:
            raise ValueError(f"the training code clips ({clipped_by_caller.label}) and gradscope would clip too "
                             f"({clip.label}) (fix: one of them)")
        self.stop_rank = check_stop_on(stop_on)
        self.out = Path(out) if out is not None else default_out(driver)
        self.write = is_writer() if write is None else write
        self.clip, self.clipped_by_caller = clip, clipped_by_caller
        shown = clip or clipped_by_caller
        if track_max_abs is None:  # value clipping is judged by the largest |gradient element|: only then measured
            track_max_abs = shown is not None and shown.mode == "value"
        self.monitor = Monitor(model, scaler=scaler, weight_every=weight_every, track_max_abs=track_max_abs,
                               recent=recent, history=history, label=label or self.out.name)
        self.trace = self.monitor.trace
        info = self.trace.info
        info.steps_requested = steps_requested
        info.clip_mode = shown.mode if shown is not None else None
        info.clip_threshold = shown.threshold if shown is not None else None
        self.guard = Guard(monitor=self.monitor) if clip is not None and clip.adaptive else None
        if self.write:
            if prepare:  # a reused folder must not show an older run's files beside this one's
                prepare_run_folder(self.out)
            self.trace.stream_to(self.out)  # written as the run goes: a crash still leaves a readable trace
        self.last: StepStats | None = None
        self.take = True  # whether the last recorded step's update is to be taken (the guard may skip it)
        self.nonfinite_steps = 0  # steps with a non-finite loss, gradient or weight
        self.should_stop = False  # stop_on: a symptom that severe was found
        self.stop_reason = ""  # and which: its severity, kind and step
        self._next_check = 0
        self._located: set[str] = set()  # event kinds already located by a replay
        self._weights_checked = False

    # -- per optimizer step ------------------------------------------------------------------------
    def record(self, loss: torch.Tensor | float, *, lr: float | None = None,
               replay: Replay | None = None) -> StepStats:
        """Record the step (the gradients as they are now: unscaled, before clipping); the guard, if any, decides
        and clips. On the first step with a non-finite loss or gradient, `replay` is run once to say where it
        began; before that no hook is registered: it costs nothing."""
        stats = self.monitor.record(loss, lr=lr)
        assert stats is not None  # sync_every=1: the statistics land at once
        self.last, self.take = stats, True
        if self.guard is not None:
            self.take = self.guard.decide(stats)
        elif self.clipped_by_caller is not None and _bites(self.clipped_by_caller, stats):
            self.trace.set_clipped(len(self.trace) - 1, True)
        bad = not stats.loss_finite or bool(stats.nonfinite_grads)
        if bad or stats.nonfinite_weights:
            self.nonfinite_steps += 1
        # Non-finite weights came from the last update, not from this step's forward: nothing to replay.
        if bad and replay is not None and not stats.nonfinite_weights:
            self._locate(stats, replay)
        self._check_stop(stats)
        return stats

    def before_step(self, *, can_skip: bool = True) -> bool:
        """Apply the recorder's clip to the recorded gradients; True: take the optimizer step. False: the guard
        skips this update; with `can_skip=False` the gradients are dropped so that the step changes nothing."""
        if self.guard is None and self.clip is not None:
            if self.clip.mode == "norm":
                self.monitor.clip_norm_(self.clip.threshold)
            else:
                self.monitor.clip_value_(self.clip.threshold)
        if not self.take and not can_skip:
            for p in self.monitor.params:  # with no gradients the optimizer leaves them and their state alone
                p.grad = None
        return self.take

    def check_hidden_overflow(self, replay: Replay) -> None:
        """Replay the last recorded step under the op-level check (fp16/bf16, once, at the end): an op of the
        forward that overflowed while the loss stayed finite becomes an `activation_overflow` event. Nothing else
        in the trace shows it (a saturating op after it turned the inf back into a finite 0 or 1)."""
        stats = self.last
        if stats is None or not stats.loss_finite:
            return  # a non-finite loss is found, and located, as one
        try:
            op = replay.overflow()
        except Exception:  # noqa: BLE001 - a model the op-level check cannot replay keeps its run, without this
            return
        if op is not None:
            self.monitor.replace_event(Event("activation_overflow", stats.step, module=op.module, stage="forward",
                                             detail=op.describe(), op=op.to_dict()))

    def _locate(self, stats: StepStats, replay: Replay) -> None:
        """The first bad step of each kind: replay it and put what was found in the Monitor's events."""
        bad = {"nonfinite_loss": not stats.loss_finite, "nonfinite_gradient": bool(stats.nonfinite_grads)}
        kinds = [k for k, is_bad in bad.items() if is_bad and k not in self._located]
        if not kinds:
            return
        self._located.update(kinds)
        try:
            loc = replay.locate(stats.loss_finite)
        except Exception:  # noqa: BLE001 - a replay that fails must never break the user's training
            return
        if loc is not None:
            for kind in kinds:
                self.monitor.replace_event(_located_event(kind, stats, loc, self.trace.info.events))

    def _check_stop(self, stats: StepStats) -> None:
        if self.stop_rank is None or self.should_stop:
            return
        # A global norm past sqrt(float32 max) overflows `clip_grad_norm_` (norm_overflow, critical) while every
        # element is still finite: such a step is checked at once too.
        urgent = not stats.finite or not stats.grad_norm < FLOAT32_NORM_MAX
        if not urgent and stats.step < self._next_check:
            return
        self._next_check = stats.step + max(CHECK_EVERY, stats.step // 10)
        hits = [s for s in self.monitor.diagnose().symptoms if s.severity.rank >= self.stop_rank]
        if hits:
            self.should_stop = True
            self.stop_reason = f"{hits[0].severity.value} {hits[0].kind.value} at step {hits[0].step}"
            self.trace.info.stopped = StopReason.STOP_ON

    # -- the end -----------------------------------------------------------------------------------
    @torch.no_grad()
    def check_final_weights(self) -> bool:
        """The last optimizer step is followed by no record: check its weights once (one host sync; under
        torch.distributed a collective, on every rank). A non-finite one becomes a `nonfinite_weight` event at
        the last step. True when all are finite."""
        self._weights_checked = True
        monitor = self.monitor
        if not len(self.trace):
            return True
        finite = ranks_for(monitor.params).all_finite(monitor.params)
        bad = [n for n, ok in zip(monitor.names, finite, strict=True) if not ok]
        if bad and not any(e.kind == "nonfinite_weight" for e in self.trace.info.events):
            monitor.replace_event(Event("nonfinite_weight", int(self.trace.steps[-1]), parameter=bad[0],
                                        stage="step", others=tuple(bad[1:21])))
        return not bad

    def finish(self, stopped: StopReason | None = None, *, plots: bool = True) -> Diagnosis:
        """Close the trace, diagnose it once and complete the run folder; returns the diagnosis (naming the
        folder). `stopped`: how the run ended (None: as recorded). A run that ended normally has its last
        update's weights checked first, unless the driver did (`check_final_weights`)."""
        info = self.trace.info
        if stopped is not None:
            info.stopped = stopped
        if not self._weights_checked and info.stopped in (StopReason.COMPLETED, StopReason.STOP_ON):
            self.check_final_weights()  # not after an error: the ranks may not all get here
        if self.guard is not None:
            info.clip_threshold = self.guard.threshold  # the threshold in force at the end
        self.monitor.flush()
        diagnosis = diagnose_trace(self.trace, run_dir=self.out)
        if not self.write:
            self.trace.close()
            return diagnosis
        return finish_run_folder(self.out, self.trace, diagnosis, plots=write_run_plots if plots else None)


def write_empty_run(out: Path, steps: int | None, label: str, stopped: StopReason = StopReason.ERROR) -> None:
    """A run that failed (or was interrupted) while setting up, before a recorder existed: an empty trace and a
    diagnosis of zero steps, so the folder still reads as a run."""
    trace = Trace(RunInfo([], [], steps_requested=steps, stopped=stopped, label=label))
    finish_run_folder(out, trace, diagnose_trace(trace, label=label, run_dir=out))


def _bites(clip: Clip, stats: StepStats) -> bool:
    """Whether `clip` (clip_grad_norm_ / clip_grad_value_) changes this step's gradients."""
    value = stats.grad_norm if clip.mode == "norm" else stats.grad_max_abs
    return math.isfinite(value) and value > clip.threshold


def _located_event(kind: str, stats: StepStats, loc: Location, events: list[Event]) -> Event:
    """The Monitor's `kind` event at this step, with what the replay found (its parameter when it named none)."""
    old = next((e for e in events if e.kind == kind), None)
    parameter = loc.parameter or (old.parameter if old else None)
    others = tuple(n for n in stats.nonfinite_grads if n != parameter)[:20]
    return Event(kind, stats.step, parameter=parameter if kind != "nonfinite_loss" else None, module=loc.module,
                 stage=loc.stage if loc.stage != "unknown" else None, detail=loc.detail,
                 others=others if kind == "nonfinite_gradient" else (),
                 op=loc.op.to_dict() if loc.op is not None else None)
