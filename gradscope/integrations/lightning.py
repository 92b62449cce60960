"""`GradscopeCallback` for Lightning (`lightning.pytorch` and `pytorch_lightning`, whichever are installed).

```python
from gradscope.integrations.lightning import GradscopeCallback
trainer = Trainer(callbacks=[GradscopeCallback(out="runs/mine")], gradient_clip_val=1.0)
```

Where it records, and why there: `on_before_optimizer_step`. Lightning calls it once per optimizer step, after
the last micro-batch's backward of an `accumulate_grad_batches` window (so the gradients are the accumulated ones),
after the AMP precision plugin's `scaler.unscale_(optimizer)` (so they are unscaled) and before
`configure_gradient_clipping` (so they are not clipped yet): the pre-clip, unscaled gradients a plain loop would
hand to `clip_grad_norm_`. The step's loss is collected in `on_before_backward`, which sees every micro-batch's
loss as Lightning backpropagates it (divided by `accumulate_grad_batches`, and multiplied by the GradScaler's
scale under fp16, which is divided out again): their sum is the mean of the micro-batch losses. `clipped` follows
`Trainer(gradient_clip_val=..., gradient_clip_algorithm=...)`: Lightning's own clipping engaged when the norm (or
the largest |element|, for "value") was above the threshold; a `configure_gradient_clipping` of your own that
clips differently is not seen.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gradscope.integrations._extras import require


def _callback_bases() -> tuple[type, ...]:
    """Lightning's `Callback` class of each installed flavour: the callback subclasses all of them, so both
    `lightning.pytorch.Trainer` and `pytorch_lightning.Trainer` accept it."""
    bases = []
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            module = require((name,), "lightning", "gradscope.integrations.lightning")
        except ImportError:
            continue
        if module.Callback not in bases:
            bases.append(module.Callback)
    if not bases:
        require(("lightning.pytorch", "pytorch_lightning"), "lightning", "gradscope.integrations.lightning")
    return tuple(bases)


# First, so that without Lightning the one line naming the extra comes before torch is even imported.
_BASES = _callback_bases()

from gradscope.clip.setting import Clip  # noqa: E402
from gradscope.integrations._session import RecorderCallback  # noqa: E402
from gradscope.record.locate import ForwardReplays  # noqa: E402
from gradscope.trace.trace import StopReason  # noqa: E402


class GradscopeCallback(RecorderCallback, *_BASES):  # type: ignore[misc]
    """Records one trace row per optimizer step and diagnoses the run at the end of `fit`.

    Args:
        out: the run folder (default: a new folder under gradscope-runs/); written as the run goes, completed
            at the end with the artifacts `gradscope diagnose` writes (trace.csv, per-parameter norms, run.json,
            diagnosis.json, plots), so `gradscope compare RUN_DIR ...` and `gradscope.load_run` read it.
        stop_on: "never" (default), "warning" or "critical": set `trainer.should_stop` at the first symptom of that
            severity, after recording the step that shows it.
        log: send `gradscope/grad_norm` (pre-clip), `gradscope/clipped`, `gradscope/loss` and non-finite counts to
            the Trainer's loggers with `pl_module.log` each step (NaN kept as NaN).
        report: print the diagnosis once at the end of training (rich, on stderr).
        weight_every: take weight norms every N steps (`Monitor`'s option; 1 sees a non-finite weight at once).
        guard: clip with a `gradscope.Guard` (online adaptive clipping; a non-finite step's update is skipped) in
            place of `gradient_clip_val`, which must then be unset.
    After `fit`: `callback.diagnosis` (a `Diagnosis`), `callback.run_dir`, `callback.monitor`, `callback.guard`.
    """

    def __init__(self, out: str | Path | None = None, *, stop_on: str = "never", log: bool = True,
                 report: bool = True, weight_every: int = 1, guard: bool = False) -> None:
        super().__init__()
        self._configure(out, stop_on, log, report, weight_every, guard)
        self._loss: Any = None
        self._replays: list[Any] = []

    # -- Lightning hooks ---------------------------------------------------------------------------
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        clip = trainer.gradient_clip_val
        algorithm = trainer.gradient_clip_algorithm or "norm"
        algorithm = str(getattr(algorithm, "value", algorithm)).lower()  # Lightning keeps a GradClipAlgorithmType
        try:
            steps = trainer.estimated_stepping_batches  # inf for an iterable without a length
        except Exception:  # noqa: BLE001 - only the "N of M steps" line needs it
            steps = None
        if clip and self.use_guard:
            raise ValueError("GradscopeCallback(guard=True) clips itself, and the Trainer clips too (fix: "
                             "remove the Trainer's gradient clipping, or drop guard=True)")
        self._start(pl_module, "lightning", scaler=getattr(trainer.precision_plugin, "scaler", None),
                    clipped_by_caller=Clip(algorithm, float(clip)) if clip else None,
                    steps=int(steps) if isinstance(steps, int | float) and math.isfinite(steps) else None,
                    write=trainer.is_global_zero)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.recorder is not None:
            # Kept (a reference, no copy) to replay this micro-batch's forward if the step turns non-finite.
            self._replays.append(lambda: _replay_training_step(trainer, pl_module, batch, batch_idx))

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Any) -> None:
        if self.recorder is not None:
            loss = loss.detach()
            self._loss = loss if self._loss is None else self._loss + loss  # on the device: no host sync

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        loss = self._loss if self._loss is not None else math.nan
        scale = _live_scale(recorder.monitor.scaler)
        if scale is not None and self._loss is not None:
            loss = loss / scale  # the AMP plugin scaled the loss before on_before_backward saw it
        lr = optimizer.param_groups[0].get("lr") if optimizer.param_groups else None
        recorder.record(loss, lr=float(lr) if lr is not None else None, replay=ForwardReplays(pl_module, self._replays))
        recorder.before_step(can_skip=False)  # Lightning steps the optimizer: a skipped update has no gradients
        self._loss, self._replays = None, []
        if self.log_scalars:
            pl_module.log_dict(self.scalars(), on_step=True, on_epoch=False, batch_size=1)
        if recorder.should_stop:
            trainer.should_stop = True

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._finish()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Ctrl-C or an error in the user's code: what was recorded is kept, diagnosed, and written."""
        self._finish(StopReason.INTERRUPTED if isinstance(exception, KeyboardInterrupt) else StopReason.ERROR)


def _live_scale(scaler: Any) -> Any:
    """The GradScaler's current scale as a device tensor (no host sync), or None without fp16 AMP."""
    if scaler is None or not getattr(scaler, "is_enabled", lambda: False)():
        return None
    return getattr(scaler, "_scale", None)


def _replay_training_step(trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
    """Run `training_step` again on a micro-batch (under the caller's no_grad), its `self.log` calls silenced."""
    silent = lambda *args, **kwargs: None  # noqa: E731
    pl_module.log, pl_module.log_dict = silent, silent
    try:
        with trainer.precision_plugin.train_step_context():
            pl_module.training_step(batch, batch_idx)
    finally:
        del pl_module.log, pl_module.log_dict
