"""The whole model's statistics on every rank, from one small collective per step (`Monitor` under torch.distributed).

Under FSDP2 each rank holds a shard of every parameter and of its gradient (a DTensor): a local norm is not the
model's. As torchtitan's `clip_grad_norm_` does, each rank takes the norms of its local shards with the same fused
kernels, squares them (float64: a square of a float32 norm does not overflow there), and ONE `all_reduce(SUM)`
over one flat tensor gives every rank the squared norms of the full parameters. Replicated parameters (DDP, or a
loop that all-reduces its own gradients) hold the same values on every rank: they enter the sum divided by the
number of copies, which gives them back exactly and still spreads a NaN or Inf on any rank to all. The same
tensor carries the loss (summed, then divided by the world size: the global mean over equal local batches) and,
when per-parameter peaks are tracked, each rank's peaks in a slot of their own, zero elsewhere, so the sum is a
gather and the maximum is taken after it. Every rank then decodes the same row: the same norms, flags and
findings, at the same step.

Norms are rebuilt as the run's precision sees them. In a float32 model a norm whose square passes float32's range
is inf (as `_foreach_norm` gives for |g| > ~1.8e19), and the global norm is the float32 norm of the per-parameter
norms, as `clip_grad_norm_` takes it; the rare step with such a norm is rechecked in float64 with one more
collective that every rank makes, since every rank decodes the same row. A float64 model keeps float64 norms and
loss (finite past float32's range, as its own `clip_grad_norm_` sees them).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gradscope.monitor.norm_kernels import exact_norms, row_dtype
from gradscope.monitor.row_layout import RowLayout
from gradscope.numbers import FLOAT32_MAX


def local(tensor: Any) -> Any:
    """The rank's own part of a tensor: a DTensor's local shard (a view of its storage), any other tensor as is."""
    to_local = getattr(tensor, "to_local", None)
    return to_local() if to_local is not None else tensor


def process_group_active() -> bool:
    """True when the default process group is up with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def copies(param: Any, world: int) -> int:
    """How many ranks hold the same values of `param`: the world for a plain (replicated) tensor; for a DTensor the
    world divided by the ranks its shards are spread over."""
    placements = getattr(param, "placements", None)
    if placements is None:
        return world
    mesh = param.device_mesh
    sharded = math.prod(mesh.size(d) for d, p in enumerate(placements) if p.is_shard())
    return max(world // sharded, 1)


def ranks_for(params: list[Any]) -> OneProcess | RankReduce:
    """How a `Monitor` of `params` sees the other ranks: through `RankReduce` under a process group of more than
    one rank, else not at all (`OneProcess`, which leaves every number as it is)."""
    if process_group_active():
        return RankReduce(params, params[0].device)
    return OneProcess()


class OneProcess:
    """No other ranks: the local statistics are the model's (the same interface as `RankReduce`)."""

    @staticmethod
    def local_params(params: list[Any]) -> list[Any]:
        return params

    @staticmethod
    def grads(params: list[Any]) -> list[Any]:
        return [p.grad for p in params]

    @staticmethod
    def reduce(norms: torch.Tensor, total: torch.Tensor, loss: torch.Tensor,
               layout: RowLayout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return norms, total, loss

    exact_norms = staticmethod(exact_norms)

    @staticmethod
    def peak(value: torch.Tensor | None) -> float:
        return float(value) if value is not None else 0.0

    @staticmethod
    def all_finite(tensors: list[Any]) -> list[bool]:
        with torch.no_grad():
            return [bool(torch.isfinite(t).all()) for t in tensors]


class RankReduce:
    """The collective of one `Monitor`: built once for its parameters, called once per recorded step."""

    def __init__(self, params: list[Any], device: torch.device) -> None:
        self.world = dist.get_world_size()
        self.rank = dist.get_rank()
        self.n = len(params)
        self.dtype = torch.float32 if device.type == "mps" else torch.float64
        self.row_dtype = row_dtype(params)  # the row comes back in the run's precision, as in one process
        self.device = device
        self._share = torch.tensor([1.0 / copies(p, self.world) for p in params], dtype=self.dtype, device=device)
        self._host_share = self._share.cpu().numpy()

    @staticmethod
    def local_params(params: list[Any]) -> list[Any]:
        """This rank's shards of `params` (views: they follow the optimizer's updates)."""
        return [local(p) for p in params]

    @staticmethod
    def grads(params: list[Any]) -> list[Any]:
        """This rank's shards of the gradients, in parameter order (None where a gradient is None)."""
        return [None if p.grad is None else local(p.grad) for p in params]

    def reduce(self, norms: torch.Tensor, total: torch.Tensor, loss: torch.Tensor,
               layout: RowLayout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(row, global norm, loss) of the whole model, from this rank's `norms` row of `NormKernels.measure`
        (its local `total` is not used); one `all_reduce`."""
        n, share, max_abs, weights = self.n, self._share, layout.max_abs, layout.weights
        wide = norms.to(self.dtype)
        pieces = [wide[:n].square() * share, loss.to(self.dtype)]
        if weights:
            pieces.append(wide[n * (1 + max_abs):].square() * share)
        if max_abs:
            slots = torch.zeros(self.world, n, dtype=self.dtype, device=self.device)
            slots[self.rank] = wide[n:2 * n]
            pieces.append(slots.reshape(-1))
        flat = torch.cat(pieces)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        grads = _norms(flat[:n], self.row_dtype)
        rows = [grads]
        at = n + 1
        if max_abs:
            start = at + (n if weights else 0)
            rows.append(flat[start:start + self.world * n].reshape(self.world, n).amax(0).to(self.row_dtype))
        if weights:
            rows.append(_norms(flat[at:at + n], self.row_dtype))
        row = torch.cat(rows) if len(rows) > 1 else grads
        return row, torch.linalg.vector_norm(grads, 2.0), (flat[n:n + 1] / self.world).to(self.row_dtype)

    def exact_norms(self, tensors: list[Any], bad: list[int], norms: np.ndarray,
                    divide: float = 1.0) -> tuple[list[int], np.ndarray]:
        """As `norm_kernels.exact_norms`, across ranks: the float64 norms at `bad` of the full tensors, and the
        indices whose elements are not all finite on some rank. Every rank calls it with the same `bad`."""
        sums = torch.zeros(2 * len(bad), dtype=torch.float64, device=self.device)
        with torch.no_grad():
            for j, tensor in enumerate(tensors):
                part = local(tensor) if tensor is not None else None
                if part is None or not part.numel():
                    continue
                sums[j] = torch.linalg.vector_norm(part.double()).square() * float(self._host_share[bad[j]])
                sums[len(bad) + j] = (~torch.isfinite(part)).any().double()
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        host = sums.cpu().numpy()
        norms = norms.copy()
        still_bad = []
        for j, i in enumerate(bad):
            if host[len(bad) + j] > 0 or tensors[j] is None:
                still_bad.append(i)
            else:
                norms[i] = math.sqrt(host[j]) / divide
        return still_bad, norms

    def peak(self, value: torch.Tensor | None) -> float:
        """The largest |gradient element| over all ranks (0 without gradients), on the host."""
        flat = (torch.zeros(1, dtype=self.row_dtype, device=self.device) if value is None
                else value.reshape(1).to(self.row_dtype))
        dist.all_reduce(flat, op=dist.ReduceOp.MAX)
        return float(flat)

    def all_finite(self, tensors: list[Any]) -> list[bool]:
        """Whether each tensor is finite on every rank (one collective for all of them)."""
        with torch.no_grad():
            flags = torch.stack([(~torch.isfinite(local(t))).any() if local(t).numel() else
                                 torch.zeros((), dtype=torch.bool, device=self.device) for t in tensors])
            flags = flags.to(self.device, torch.float32)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return [not bool(f) for f in flags.cpu()]


def _norms(squares: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Norms from their (float64) squares, as the run's precision computes them: a float32 norm is inf once its
    square passes float32's range; a float64 model's stays as float64 holds it."""
    norms = squares.sqrt()
    if dtype == torch.float64:
        return norms.to(dtype)
    return torch.where(squares > FLOAT32_MAX, torch.full_like(norms, math.inf), norms).float()
