"""The torch calls the attach intercepts in the script's process, by what they tell: the losses (backward), the
script's own clip, and the optimizer's step. Each hook class reads and writes the process's `Attached` state and
leaves the rows to it (child.py).

- `BackwardHooks`: `Tensor.backward` / `torch.autograd.backward` add each scalar loss to the step's loss (a loss
  scaled by a GradScaler counts unscaled: `GradScaler.scale` remembers what it scaled); without any optimizer and
  while the script does not clip, each `backward()` is a row.
- `ClipHooks`: the script's `clip_grad_norm_` / `clip_grad_value_` record the row before they clip (so the norm is
  what the clip returns), and clip at a trial's threshold in place of the script's.
- `StepHooks`: an optimizer's construction names its run; `GradScaler.step` (after its `unscale_`, so a step the
  scaler skips is a row too), torch's global optimizer-step pre-hook and the first closure evaluation of a closure
  optimizer (LBFGS) record the row and apply a trial's clip before the update; the post-hook ends the step.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gradscope.clip.setting import Clip

if TYPE_CHECKING:
    from gradscope.attach.child import Attached
    from gradscope.attach.runs import AttachedRun

UNSCALED = "_gradscope_unscaled"  # on a tensor GradScaler.scale returned: the loss before scaling


class StepLoss:
    """The scalar losses backpropagated since the last row, the row's loss. Not frozen: it adds up until a row
    takes it."""

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None  # the sum since the last row (unscaled)
        self.last: torch.Tensor | float = math.nan  # the previous row's: a step with no backward of its own
        self.backwards = 0  # backward() calls since the last row
        self.grad_calls = 0  # torch.autograd.grad calls since the last row (a script with no backward)
        self.scaler: Any = None  # the GradScaler that scaled the last loss: the runs it steps skip with it

    def add(self, tensors: list[Any]) -> None:
        """Add each scalar of `tensors` (a loss GradScaler.scale made counts as the loss it scaled)."""
        for t in tensors:
            if isinstance(t, torch.Tensor) and t.numel() == 1:
                value = getattr(t, UNSCALED, None)
                value = (t if value is None else value).detach().reshape(()).float()
                self.loss = value if self.loss is None else self.loss + value
        self.backwards += 1

    def take(self) -> torch.Tensor | float:
        """The row's loss (the previous row's when nothing was backpropagated since), and start the next."""
        loss = self.loss if self.loss is not None else self.last
        self.last, self.loss, self.backwards, self.grad_calls = loss, None, 0, 0
        return loss

    def uncounted(self, call: Any) -> Any:
        """`call()`, leaving the losses as they were (a closure's later evaluations count for no row)."""
        before = self.loss, self.backwards
        value = call()
        self.loss, self.backwards = before
        return value


class BackwardHooks:
    """`Tensor.backward`, `torch.autograd.backward`, `torch.autograd.grad` and `GradScaler.scale`: the losses a row
    records, and a row per backward for a script without optimizer that does not clip."""

    def __init__(self, state: Attached) -> None:
        self.state = state
        self.inside = False  # a backward inside a backward (autograd.backward under Tensor.backward) counts once

    def install(self) -> None:
        from torch.amp.grad_scaler import GradScaler

        wrap(torch.Tensor, "backward", self._backward)
        wrap(torch.autograd, "backward", self._autograd_backward)
        wrap(torch.autograd, "grad", self._autograd_grad)
        wrap(GradScaler, "scale", self._scale)

    def _backward(self, original: Any, tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inside:
            return original(tensor, *args, **kwargs)
        return self._around([tensor], lambda: original(tensor, *args, **kwargs))

    def _autograd_backward(self, original: Any, tensors: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inside:
            return original(tensors, *args, **kwargs)
        listed = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        return self._around(listed, lambda: original(tensors, *args, **kwargs))

    def _around(self, tensors: list[Any], call: Any) -> Any:
        state = self.state
        manual = state.manual()
        if manual is not None and manual.pending:
            manual.end_cycle()  # the previous update is done: a new one starts with this backward
            state.check_stop()
        state.losses.add(tensors)
        self.inside = True
        try:
            result = call()
        finally:
            self.inside = False
        if not state.optimizers and not state.manual_clips:
            run = state.manual(create=True)
            if run is not None:
                state.record(run)
                run.apply_trial_clip()  # a trial's clip on an update by hand that does not clip: before it
        return result

    def _autograd_grad(self, original: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.inside:
            self.state.losses.grad_calls += 1
        return original(*args, **kwargs)

    def _scale(self, original: Any, scaler: Any, outputs: Any) -> Any:
        scaled = original(scaler, outputs)
        if isinstance(outputs, torch.Tensor) and isinstance(scaled, torch.Tensor) and scaled is not outputs:
            setattr(scaled, UNSCALED, outputs.detach())
            self.state.losses.scaler = scaler
        return scaled


class ClipHooks:
    """The script's `clip_grad_norm_` / `clip_grad_value_`: the row is recorded before the clip (the norm it
    returns is the row's), and a trial's clip replaces the script's."""

    def __init__(self, state: Attached) -> None:
        self.state = state

    def install(self) -> None:
        import torch.nn.utils.clip_grad as clip_grad

        for module in (torch.nn.utils, clip_grad):
            wrap(module, "clip_grad_norm_", self._clip_norm)
            wrap(module, "clip_grad_value_", self._clip_value)

    def _clip_norm(self, original: Any, parameters: Any, max_norm: float, *args: Any, **kwargs: Any) -> Any:
        params = _tensors(parameters)
        run = self.state.run_for_params(params)
        if run is None or run.applying:
            return original(params, max_norm, *args, **kwargs)
        l2 = float(args[0] if args else kwargs.get("norm_type", 2.0)) == 2.0  # `clipped` is judged by the L2 norm
        script = Clip("norm", float(max_norm)) if l2 else None
        stats = self.state.record(run, script) if not run.pending else run.last
        if script is not None:
            run.script_clips(script, stats.grad_norm)
        trial = run.trial
        if trial is None:
            return original(params, max_norm, *args, **kwargs)
        if run.trial_applied:  # clipped at backward (the script's first update by hand): not a second time
            return torch.as_tensor(stats.grad_norm)
        run.trial_done()
        if trial.mode != "norm":  # the trial's own clip (value, or the guard's) replaces the script's
            run.apply_trial_clip()
            return torch.as_tensor(stats.grad_norm)
        result = original(params, trial.threshold, *args, **kwargs)
        if l2:
            run.mark_clipped(math.isfinite(stats.grad_norm) and stats.grad_norm > trial.threshold)
        return result

    def _clip_value(self, original: Any, parameters: Any, clip_value: float, *args: Any, **kwargs: Any) -> Any:
        params = _tensors(parameters)
        run = self.state.run_for_params(params)
        if run is None or run.applying:
            return original(params, clip_value, *args, **kwargs)
        run.monitor_max_abs()
        script = Clip("value", float(clip_value))
        stats = self.state.record(run, script) if not run.pending else run.last
        run.script_clips(script, stats.grad_max_abs)
        trial = run.trial
        if trial is None:
            return original(params, clip_value, *args, **kwargs)
        if run.trial_applied:  # clipped at backward (the script's first update by hand): not a second time
            return None
        run.trial_done()
        if trial.mode != "value":
            run.apply_trial_clip()
            return None
        result = original(params, trial.threshold, *args, **kwargs)
        run.mark_clipped(math.isfinite(stats.grad_max_abs) and stats.grad_max_abs > trial.threshold)
        return result


class StepHooks:
    """An optimizer's construction (its run), `GradScaler.step` and torch's global optimizer-step pre- and
    post-hooks (and a closure optimizer's first evaluation): the row and a trial's clip before the update, the
    end of the step after it."""

    def __init__(self, state: Attached) -> None:
        self.state = state
        self.scaler_step: Any = None  # the optimizer a GradScaler.step is stepping now

    def install(self) -> None:
        from torch.amp.grad_scaler import GradScaler
        from torch.optim.optimizer import (
            Optimizer,
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        from gradscope.clip.snapshot import listen

        listen()  # the Guard's hook, now: one registered while a step iterates the hooks breaks that step
        wrap(Optimizer, "__init__", self._optimizer_init)
        register_optimizer_step_pre_hook(self._pre_step)
        register_optimizer_step_post_hook(self._post_step)
        wrap(GradScaler, "step", self._scaler_step)

    def _optimizer_init(self, original: Any, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        original(optimizer, *args, **kwargs)
        self.state.add_optimizer(optimizer)

    def _scaler_step(self, original: Any, scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        state = self.state
        if not scaler.is_enabled() or state.stopping:
            return original(scaler, optimizer, *args, **kwargs)
        run = state.run_for(optimizer)
        scaler_state = scaler._per_optimizer_states[id(optimizer)]
        if getattr(scaler_state.get("stage"), "name", "") == "READY":
            scaler.unscale_(optimizer)  # what step() does first: the row sees the true gradients
        run.scaler = scaler
        if not run.pending:
            state.record(run)
        if not run.apply_trial_clip():
            run.skip_update()  # no gradients: the step leaves the weights and the optimizer's state as they are
        self.scaler_step = optimizer
        try:
            result = original(scaler, optimizer, *args, **kwargs)
        finally:
            self.scaler_step = None
        state.end_step(run)
        return result

    def _pre_step(self, optimizer: Any, args: Any, kwargs: Any) -> Any:
        if self.state.stopping or self.scaler_step is optimizer:
            return None
        run = self.state.run_for(optimizer)
        closure = args[1] if len(args) > 1 else kwargs.get("closure")
        if closure is not None:
            return self._wrap_closure(run, args, kwargs, closure)
        if not run.pending:
            self.state.record(run)
        if not run.apply_trial_clip():
            run.skip_update()
        return None

    def _wrap_closure(self, run: AttachedRun, args: Any, kwargs: Any, closure: Any) -> Any:
        """The first evaluation of a closure is the row (LBFGS evaluates it many times per step). Its loss adds to
        the losses backpropagated before the step (Lightning runs a step's last micro-batch in the closure, after
        the others); the later evaluations' losses count for no row."""
        first, skip = [True], [False]

        @functools.wraps(closure)
        def evaluated(*a: Any, **k: Any) -> Any:
            if first[0]:
                value = closure(*a, **k)
                first[0] = False
                if not run.pending:
                    self.state.record(run)
                skip[0] = not run.apply_trial_clip()
            else:
                value = self.state.losses.uncounted(lambda: closure(*a, **k))
                run.apply_trial_clip()
            if skip[0]:  # no gradients: LBFGS's first evaluation finds none and returns, updating nothing
                run.skip_update()
            return value

        if len(args) > 1:
            return (args[0], evaluated, *args[2:]), kwargs
        return args, {**kwargs, "closure": evaluated}

    def _post_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.state.stopping or self.scaler_step is optimizer:
            return
        self.state.end_step(self.state.run_for(optimizer))


def _tensors(parameters: Any) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    return [p for p in parameters if isinstance(p, torch.Tensor)]


_PACKAGE = os.path.join(Path(__file__).resolve().parent.parent, "")  # gradscope's folder, with its separator


def warnings_at_the_scripts_line() -> None:
    """Show a warning raised inside a wrapped call at the script's line, not at gradscope's.

    Torch warns with a stacklevel that points at its caller, which under `wrap` is gradscope's hook ("precision.py:
    47: UserWarning: ...GradScaler is enabled, but CUDA is not available"). Only the display moves, to the first
    frame outside gradscope: re-issuing the warnings from a `warnings.catch_warnings` around the hooks would reset
    every module's once-per-location registry each step, and a warning meant to show once would show every step."""
    shown = warnings.showwarning

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if filename.startswith(_PACKAGE):
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename != filename:
                frame = frame.f_back  # out of the code that warned, to the hook it names
            while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
                frame = frame.f_back  # out of gradscope, to the script
            if frame is not None:
                filename, lineno, line = frame.f_code.co_filename, frame.f_lineno, None
        shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def wrap(owner: Any, name: str, hook: Any) -> None:
    """Replace `owner.name` with a function that calls `hook(original, *args, **kwargs)`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return hook(original, *args, **kwargs)

    setattr(owner, name, wrapper)
