"""Per-parameter norms of many tensors in a handful of fused kernels: how `Monitor` measures a step.

Norms are taken as `clip_grad_norm_` takes them: `torch._foreach_norm` per device and dtype group, then the L2
norm of the stacked per-tensor norms, so for float32 parameters the global norm is the same number, bit for bit.
One device, one dtype and every gradient present (the common case) is the fast path: the gradient list goes to
the fused call as it is, with no per-parameter Python work. Otherwise there is one fused call per group and one
gather, by an index cached until the set of present gradients changes, puts the values back in parameter order.
Norms come out in float32 (float16 overflows at 65,504), or in float64 for a model with float64 parameters: a
run keeps its own precision, and a float64 model's norm is judged in float64, as its `clip_grad_norm_` takes it.

Everything here stays on the device: no `.item()`, no host copy (the row goes to the host later, in one copy).
Under torch.distributed the kernels see each rank's local shards (`rank_reduce.local`): `Monitor` hands the row
`measure` returns to `rank_reduce.RankReduce`, whose one collective turns the shards' norms into the full
parameters' and the global norm.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import torch

# `_foreach_norm` returns one tensor object per input, and Python's cyclic GC collects whenever more than 700
# tracked objects (its generation-0 threshold) are alive at once: 800 norms (400 gradients + 400 weights) set
# off a collection each step, and once in a few hundred steps a full one (~80 ms with torch loaded). Norms are
# taken and stacked in chunks well under that, so the per-tensor objects die before they pile up.
_CHUNK = 256


class NormKernels:
    """The fused norm calls over `params` (and their gradients), grouped by device and dtype once.

    `measure` returns the row (in `dtype`) [gradient norms, (gradient max-abs), (weight norms)], each block in
    parameter order (the order `RowLayout` decodes), and the global gradient norm. A parameter whose gradient
    is None gets norm 0.
    """

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.params = params
        self.n = len(params)
        self.device = params[0].device
        self.groups = _group_by_device_and_dtype(params)
        self.fast = len(self.groups) == 1
        self._group_kw = [_norm_kw(members[0].dtype) for _, members in self.groups]
        self._kw = self._group_kw[0]
        self.dtype = row_dtype(params)
        self.zero = torch.zeros(1, device=self.device, dtype=self.dtype)
        order = [i for indices, _ in self.groups for i in indices]
        self._weight_gather = _gather_index(order, self.n, self.device)
        self._present: list[bool] | None = None  # which gradients were present when the gather was built
        self._grad_members: list[list[int]] = []
        self._grad_gather: torch.Tensor | None = None
        # The infinity norm of an empty tensor is undefined (torch raises): those parameters' peaks are 0.
        self._has_empty = any(p.numel() == 0 for p in params)

    def _peaks(self, tensors: list[torch.Tensor], kw: dict[str, Any]) -> torch.Tensor:
        if self._has_empty:
            tensors = [t if t.numel() else t.new_zeros(1) for t in tensors]
        return stacked_norms(tensors, math.inf, kw)

    def measure(self, grads: list[Any], weights: bool, max_abs: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, global gradient norm) on the device; see the class docstring for the row."""
        if self.fast:
            with contextlib.suppress(TypeError):  # a gradient is None: rejected before any work is done
                return self._fast(grads, weights, max_abs)
        return self._grouped(grads, weights, max_abs)

    def _fast(self, grads: list[Any], weights: bool, max_abs: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One device, one dtype, every gradient present: the lists go to the fused kernels as they are."""
        kw = self._kw
        grad_norms = stacked_norms(grads, 2.0, kw)
        parts = [grad_norms]
        if max_abs:
            parts.append(self._peaks(grads, kw))
        if weights:
            parts.append(stacked_norms(self.params, 2.0, kw))
        row = torch.cat(parts) if len(parts) > 1 else grad_norms
        return row, torch.linalg.vector_norm(grad_norms, 2.0)

    def _grouped(self, grads: list[Any], weights: bool, max_abs: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Several devices or dtypes, or some gradients None: one fused call per group, gathered in order.

        The global norm is taken over the group-ordered norms, as `clip_grad_norm_` takes it.
        """
        present = [g is not None for g in grads]
        if present != self._present:
            self._build_grad_gather(present)
        dev = self.device
        parts: list[torch.Tensor] = []
        peak_parts: list[torch.Tensor] = []
        for members, kw in zip(self._grad_members, self._group_kw, strict=True):
            if not members:
                continue
            group = [grads[i] for i in members]
            parts.append(stacked_norms(group, 2.0, kw).to(dev, self.dtype))
            if max_abs:
                peak_parts.append(self._peaks(group, kw).to(dev, self.dtype))
        zero = self.zero
        flat = torch.cat(parts) if parts else zero[:0]
        total = torch.linalg.vector_norm(flat, 2.0) if parts else zero[0]
        rows = [self._in_order(flat, self._grad_gather)]
        if max_abs:
            rows.append(self._in_order(torch.cat(peak_parts) if peak_parts else zero[:0], self._grad_gather))
        if weights:
            norms = [stacked_norms(members, 2.0, kw).to(dev, self.dtype)
                     for (_, members), kw in zip(self.groups, self._group_kw, strict=True)]
            rows.append(self._in_order(torch.cat(norms), self._weight_gather))
        return torch.cat(rows), total

    def _in_order(self, flat: torch.Tensor, gather: torch.Tensor | None) -> torch.Tensor:
        """Group-ordered values -> parameter order; the slot past the end holds 0 for missing gradients."""
        if gather is None:
            return flat
        return torch.cat([flat, self.zero]).index_select(0, gather)

    def _build_grad_gather(self, present: list[bool]) -> None:
        self._present = present
        self._grad_members = [[i for i in indices if present[i]] for indices, _ in self.groups]
        order = [i for members in self._grad_members for i in members]
        self._grad_gather = _gather_index(order, self.n, self.device)

    def multiply_grads_(self, coef: torch.Tensor, grads: list[Any]) -> None:
        """Every present gradient in `grads` (parameter order) times `coef` (a device scalar): one fused multiply
        per device and dtype."""
        if self.fast:
            with contextlib.suppress(TypeError):  # some gradients are None
                torch._foreach_mul_(grads, coef.to(self.device))
                return
        for indices, _ in self.groups:
            group = [grads[i] for i in indices if grads[i] is not None]
            if group:
                torch._foreach_mul_(group, coef.to(group[0].device))

    def grad_peak(self, grads: list[Any]) -> torch.Tensor | None:
        """The largest |element| of any of `grads` (parameter order), a `dtype` scalar on the device (None
        without gradients)."""
        peaks = []
        for (indices, _), kw in zip(self.groups, self._group_kw, strict=True):
            present = [grads[i] for i in indices if grads[i] is not None and grads[i].numel()]
            if present:
                peaks.append(stacked_norms(present, math.inf, kw).max().to(self.device, self.dtype))
        return torch.stack(peaks).max() if peaks else None


def row_dtype(params: list[torch.Tensor]) -> torch.dtype:
    """float64 when any parameter is float64 (its norms and loss may pass float32's range while finite), else
    float32; MPS has no float64."""
    wide = any(p.dtype == torch.float64 for p in params) and params[0].device.type != "mps"
    return torch.float64 if wide else torch.float32


def stacked_norms(tensors: list[torch.Tensor], order: float, kw: dict[str, Any]) -> torch.Tensor:
    """`torch.stack(torch._foreach_norm(tensors, order))`, taken in chunks of `_CHUNK` (same values)."""
    if len(tensors) <= _CHUNK:
        return torch.stack(torch._foreach_norm(tensors, order, **kw))
    return torch.cat([torch.stack(torch._foreach_norm(tensors[i:i + _CHUNK], order, **kw))
                      for i in range(0, len(tensors), _CHUNK)])


@torch.no_grad()
def exact_norms(tensors: list[torch.Tensor | None], bad: list[int], norms: np.ndarray,
                divide: float = 1.0) -> tuple[list[int], np.ndarray]:
    """Recompute in float64 the norms at `bad` (one tensor each) whose float32 value overflowed although every
    element is finite; returns the indices still non-finite and the corrected norms."""
    norms = norms.copy()
    still_bad = []
    for i, t in zip(bad, tensors, strict=True):
        if t is not None and bool(torch.isfinite(t).all()):
            norms[i] = float(torch.linalg.vector_norm(t.double())) / divide
        else:
            still_bad.append(i)
    return still_bad, norms


def _group_by_device_and_dtype(params: list[torch.Tensor]) -> list[tuple[list[int], list[torch.Tensor]]]:
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[int], list[torch.Tensor]]] = {}
    for i, p in enumerate(params):
        idx, members = groups.setdefault((p.device, p.dtype), ([], []))
        idx.append(i)
        members.append(p)
    return list(groups.values())


def _norm_kw(dtype: torch.dtype) -> dict[str, Any]:
    """Norms of half-precision tensors are taken in float32 (float16 overflows at 65,504); others as they are."""
    return {"dtype": torch.float32} if dtype.is_floating_point and dtype.itemsize < 4 else {}


def _gather_index(order: list[int], n: int, device: torch.device) -> torch.Tensor | None:
    """Index that puts values listed in `order` (parameter indices) into parameter order; None if they are.

    Parameters absent from `order` point one past its end, where the caller puts a 0.
    """
    if order == list(range(n)):
        return None
    where = [len(order)] * n
    for position, i in enumerate(order):
        where[i] = position
    return torch.tensor(where, device=device, dtype=torch.long)
