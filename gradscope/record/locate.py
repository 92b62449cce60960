"""Where a non-finite value first appeared, found by re-running the bad step once with hooks.

On the first step whose loss or gradients are non-finite, the optimizer has not stepped yet: the weights are
still the ones that produced it. Re-running that step's forward on the same batch, from the same RNG state,
with forward hooks names the first module whose output went non-finite; if the forward is finite, hooks on
gradient accumulation name the first parameter (in backward order) whose gradient is. An `OverflowWatch` on the
same replay names the op inside the module that made the first inf/NaN (op_overflow.py). PyTorch's anomaly mode
finds the backward half of this at 2.5-3x the cost of every step; this costs one extra step, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gradscope.build.loading import LossComputer
from gradscope.record.op_overflow import OpOverflow, OverflowWatch
from gradscope.record.replay import forward_backward, replaying

if TYPE_CHECKING:
    from gradscope.drivers.recipe import Recipe


@dataclass(frozen=True)
class Location:
    stage: str  # data | forward | loss | backward | unknown
    module: str | None = None
    parameter: str | None = None
    detail: str = ""
    op: OpOverflow | None = None  # the first op that made inf/NaN from finite inputs (op_overflow.py)


def _nonfinite(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and not bool(torch.isfinite(value).all())
    if isinstance(value, tuple | list):
        return any(_nonfinite(v) for v in value)
    if isinstance(value, dict):
        return any(_nonfinite(v) for v in value.values())
    return False


def _describe(value: Any) -> str:
    tensors = [value] if isinstance(value, torch.Tensor) else [
        v for v in (value if isinstance(value, tuple | list) else value.values()) if isinstance(v, torch.Tensor)]
    for t in tensors:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            nan = int(torch.isnan(t).sum())
            inf = int(torch.isinf(t).sum())
            return f"{nan} NaN, {inf} Inf of {t.numel()} values"
    return ""


def locate_nonfinite(model: nn.Module, loss_fn: LossComputer, batch: Any, rng_state: dict[str, Any],
                     recipe: Recipe | None = None) -> Location:
    """Re-run one micro-batch on `batch` from `rng_state` as `recipe` ran it (autocast, loss scale), under an
    `OverflowWatch` that names the op as well; gradients, buffers and RNG are restored afterwards."""
    if _nonfinite(batch if not isinstance(batch, dict) else list(batch.values())):
        return Location("data", detail="the input batch holds NaN/Inf")
    names = {id(m): n for n, m in model.named_modules()}
    first: list[tuple[str, str]] = []

    def forward_hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if not first and _nonfinite(output):
            first.append((names.get(id(module), "") or type(module).__name__,
                          f"{type(module).__name__}: {_describe(output)}"))

    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    backward_first: list[str] = []

    def grad_hook(name: str) -> Any:
        def hook(p: torch.Tensor) -> None:
            if not backward_first and p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                backward_first.append(name)
        return hook

    handles = [m.register_forward_hook(forward_hook) for m in model.modules()]
    if hasattr(torch.Tensor, "register_post_accumulate_grad_hook"):
        handles += [p.register_post_accumulate_grad_hook(grad_hook(n)) for n, p in params]
    try:
        try:
            with replaying(model, rng_state), OverflowWatch(model) as watch:
                value = float(forward_backward(model, loss_fn, batch, recipe))
            op = watch.earliest
        except Exception:  # noqa: BLE001 - a model the dispatch mode cannot run: the hooks alone, as before
            first.clear()
            backward_first.clear()
            with replaying(model, rng_state):
                value = float(forward_backward(model, loss_fn, batch, recipe))
            op = None
    finally:
        for h in handles:
            h.remove()
    parameter = backward_first[0] if backward_first else None
    if first:
        module, detail = first[0]
        return Location("forward", module=module, parameter=parameter, detail=detail, op=op)
    if not math.isfinite(value):
        return Location("loss", parameter=parameter, detail=f"loss = {value}", op=op)
    return Location("backward" if parameter else "unknown", parameter=parameter, op=op)


def rng_snapshot(device: torch.device) -> dict[str, Any]:
    """The RNG state before a step's forward, so the step can be replayed exactly (dropout included)."""
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None}
