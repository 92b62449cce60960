"""Re-running one micro-batch of a step exactly as it ran, without leaving a trace of it.

Finding where a value went non-finite (locate.py) and which op overflowed (op_overflow.py) both replay a step:
the same batch, the same RNG state (dropout included), the same autocast and loss scale (the `Recipe`). The
replay must not disturb the run: the gradients, the buffers (BatchNorm statistics) and the RNG are put back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gradscope.build.loading import LossComputer

if TYPE_CHECKING:
    from gradscope.drivers.recipe import Recipe


@contextlib.contextmanager
def replaying(model: nn.Module, rng_state: dict[str, Any] | None) -> Iterator[None]:
    """Inside: the RNG as it was before the step (`rng_state`; None: as it is now) and no gradients; afterwards
    the gradients, buffers and RNG of the run as they were."""
    params = [p for p in model.parameters() if p.requires_grad]
    saved_grads = [p.grad for p in params]
    saved_buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    devices = [d.index for d in {p.device for p in params} if d.type == "cuda"]
    try:
        with torch.random.fork_rng(devices=devices):
            if rng_state is not None:
                torch.set_rng_state(rng_state["cpu"])
                if rng_state.get("cuda") is not None:
                    torch.cuda.set_rng_state_all(rng_state["cuda"])
            for p in params:
                p.grad = None
            with torch.enable_grad():
                yield
    finally:
        for p, g in zip(params, saved_grads, strict=True):
            p.grad = g
        with torch.no_grad():
            for n, b in model.named_buffers():
                if n in saved_buffers:
                    b.copy_(saved_buffers[n])


def forward_backward(model: nn.Module, loss_fn: LossComputer, batch: Any, recipe: Recipe | None) -> torch.Tensor:
    """One micro-batch as the run computed it (autocast, loss scale); the loss, unscaled and detached."""
    with recipe.autocast() if recipe is not None else contextlib.nullcontext():
        output = loss_fn.forward(model, batch)
        loss = loss_fn.loss(model, batch, output)
    if loss.requires_grad:
        if recipe is not None:
            recipe.backward(loss)
        else:
            loss.backward()
    return loss.detach()
