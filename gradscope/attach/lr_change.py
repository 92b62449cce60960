"""Inside the attached process: a trial's learning-rate change, applied where the script steps.

The fixes that are not a clip (a lower learning rate, a warm-up) must be tried on the user's script without
editing it. Its own schedule keeps running: nanoGPT sets `param_group["lr"]` every iteration, a `LambdaLR` scales
it after every step. So the change is made at the optimizer step itself: just before `optimizer.step()` every
param group's lr is multiplied by the trial's factor, and right after it the script's own value is put back.
The script, its scheduler and its logging read the lr they set; only the update sees the changed one.

- `lr_scale` F: the factor is F on every step (`compare --lr-scale F`);
- `warmup` W: a linear warm-up over the first W optimizer steps of each optimizer (`compare --warmup W`): step k
  (0-based) steps at k/W of the script's lr, as a config's `schedule.warmup_steps` (transformers' formula); both
  multiply when both are given.

A step the GradScaler skips is no optimizer step (torch calls no `optimizer.step()`), so it does not advance the
warm-up. A script with no optimizer (a hand-written update) has no learning rate gradscope can reach: the parent
sees that no run has an optimizer (session.py) and refuses the trial in one line.
"""

from __future__ import annotations

from typing import Any

import torch

from gradscope.attach.settings import Settings
from gradscope.build.schedules import constant_with_warmup


class LrChange:
    """The change of one trial, and each optimizer's count of steps taken (the warm-up's clock)."""

    def __init__(self, scale: float | None, warmup: int | None) -> None:
        self.scale = 1.0 if scale is None else float(scale)
        self.warmup = warmup or 0
        self.steps: dict[int, int] = {}  # id(optimizer) -> optimizer steps taken
        self.saved: dict[int, list[Any]] = {}  # id(optimizer) -> its groups' own lr, while a step runs

    def factor(self, optimizer: Any) -> float:
        """What the next step of `optimizer` multiplies the script's lr by."""
        ramp = constant_with_warmup(self.steps.get(id(optimizer), 0), warmup=self.warmup) if self.warmup else 1.0
        return self.scale * ramp

    def effective(self, optimizer: Any, lr: float) -> float:
        """The lr the next (or the current) step of `optimizer` applies, from the script's `lr`: what its row
        records. Inside the step the groups hold it already."""
        return lr if id(optimizer) in self.saved else lr * self.factor(optimizer)

    def before(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        groups = optimizer.param_groups
        factor = self.factor(optimizer)
        self.saved[id(optimizer)] = [group.get("lr") for group in groups]
        for group in groups:
            if isinstance(group.get("lr"), int | float | torch.Tensor):  # a tensor lr: a new tensor, put back after
                group["lr"] = group["lr"] * factor

    def after(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        saved = self.saved.pop(id(optimizer), None)
        if saved is not None:
            for group, lr in zip(optimizer.param_groups, saved, strict=False):
                group["lr"] = lr
        self.steps[id(optimizer)] = self.steps.get(id(optimizer), 0) + 1


_CHANGE: LrChange | None = None


def install(settings: Settings) -> None:
    """Apply the settings' lr change (if any) at every optimizer step of this process, once."""
    global _CHANGE
    if _CHANGE is not None or (settings.lr_scale is None and not settings.warmup):
        return
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    _CHANGE = change = LrChange(settings.lr_scale, settings.warmup)
    register_optimizer_step_pre_hook(change.before)
    register_optimizer_step_post_hook(change.after)


def effective_lr(optimizer: Any, lr: float) -> float:
    """The lr a step of `optimizer` applies under this process's trial (the script's own without one)."""
    return lr if _CHANGE is None else _CHANGE.effective(optimizer, lr)
