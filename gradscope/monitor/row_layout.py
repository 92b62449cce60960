"""One step's statistics as one flat row (float32, float64 for a float64 model): built on the device, copied
once, decoded on the host.

A row is `[grad norms | grad max-abs | weight norms | global norm | loss | scale]`, each per-parameter block `n`
wide in parameter order; the max-abs block is there only when it was tracked, the weight block only on steps
that took weight norms, the scale only when the gradients were still scaled by a GradScaler. `RowLayout` knows
where each piece sits from those three flags, so the host never counts offsets by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch


@dataclass(frozen=True)
class RowLayout:
    """Offsets of the pieces of one row, from what its step measured (computed once per layout)."""

    n_params: int
    weights: bool  # weight norms were taken this step
    max_abs: bool  # each gradient's largest |element| was taken
    scaled: bool  # the row ends with the GradScaler scale the norms are still multiplied by
    max_abs_at: int | None = field(init=False, compare=False)
    weights_at: int | None = field(init=False, compare=False)
    total_at: int = field(init=False, compare=False)
    loss_at: int = field(init=False, compare=False)
    scale_at: int | None = field(init=False, compare=False)
    width: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        n = self.n_params
        total_at = n * (1 + self.max_abs + self.weights)
        offsets = {"max_abs_at": n if self.max_abs else None,
                   "weights_at": n * (1 + self.max_abs) if self.weights else None,
                   "total_at": total_at, "loss_at": total_at + 1,
                   "scale_at": total_at + 2 if self.scaled else None, "width": total_at + 2 + self.scaled}
        for name, value in offsets.items():
            object.__setattr__(self, name, value)

    @staticmethod
    @lru_cache(maxsize=64)
    def of(n_params: int, weights: bool, max_abs: bool, scaled: bool) -> RowLayout:
        """The layout for these flags (eight per model, built once each)."""
        return RowLayout(n_params, weights, max_abs, scaled)

    def device_row(self, norms: torch.Tensor, total: torch.Tensor, loss: torch.Tensor,
                   scale: torch.Tensor | None) -> torch.Tensor:
        """The row on the device: `norms` is the per-parameter blocks (from `NormKernels.measure`), `loss` a
        1-element tensor, `scale` the scaler's scale or None; one `cat`, no host sync."""
        pieces = [norms, total.reshape(1), loss]
        if self.scaled:
            pieces.append(scale.reshape(1).to(norms.device, norms.dtype))
        return torch.cat(pieces)

    def decode(self, host: np.ndarray) -> HostRow:
        """The pieces of a host row (float64), with norms of still-scaled gradients divided by the scale."""
        if len(host) != self.width:
            raise ValueError(f"a row of {len(host)} values does not match its layout ({self.width})")
        n = self.n_params
        grads = host[:n]
        max_abs = None if self.max_abs_at is None else host[n:2 * n]
        weights = None if self.weights_at is None else host[self.weights_at:self.weights_at + n]
        total, loss = float(host[self.total_at]), float(host[self.loss_at])
        scale = None
        if self.scale_at is not None:  # record ran before scaler.unscale_: the norms are of scaled gradients
            scale = float(host[self.scale_at])
            grads = grads / scale
            total = total / scale
            if max_abs is not None:
                max_abs = max_abs / scale
        return HostRow(grads, max_abs, weights, total, loss, scale)


class HostRow(NamedTuple):
    """One step's statistics on the host, as numbers (the gradient ones unscaled)."""

    grads: np.ndarray  # per-parameter gradient L2 norms
    max_abs: np.ndarray | None  # per-parameter largest |gradient element|, when tracked
    weights: np.ndarray | None  # per-parameter weight L2 norms, on steps that took them
    total: float  # global gradient norm
    loss: float
    scale: float | None  # the GradScaler scale divided out, when the gradients were still scaled


class RowHeader(NamedTuple):
    """What `record` knows about a row on the host at once (the numbers come later, with the copy)."""

    step: int
    layout: RowLayout
    lr: float | None
    seconds: float  # since the first record


def loss_tensor(loss: torch.Tensor | float, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The loss as a 1-element `dtype` tensor (the row's) on `device`, without a host sync: a float64 model's
    finite loss of 1e40 stays finite."""
    if isinstance(loss, torch.Tensor):
        value = loss.detach()
        if value.numel() != 1:  # not a scalar: its first element (NaN when empty)
            value = value.reshape(-1)[:1] if value.numel() else torch.full((1,), math.nan, device=value.device)
        return value.reshape(1).to(device, dtype)
    return torch.tensor([float(loss)], device=device, dtype=dtype)
