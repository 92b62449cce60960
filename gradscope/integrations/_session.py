"""What the Lightning and Hugging Face callbacks share: their options, one `RunRecorder` per training run, what they
show of it after training, and the scalars they hand to their framework's logger.

The recorder does the recording (record/recorder.py); the callbacks only decide *when* to call it, from their
framework's hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradscope.clip.setting import Clip
from gradscope.record.recorder import RunRecorder, check_stop_on

if TYPE_CHECKING:
    from torch import nn

    from gradscope.diagnose.diagnosis import Diagnosis
    from gradscope.trace.trace import StopReason


class RecorderCallback:
    """The callbacks' common part (a mixin beside the framework's own callback class)."""

    recorder: RunRecorder | None
    diagnosis: Diagnosis | None

    def _configure(self, out: str | Path | None, stop_on: str, log: bool, report: bool, weight_every: int,
                   guard: bool) -> None:
        self.use_guard = guard
        self._stop_on = stop_on
        check_stop_on(stop_on)  # a wrong value fails here, where the callback is made
        self.out = Path(out) if out is not None else None
        self.log_scalars = log  # not `self.log`: Lightning sets callback.log to the module's log method
        self.report = report
        self.weight_every = weight_every
        self.recorder = None
        self.diagnosis = None
        self._logged = 0  # rows already summed into a `gradscope/clipped` share

    def _start(self, model: nn.Module, driver: str, *, scaler: Any, clipped_by_caller: Clip | None,
               steps: int | None, write: bool) -> None:
        self.recorder = RunRecorder(model, self.out, clip=Clip("adaptive") if self.use_guard else None,
                                    clipped_by_caller=clipped_by_caller, scaler=scaler, stop_on=self._stop_on,
                                    steps_requested=steps, weight_every=self.weight_every, write=write,
                                    driver=driver)
        self.diagnosis = None
        self._logged = 0

    def _finish(self, stopped: StopReason | None = None) -> None:
        """Diagnose once, write the run folder, print the diagnosis (stderr) when asked."""
        if self.recorder is None or self.diagnosis is not None:
            return
        self.diagnosis = self.recorder.finish(stopped)
        if self.report and self.recorder.write:
            from gradscope.report.console import print_diagnosis

            print_diagnosis(self.diagnosis)

    def scalars(self) -> dict[str, float]:
        """What goes to the framework's logger, NaN kept as NaN: the last step's pre-clip norm and loss, the
        share of steps clipped since the last call, non-finite counts."""
        recorder = self.recorder
        if recorder is None or recorder.last is None:
            return {}
        stats, trace = recorder.last, recorder.trace
        clipped = trace.column("clipped")[self._logged:]
        self._logged = len(trace)
        return {"gradscope/grad_norm": stats.grad_norm, "gradscope/loss": stats.loss,
                "gradscope/clipped": float(clipped.mean()) if len(clipped) else 0.0,
                "gradscope/nonfinite_grads": float(len(stats.nonfinite_grads)),
                "gradscope/nonfinite_steps": float(recorder.nonfinite_steps)}

    # -- what a callback shows after training ------------------------------------------------------
    @property
    def monitor(self) -> Any:
        """The `gradscope.Monitor` recording the run (None before training starts)."""
        return self.recorder.monitor if self.recorder is not None else None

    @property
    def guard(self) -> Any:
        """The `gradscope.Guard` of a `guard=True` callback (its `events`, `threshold`), else None."""
        return self.recorder.guard if self.recorder is not None else None

    @property
    def run_dir(self) -> Path | None:
        return self.recorder.out if self.recorder is not None else None
