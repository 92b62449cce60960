"""`GradscopeCallback` for the Hugging Face `Trainer`.

```python
from gradscope.integrations.transformers import GradscopeCallback
trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GradscopeCallback(out="runs/mine")])
```

Where it records, and why there. A `TrainerCallback` alone cannot see pre-clip gradients: the Trainer clips
(`_clip_grad_norm` -> `accelerator.clip_grad_norm_`) *before* `on_pre_optimizer_step`, and `on_substep_end` comes
before the last micro-batch's backward. What every optimizer step does go through, once, after the last
micro-batch's backward and the gradient all-reduce, is `trainer.accelerator.clip_grad_norm_`: with
`max_grad_norm > 0` to clip, and with `max_grad_norm=0` too (`_get_grad_norm` calls it with an infinite norm to
get the logged `grad_norm`). So at `on_train_begin` the callback wraps that method on this Trainer's accelerator
(an instance attribute, removed at `on_train_end`; nothing global is patched): the wrapper records, then calls
the original, which clips exactly as before and returns the norm the Trainer logs as `grad_norm`. `Monitor.record`
computes that norm the way `clip_grad_norm_` does (fused `_foreach_norm`, then the norm of the norms), with one
host copy per step: no extra host sync per parameter. Under fp16 the gradients are still scaled when the wrapper
runs (the original unscales them first); the Monitor is given the accelerator's GradScaler and divides its norms
by the scale (a power of two: exact).

The loss is what the Trainer adds to its running loss for the step: the sum of `training_step`'s returns over
the micro-batches (each already divided for accumulation), taken from a wrapper of `trainer.training_step` and
summed on the device. It is recorded as it is, NaN included: the Trainer's own `loss` log replaces a NaN by the
running mean (`logging_nan_inf_filter`), `gradscope/loss` does not. The scalars join the Trainer's `logs` in a
wrapper of `trainer.log`, before any reporting callback (TensorBoard, W&B, ...) sees them.

TrainerCallback hooks receive the model and optimizer but not the Trainer: `on_train_begin` finds it as the
`self` of the calling `Trainer` frame.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from gradscope.integrations._extras import require

_transformers = require(("transformers",), "transformers", "gradscope.integrations.transformers")
require(("accelerate",), "transformers", "gradscope.integrations.transformers")

from gradscope.clip.setting import Clip  # noqa: E402
from gradscope.integrations._session import RecorderCallback  # noqa: E402
from gradscope.record.locate import ForwardReplays  # noqa: E402


class GradscopeCallback(RecorderCallback, _transformers.TrainerCallback):
    """Records one trace row per optimizer step and diagnoses the run at the end of `train()`.

    Args:
        out: the run folder (default: a new folder under gradscope-runs/); written as the run goes, completed
            at the end with the artifacts `gradscope diagnose` writes, so `gradscope compare RUN_DIR ...` and
            `gradscope.load_run` read it.
        stop_on: "never" (default), "warning" or "critical": `control.should_training_stop` at the first symptom
            of that severity, after recording the step that shows it.
        log: add `gradscope/grad_norm` (pre-clip), `gradscope/clipped` (share of steps clipped since the last
            log), `gradscope/loss` (unfiltered) and non-finite counts to the Trainer's logs (NaN kept as NaN).
        report: print the diagnosis once at the end of training (rich, on stderr).
        weight_every: take weight norms every N steps (`Monitor`'s option; 1 sees a non-finite weight at once).
        guard: clip with a `gradscope.Guard` (online adaptive clipping; a non-finite step's update is skipped) in
            place of `max_grad_norm`, which is then not applied (the Trainer's `grad_norm` log is the norm after
            the guard's clip; `gradscope/grad_norm` stays the pre-clip norm).
    After `train()`: `callback.diagnosis` (a `Diagnosis`), `callback.run_dir`, `callback.monitor`, `callback.guard`.
    """

    def __init__(self, out: str | Path | None = None, *, stop_on: str = "never", log: bool = True,
                 report: bool = True, weight_every: int = 1, guard: bool = False) -> None:
        self._configure(out, stop_on, log, report, weight_every, guard)
        self._trainer: Any = None
        self._undo: list[Any] = []
        self._loss: Any = None
        self._inputs: list[tuple[Any, Any]] = []
        self._in_step = False

    # -- TrainerCallback hooks ---------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        trainer = _calling_trainer()
        self._trainer = trainer
        model = trainer.model
        clip = 0.0 if self.use_guard else float(args.max_grad_norm or 0.0)  # the guard replaces max_grad_norm
        self._start(model, "transformers", scaler=getattr(trainer.accelerator, "scaler", None),
                    clipped_by_caller=Clip("norm", clip) if clip > 0 else None,
                    steps=int(state.max_steps) if state.max_steps and state.max_steps > 0 else None,
                    write=state.is_world_process_zero)
        self._attach(trainer, model)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.recorder is not None and self.recorder.should_stop:
            control.should_training_stop = True
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._detach()
        self._finish()

    # -- the wrappers --------------------------------------------------------------------------------
    def _attach(self, trainer: Any, model: Any) -> None:
        self._detach()
        accelerator = trainer.accelerator
        clip_grad_norm_ = accelerator.clip_grad_norm_
        training_step = trainer.training_step
        log = trainer.log

        def recording_clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2) -> Any:
            self._record()
            if self.use_guard:
                max_norm = math.inf  # the guard has clipped (the original still unscales under fp16)
            return clip_grad_norm_(parameters, max_norm, norm_type)

        def summing_training_step(*args: Any, **kwargs: Any) -> Any:
            self._in_step = True
            try:
                loss = training_step(*args, **kwargs)
            finally:
                self._in_step = False
            value = loss.detach()
            self._loss = value if self._loss is None else self._loss + value
            return loss

        def log_with_scalars(logs: dict[str, float], *args: Any, **kwargs: Any) -> Any:
            if self.log_scalars and self.recorder is not None and "loss" in logs:
                logs.update(self.scalars())
            return log(logs, *args, **kwargs)

        accelerator.clip_grad_norm_ = recording_clip_grad_norm_
        trainer.training_step = summing_training_step
        trainer.log = log_with_scalars
        hook = model.register_forward_pre_hook(self._keep_inputs, with_kwargs=True)
        self._undo = [lambda: _unset(accelerator, "clip_grad_norm_", clip_grad_norm_),
                      lambda: _unset(trainer, "training_step", training_step),
                      lambda: _unset(trainer, "log", log), hook.remove]

    def _detach(self) -> None:
        for undo in self._undo:
            undo()
        self._undo = []

    def _keep_inputs(self, module: Any, args: Any, kwargs: Any) -> None:
        """The micro-batches' model inputs (references): replayed only if the step turns non-finite."""
        if self._in_step:
            self._inputs.append((args, kwargs))

    def _record(self) -> None:
        recorder, trainer = self.recorder, self._trainer
        if recorder is None:
            return
        groups = trainer.optimizer.param_groups if trainer.optimizer is not None else []
        lr = groups[0].get("lr") if groups else None
        model = trainer.model
        replays = [lambda a=a, k=k: model(*a, **k) for a, k in self._inputs]
        recorder.record(self._loss if self._loss is not None else math.nan,
                        lr=float(lr) if lr is not None else None, replay=ForwardReplays(model, replays))
        recorder.before_step(can_skip=False)  # the Trainer steps the optimizer: a skipped update has no gradients
        self._loss, self._inputs = None, []


def _unset(owner: Any, name: str, original: Any) -> None:
    """Put back what was there: the class's method (drop the instance attribute) or an earlier wrapper."""
    if getattr(type(owner), name, None) is not None and getattr(original, "__self__", None) is owner:
        owner.__dict__.pop(name, None)
    else:
        setattr(owner, name, original)


def _calling_trainer() -> Any:
    """The `transformers.Trainer` whose training loop is calling the callback (found on the call stack)."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, _transformers.Trainer):
            return candidate
        frame = frame.f_back
    raise RuntimeError("gradscope's GradscopeCallback must be called by a transformers.Trainer "
                       "(fix: pass it in Trainer(callbacks=[...]))")
