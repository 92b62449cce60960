"""One recorded run inside the attached process: an optimizer's (or the update without optimizer's) rows.

Its `RunRecorder` (record/recorder.py, the one recorder every driver drives) is built at the first row, after the
script has moved its model to its device and joined its process group, on the module that holds the optimizer's
parameters (naming.py). Rank 0 streams the rows into OUT/<label>/ and keeps its run.json current (a new event
rewrites it), so a run cut short is read back whole. A trial's clip (`Settings.clip`) is the recorder's clip; the
script's own clip is `clipped_by_caller`, marked on the steps it bites.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradscope.attach.control import tell
from gradscope.attach.lr_change import effective_lr
from gradscope.attach.naming import find_module, find_trained_module, monitored_model
from gradscope.attach.settings import Settings
from gradscope.clip.setting import Clip
from gradscope.monitor.monitor import StepStats
from gradscope.monitor.param_names import trainable_parameters
from gradscope.ranks import is_writer
from gradscope.trace.run_folder import RUN_FILE, write_json_atomic
from gradscope.trace.trace import StopReason


class AttachedRun:
    """The rows of one optimizer (or of the script's update without optimizer)."""

    def __init__(self, settings: Settings, model: nn.Module, owner: nn.Module | None, label: str,
                 optimizer: Any = None) -> None:
        self.settings = settings
        self.model = model  # what is measured: the module, or the Subset of it the optimizer holds
        self.model_for_names = owner if owner is not None else model  # module names, for locating
        self.label = label
        self.optimizer = optimizer
        self.trial: Clip | None = settings.clip
        self.recorder: Any = None  # gradscope.record.recorder.RunRecorder, from the first row
        self.scaler: Any = None
        self.track_max_abs = False
        self.folder: Path | None = None
        self.rows = 0
        self.pending = False  # this update's row is recorded; the optimizer has not stepped yet
        self.last: StepStats | None = None
        self.nonfinite_weights = False
        self._trial_applied = False
        self.applying = False  # inside apply_trial_clip: a clip_grad_*_ call now is gradscope's own, not the script's
        self._events = 0  # findings and Guard decisions in run.json so far (it is written again when they grow)

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
    def record(self, loss: torch.Tensor | float, script_clip: Clip | None = None) -> StepStats:
        """The update's row (the gradients as they are now); `script_clip`: the clip call it is taken at."""
        if self.recorder is None:
            self._open(script_clip)
        recorder = self.recorder
        if self.scaler is not None:
            recorder.monitor.scaler = self.scaler
        lr = None if self.optimizer is None else self.optimizer.param_groups[0].get("lr")
        lr = effective_lr(self.optimizer, float(lr)) if isinstance(lr, int | float) else None  # a trial's change
        stats = recorder.record(loss, lr=lr)
        self.rows += 1
        self.pending, self.last, self._trial_applied = True, stats, recorder.guard is not None
        self.nonfinite_weights = self.nonfinite_weights or bool(stats.nonfinite_weights)
        info = recorder.trace.info
        if len(info.events) + len(info.guard_events) != self._events:  # a finding or a Guard's decision: kept now
            self._events = len(info.events) + len(info.guard_events)
            self._write_info()
        return stats

    def _open(self, script_clip: Clip | None) -> None:
        from gradscope.record.recorder import RunRecorder

        steps = self.settings.steps
        write = self.settings.out is not None and is_writer()
        self.folder = self.settings.out / folder_name(self.label) if write else None
        self.recorder = RunRecorder(self.model, self.folder or Path(folder_name(self.label)), clip=self.trial,
                                    clipped_by_caller=None if self.trial is not None else script_clip,
                                    steps_requested=steps, label=self.label, write=write,
                                    track_max_abs=self.track_max_abs or None,
                                    recent=max(steps or 0, 256), history=max(steps or 0, 4096))
        if write:
            self._write_info()
            tell(self.settings, run=self.label, folder=str(self.folder),
                 optimizer=None if self.optimizer is None else type(self.optimizer).__name__)

    def _write_info(self) -> None:
        """run.json as it stands; until the end it says 'interrupted' (what a reader should assume)."""
        if self.folder is None:
            return
        info = self.recorder.trace.info
        stopped, info.stopped = info.stopped, StopReason.INTERRUPTED
        write_json_atomic(self.folder / RUN_FILE, info.to_dict(), strict=False)
        info.stopped = stopped

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """This run's parameters with the names its trace uses."""
        return trainable_parameters(self.model)

    def monitor_max_abs(self) -> None:
        """The script clips by value: the largest |element| is measured from now on (judges `clipped`)."""
        self.track_max_abs = True
        if self.recorder is not None:
            self.recorder.monitor.track_max_abs = True

    # -- clipping --------------------------------------------------------------------------------------------
    def script_clips(self, clip: Clip, measured: float) -> None:
        """The script's own clip call, on gradients whose norm (or largest element) is `measured`: the row is marked
        when it bites, and later rows are judged by it (the row was recorded before the script first clipped, at
        its backward, when it has no optimizer)."""
        recorder = self.recorder
        if self.trial is not None or recorder is None:
            return
        if recorder.clipped_by_caller != clip:
            recorder.clipped_by_caller = clip
            info = recorder.trace.info
            info.clip_mode, info.clip_threshold = clip.mode, clip.threshold
        self.mark_clipped(math.isfinite(measured) and measured > clip.threshold)

    def mark_clipped(self, clipped: bool) -> None:
        if clipped and self.recorder is not None and len(self.recorder.trace):
            self.recorder.trace.set_clipped(len(self.recorder.trace) - 1, True)

    def apply_trial_clip(self) -> bool:
        """A trial's clip, once per update, on the recorded gradients; False: skip this update (the adaptive
        trial's decision: a non-finite step, or a run put back to a save). An update by hand has no step to skip:
        its gradients are zeroed here, so that it changes nothing."""
        if self.recorder is None:
            return True
        if self.trial is not None and not self._trial_applied:
            self._trial_applied = self.applying = True
            try:
                self.recorder.before_step()
            finally:
                self.applying = False
        if not self.recorder.take and self.optimizer is None:
            self.skip_update()
        return self.recorder.take

    @property
    def trial_applied(self) -> bool:
        """Whether this update's trial clip is already in (at backward, for an update by hand whose script's own
        clip call was not seen yet: its first)."""
        return self._trial_applied

    def trial_done(self) -> None:
        """The script's own clip call applied the trial's threshold: nothing more before the step."""
        self._trial_applied = True

    def skip_update(self) -> None:
        """The optimizer's step leaves every parameter (and its state) as it is without gradients; an update by hand
        (`p.data.add_(p.grad, alpha=-lr)`, no optimizer) needs them, and leaves the weights as they are with zeros."""
        if self.recorder is not None:
            for p in self.recorder.monitor.params:
                if self.optimizer is not None:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def end_cycle(self) -> None:
        self.pending, self._trial_applied = False, False

    # -- the end -----------------------------------------------------------------------------------------------
    def finish(self, stopped: StopReason) -> None:
        """At the process's exit: the run folder completed as the recorder completes it (no plots: the parent
        adds them once it has placed the run)."""
        if self.recorder is not None:
            self.recorder.finish(stopped, plots=False)


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
