"""The user's recipe around one optimizer step: mixed precision and gradient accumulation.

The training loop and the replay that finds where a NaN began (locate.py) both run a micro-batch through the
same `Recipe`, so the replayed step is the step that ran: the same autocast, the same loss scale.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Recipe:
    """Autocast of forward and loss (`bf16`, `fp16`), a GradScaler for fp16, and `accumulate` micro-batches."""

    device: torch.device
    precision: str = "fp32"
    accumulate: int = 1
    scaler: Any = None  # torch.amp.GradScaler, fp16 only

    @classmethod
    def build(cls, device: torch.device, precision: str, accumulate: int) -> Recipe:
        scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        return cls(device, precision, accumulate, scaler)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward and loss context: `torch.autocast` on the run's device, or nothing in fp32."""
        dtype = AUTOCAST_DTYPES.get(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate one micro-batch's loss: divided by `accumulate`, multiplied by the loss scale."""
        if self.accumulate > 1:
            loss = loss / self.accumulate
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the loss scale before they are measured and clipped (as AMP's docs say)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer step; a GradScaler skips it when the gradients hold inf/NaN and lowers its scale."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def skip(self) -> None:
        """No update this step; a GradScaler still takes the step's inf check into its scale (as it would skip)."""
        if self.scaler is not None:
            self.scaler.update()

    @staticmethod
    def step_loss(losses: list[torch.Tensor]) -> torch.Tensor:
        """The optimizer step's loss: the mean of its micro-batch losses (no host sync)."""
        if len(losses) == 1:
            return losses[0]
        return torch.stack([loss.float() for loss in losses]).mean()
