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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from gradscope.build.loading import LossComputer
from gradscope.record.op_overflow import OpOverflow, OverflowWatch, find_overflow
from gradscope.record.replay import forward_backward, replaying
from gradscope.trace.trace import Stage

if TYPE_CHECKING:
    from gradscope.record.recipe import Recipe


@dataclass(frozen=True)
class Location:
    stage: Stage | Literal["unknown"]  # "unknown": the replay found nothing non-finite
    module: str | None = None
    parameter: str | None = None
    detail: str = ""
    op: OpOverflow | None = None  # the first op that made inf/NaN from finite inputs (op_overflow.py)


def _tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in a module's output or a batch: a tensor, or nested tuples, lists, dicts and transformers'
    `ModelOutput`s of them."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    elif hasattr(value, "to_tuple"):  # transformers' ModelOutput
        value = list(value.to_tuple())
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    return []


def _first_nonfinite(value: Any) -> torch.Tensor | None:
    return next((t for t in _tensors(value) if t.is_floating_point() and not bool(torch.isfinite(t).all())), None)


def _describe(t: torch.Tensor) -> str:
    return f"{int(torch.isnan(t).sum())} NaN, {int(torch.isinf(t).sum())} Inf of {t.numel()} values"


@contextmanager
def _first_nonfinite_output(model: nn.Module) -> Iterator[list[tuple[str, str]]]:
    """Forward hooks on every module; inside, the list holds (module name, what it output) of the first module
    whose output held NaN/Inf. Hooks fire child before parent: the innermost module where it first appeared."""
    names = {id(m): n for n, m in model.named_modules()}
    first: list[tuple[str, str]] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if not first and (bad := _first_nonfinite(output)) is not None:
            first.append((names.get(id(module), "") or type(module).__name__,
                          f"{type(module).__name__}: {_describe(bad)}"))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        yield first
    finally:
        for h in handles:
            h.remove()


def locate_nonfinite(model: nn.Module, loss_fn: LossComputer, batch: Any, rng_state: dict[str, Any],
                     recipe: Recipe | None = None) -> Location:
    """Re-run one micro-batch on `batch` from `rng_state` as `recipe` ran it (autocast, loss scale), under an
    `OverflowWatch` that names the op as well; gradients, buffers and RNG are restored afterwards."""
    if _first_nonfinite(batch) is not None:
        return Location("data", detail="the input batch holds NaN/Inf")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    backward_first: list[str] = []

    def grad_hook(name: str) -> Any:
        def hook(p: torch.Tensor) -> None:
            if not backward_first and p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                backward_first.append(name)
        return hook

    handles = []
    if hasattr(torch.Tensor, "register_post_accumulate_grad_hook"):
        handles = [p.register_post_accumulate_grad_hook(grad_hook(n)) for n, p in params]
    try:
        with _first_nonfinite_output(model) as first:
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


def locate_in_forwards(model: nn.Module, forwards: list[Callable[[], Any]], loss_finite: bool) -> Location | None:
    """Where a step went non-finite, from forwards alone (a framework's step replayed, one call per micro-batch,
    under no_grad): the first module whose output held NaN/Inf; else, with a non-finite loss, the loss itself;
    else None (the forward is finite: the gradients went non-finite in backward, as the Monitor's event says).
    Buffers and RNG are restored afterwards."""
    with _first_nonfinite_output(model) as first, replaying(model, None), torch.no_grad():
        for forward in forwards:
            forward()
            if first:
                break
    if first:
        module, detail = first[0]
        return Location("forward", module=module, detail=detail)
    if not loss_finite:
        return Location("loss", detail="every module's output is finite; the loss is not")
    return None


class StepReplay:
    """A config run's step, replayable: each micro-batch with the RNG state before it, as `recipe` ran it."""

    def __init__(self, model: nn.Module, loss_fn: LossComputer, micro: list[tuple[Any, dict[str, Any]]],
                 recipe: Recipe | None) -> None:
        self.model, self.loss_fn, self.micro, self.recipe = model, loss_fn, micro, recipe

    def locate(self, loss_finite: bool) -> Location | None:
        """The location found in the first micro-batch that shows it (stage "unknown" when none does)."""
        loc = Location("unknown")
        for batch, rng in self.micro:
            loc = locate_nonfinite(self.model, self.loss_fn, batch, rng, self.recipe)
            if loc.stage != "unknown":
                break
        return loc

    def overflow(self) -> OpOverflow | None:
        """The first op of the forward that overflowed, in the first micro-batch with one (op_overflow.py)."""
        for batch, rng in self.micro:
            found, _ = find_overflow(self.model, self.loss_fn, batch, rng, self.recipe)
            if "forward" in found:
                return found["forward"]
        return None


class ForwardReplays:
    """A framework's step, replayable as forwards only (callables that rerun each micro-batch's forward)."""

    def __init__(self, model: nn.Module, forwards: list[Callable[[], Any]]) -> None:
        self.model, self.forwards = model, forwards

    def locate(self, loss_finite: bool) -> Location | None:
        return locate_in_forwards(self.model, self.forwards, loss_finite) if self.forwards else None

    def overflow(self) -> OpOverflow | None:
        return None  # the op-level check needs the loss and backward too

