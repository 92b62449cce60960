"""One recorded run inside the attached process: an optimizer's (or the update without optimizer's) rows.

Its `Monitor` is built at the first row (after the script has moved its model to its device and joined its
process group), on the module that holds the optimizer's parameters (naming.py). Rank 0 streams the rows into
OUT/<label>/ and keeps its run.json current (a new event rewrites it), so a run cut short is read back whole.
A trial's clip (`Settings.clip`) is applied here: in place of the script's own clip, or just before the step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradscope.attach.control import tell
from gradscope.attach.naming import find_module, find_trained_module, monitored_model
from gradscope.attach.settings import Clip, Settings
from gradscope.drivers.distributed import is_writer
from gradscope.monitor.monitor import Monitor, StepStats
from gradscope.trace.run_folder import RUN_FILE, write_json_atomic
from gradscope.trace.trace import StopReason


class AttachedRun:
    """The rows of one optimizer (or of the script's update without optimizer)."""

    def __init__(self, settings: Settings, model: nn.Module, owner: nn.Module | None, label: str,
                 optimizer: Any = None) -> None:
        self.settings = settings
        self.model = model  # what the Monitor measures: the module, or the Subset the optimizer holds
        self.model_for_names = owner if owner is not None else model  # module names, for locating
        self.label = label
        self.optimizer = optimizer
        self.trial: Clip | None = settings.clip
        self.monitor: Monitor | None = None
        self.guard: Any = None
        self.scaler: Any = None
        self.track_max_abs = False
        self.folder: Path | None = None
        self.rows = 0
        self.pending = False  # this update's row is recorded; the optimizer has not stepped yet
        self.last: StepStats | None = None
        self.nonfinite_weights = False
        self.take = True  # the adaptive trial's decision for this update
        self._trial_applied = False
        self._events = 0
        self._script_clip: tuple[str, float] | None = None

    @classmethod
    def start(cls, settings: Settings, params: list[torch.Tensor], fallback: str, *, optimizer: Any,
              taken: list[str]) -> AttachedRun:
        name, module = find_module(params)
        return cls(settings, monitored_model(module, params), module, unique(name or fallback, taken), optimizer)

    @classmethod
    def start_manual(cls, settings: Settings, params: list[torch.Tensor] | None,
                     taken: list[str]) -> AttachedRun | None:
        if params is None:
            name, module = find_trained_module()
            if module is None:
                return None
            params = [p for p in module.parameters() if p.requires_grad]
        else:
            name, module = find_module(params)
        return cls(settings, monitored_model(module, params), module, unique(name or "model", taken))

    # -- rows ----------------------------------------------------------------------------------------------
    def record(self, loss: torch.Tensor | float) -> StepStats:
        if self.monitor is None:
            self._open()
        monitor = self.monitor
        if self.scaler is not None:
            monitor.scaler = self.scaler
        lr = None if self.optimizer is None else self.optimizer.param_groups[0].get("lr")
        stats = monitor.record(loss, lr=float(lr) if isinstance(lr, int | float) else None)
        assert stats is not None  # sync_every=1
        self.rows += 1
        self.pending, self.last = True, stats
        self.nonfinite_weights = self.nonfinite_weights or bool(stats.nonfinite_weights)
        if self.guard is not None:
            self.take = self.guard.decide(stats)
            self._trial_applied = True
        if len(monitor.trace.info.events) != self._events:
            self._events = len(monitor.trace.info.events)
            self._write_info()
        return stats

    def _open(self) -> None:
        steps = self.settings.steps
        self.monitor = Monitor(self.model, weight_every=1, sync_every=1, track_max_abs=self.track_max_abs,
                               recent=max(steps or 0, 256), history=max(steps or 0, 4096), label=self.label)
        info = self.monitor.trace.info
        info.steps_requested = steps
        if self.trial is not None:
            info.clip_mode, info.clip_threshold = self.trial.mode, self.trial.threshold
            if self.trial.mode == "adaptive":
                from gradscope.clip.guard import Guard

                self.guard = Guard(monitor=self.monitor)
        if self.settings.out is not None and is_writer():
            self.folder = self.settings.out / folder_name(self.label)
            self.monitor.trace.stream_to(self.folder)
            self._write_info()
            tell(self.settings, run=self.label, folder=str(self.folder))

    def _write_info(self, stopped: StopReason = StopReason.INTERRUPTED) -> None:
        """run.json as it stands; until the end it says 'interrupted' (what a reader should assume)."""
        if self.folder is None or self.monitor is None:
            return
        info = self.monitor.trace.info
        info.stopped = stopped
        write_json_atomic(self.folder / RUN_FILE, info.to_dict(), strict=False)

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """This run's parameters with the names its trace uses."""
        from gradscope.monitor.param_names import trainable_parameters

        return trainable_parameters(self.model)

    def monitor_max_abs(self) -> None:
        """The script clips by value: the largest |element| is measured from now on (judges `clipped`)."""
        self.track_max_abs = True
        if self.monitor is not None:
            self.monitor.track_max_abs = True

    # -- clipping --------------------------------------------------------------------------------------------
    def script_clips(self, mode: str, threshold: float) -> None:
        """The script's own clip call: its setting goes into run.json (unless a trial's clip replaces it)."""
        if self._script_clip is None and self.trial is None and self.monitor is not None:
            self._script_clip = (mode, float(threshold))
            info = self.monitor.trace.info
            info.clip_mode, info.clip_threshold = mode, float(threshold)

    def mark_clipped(self, clipped: bool) -> None:
        if clipped and self.monitor is not None and len(self.monitor.trace):
            self.monitor.trace.set_clipped(len(self.monitor.trace) - 1, True)

    def apply_trial_clip(self) -> bool:
        """A trial's clip, once per update, on the recorded gradients; False: skip this update (the adaptive
        trial's decision on a non-finite step)."""
        if self.trial is None or self._trial_applied or self.monitor is None:
            return self.take
        self._trial_applied = True
        if self.trial.mode == "norm":
            self.monitor.clip_norm_(self.trial.threshold)
        elif self.trial.mode == "value":
            self.monitor.clip_value_(self.trial.threshold)
        return self.take

    def trial_done(self) -> None:
        """The script's own clip call applied the trial's threshold: nothing more before the step."""
        self._trial_applied = True

    def skip_update(self) -> None:
        """The optimizer's step leaves every parameter (and its state) as it is without gradients."""
        if self.monitor is not None:
            for p in self.monitor.params:
                p.grad = None

    def end_cycle(self) -> None:
        self.pending, self.take, self._trial_applied = False, True, False

    # -- the end -----------------------------------------------------------------------------------------------
    def finish(self) -> None:
        """The trace closed and run.json written, at the process's exit."""
        if self.monitor is None:
            return
        self.monitor.trace.close()
        self._write_info(StopReason.COMPLETED)


def unique(label: str, taken: list[str]) -> str:
    """`label`, or `label-2`, `label-3`... when another run has it."""
    name, n = label, 1
    while name in taken:
        n += 1
        name = f"{label}-{n}"
    return name


def folder_name(label: str) -> str:
    """A run's subfolder: its label with anything but letters, digits, `.`, `_` and `-` as `_`."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", label) or "run"
