"""The learning-rate schedule of `[schedule]`, stepped once after every optimizer step.

The built-ins are transformers' `get_{constant,linear,cosine}_schedule_with_warmup` over `[run] steps`, the same
multipliers step for step (so a run here matches a Hugging Face run with the same schedule), written out here so
that gradscope does not need transformers. Any `torch.optim.lr_scheduler` class is taken by name, with every
other key as its argument; an import path names a callable `(optimizer, steps, **options) -> scheduler`.
"""

from __future__ import annotations

import inspect
import math
from functools import partial
from typing import Any

import torch

from gradscope.build.loading import check_options, import_object, user_code
from gradscope.config.load import Config
from gradscope.errors import ConfigError, did_you_mean


def constant_with_warmup(step: int, *, warmup: int) -> float:
    return step / max(1, warmup) if step < warmup else 1.0


def linear_with_warmup(step: int, *, warmup: int, total: int) -> float:
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def cosine_with_warmup(step: int, *, warmup: int, total: int, num_cycles: float = 0.5) -> float:
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))


def _builtin(name: str, warmup: int, total: int, options: dict[str, Any], where: str = "[schedule]") -> Any:
    if name == "constant":
        return partial(constant_with_warmup, warmup=warmup)
    if name == "linear":
        return partial(linear_with_warmup, warmup=warmup, total=total)
    cycles = options.get("num_cycles", 0.5)
    if isinstance(cycles, bool) or not isinstance(cycles, int | float) or not math.isfinite(cycles):
        raise ConfigError(f"{where} num_cycles must be a finite number, got {cycles!r} (fix: e.g. "
                          "num_cycles = 0.5, half a cosine wave over the run)")
    return partial(cosine_with_warmup, warmup=warmup, total=total, num_cycles=float(cycles))


def _torch_schedulers() -> dict[str, type]:
    sched = torch.optim.lr_scheduler
    return {n: getattr(sched, n) for n in dir(sched) if not n.startswith("_") and inspect.isclass(getattr(sched, n))
            and issubclass(getattr(sched, n), sched.LRScheduler) and n not in ("LRScheduler", "_LRScheduler")}


def build_schedule(config: Config, optimizer: torch.optim.Optimizer, steps: int) -> Any:
    """The scheduler of `[schedule]` for `optimizer` over `steps` optimizer steps, or None without one."""
    spec = config.schedule
    if spec.name is None:
        return None
    where = f"{config.source}: [schedule]"
    if spec.builtin:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, _builtin(spec.name, spec.warmup_steps, steps,
                                                                     spec.options, where))
    if ":" in spec.name:
        factory = import_object(spec.name, config.base_dir, f"{where} name")
        if not callable(factory):
            raise ConfigError(f"{where} name: {spec.name} is not callable (fix: a function (optimizer, steps) "
                              "returning a torch.optim.lr_scheduler)")
        with user_code("your schedule factory"):
            scheduler = factory(optimizer, steps, **spec.options)
        if not callable(getattr(scheduler, "step", None)):
            raise ConfigError(f"{where} name: {spec.name} returned {type(scheduler).__name__}, which has no "
                              "step() (fix: return a torch.optim.lr_scheduler instance)")
        return scheduler
    classes = _torch_schedulers()
    cls = classes.get(spec.name)
    if cls is None:
        builtins = ("constant", "linear", "cosine")
        raise ConfigError(f"{where} name: {spec.name!r} is not a schedule"
                          f"{did_you_mean(spec.name, [*builtins, *classes])} (fix: one of "
                          f"{', '.join(builtins)}, a torch.optim.lr_scheduler class such as StepLR, or an import path)")
    check_options(cls, spec.options, config.source, "schedule", skip=2)
    try:
        return cls(optimizer, **spec.options)
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:  # torch's own checks of the arguments
        raise ConfigError(f"{where} {spec.name}: {exc} (fix: check the arguments of "
                          f"torch.optim.lr_scheduler.{spec.name})") from None
