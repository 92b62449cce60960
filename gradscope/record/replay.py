"""Re-running one micro-batch of a step exactly as it ran, without leaving a trace of it.

Finding where a value went non-finite (locate.py) and which op overflowed (op_overflow.py) both replay a step:
the same batch, the same RNG state (dropout included), the same autocast and loss scale (the `Recipe`). The
replay must not disturb the run: the gradients, the buffers (BatchNorm statistics) and the RNG are put back.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gradscope.build.loading import LossComputer

if TYPE_CHECKING:
    from gradscope.record.recipe import Recipe


def rng_snapshot(device: torch.device | None = None, *, host: bool = False) -> dict[str, Any]:
    """The random state to come back to: torch's CPU generator and, on a CUDA `device` (None: wherever CUDA is
    available), every CUDA device's; with `host`, NumPy's and Python's too. Taken before a step's forward it
    replays the step exactly (dropout included); the config loop swaps whole snapshots between interleaved runs."""
    cuda = torch.cuda.is_available() if device is None else device.type == "cuda"
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if cuda else None}
    if host:
        state |= {"numpy": np.random.get_state(), "python": random.getstate()}
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what `rng_snapshot` took."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None:
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        np.random.set_state(state["numpy"])
        random.setstate(state["python"])


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
                restore_rng(rng_state)
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
