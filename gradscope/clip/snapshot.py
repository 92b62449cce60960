"""`Snapshot`: a model's weights and buffers, and its optimizers' state, before an update; `Saves`: the last few.

The Guard takes its first updates as they come (a clip there would change every healthy run) and keeps a
snapshot while it watches them; a run those updates threw is put back to it, and restarted with bounded updates.
Later it saves a calm run every few steps (`Saves`), so a run thrown after its start is put back to before the
throw rather than clipped from where the throw left it. The optimizer is not passed to the Guard (the
contract's loop is `Guard(model)`): a global optimizer pre-step hook meets every torch optimizer that steps one
of the model's parameters, and copies its state for those parameters before its next step, so the state matches
the weights copied before that step's update. Without one (a non-torch optimizer), only the weights and buffers
are put back.

The hook is one for the process, registered once and never removed (`listen`): torch iterates its global hooks
while an optimizer steps, and an attached script's Guard decides inside that iteration (an attached run records in
its own pre-step hook), so a hook added or removed there raised "OrderedDict mutated during iteration" in the
script. Each snapshot and step kind joins a weak set the hook calls instead, and an optimizer the hook has already
seen step is met at once (its state then is its state before its next update, wherever the Guard decides).
"""

from __future__ import annotations

import copy
import math
import weakref
from collections import deque
from typing import Any

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

_listeners: weakref.WeakSet[Snapshot | StepKind] = weakref.WeakSet()  # what meets each optimizer before its step
_seen: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()  # every optimizer that has stepped
_hooked = False


def listen(listener: Snapshot | StepKind | None = None) -> None:
    """Register the process's one optimizer pre-step hook (once; the attach calls this before the script runs,
    outside any step) and let `listener` meet optimizers: now those already seen stepping, later each before its
    next step."""
    global _hooked
    if not _hooked:
        register_optimizer_step_pre_hook(_before_step)
        _hooked = True
    if listener is not None:
        _listeners.add(listener)
        for optimizer in list(_seen):
            listener.meet(optimizer)


def _before_step(optimizer: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
    _seen.add(optimizer)
    for listener in list(_listeners):
        listener.meet(optimizer)


class Snapshot:
    """The weights, buffers and optimizer state to roll a thrown run back to; `close()` frees them."""

    def __init__(self, model: nn.Module, params: list[torch.Tensor]) -> None:
        self._params = params
        self._owned = {id(p) for p in params}
        with torch.no_grad():
            self._weights = [p.detach().clone() for p in params]
            self._buffers = [(b, b.detach().clone()) for b in model.buffers()]
        # optimizer id -> (a weak reference to it, its parameters of this model, their state before its next step)
        self._optimizers: dict[int, tuple[weakref.ref, list[torch.Tensor], dict[torch.Tensor, Any]]] = {}
        self._open = True
        listen(self)  # a weak set: the hook does not keep the snapshot (and its copy of the weights) alive

    def meet(self, optimizer: torch.optim.Optimizer) -> None:
        """Copy `optimizer`'s state for this model's parameters, once, before its next update."""
        if not self._open or id(optimizer) in self._optimizers:
            return
        mine = _stepped(optimizer, self._owned)
        if mine:
            state = {p: copy.deepcopy(optimizer.state[p]) for p in mine if p in optimizer.state}
            self._optimizers[id(optimizer)] = (weakref.ref(optimizer), mine, state)

    @property
    def optimizers(self) -> int:
        """How many optimizers of this model's parameters were met (their state is put back too)."""
        return sum(ref() is not None for ref, _, _ in self._optimizers.values())

    def moved(self) -> tuple[float, float]:
        """How far the weights have moved since the copy, over the copy's norm: the weight matrix that moved most
        (2 or more dimensions; a bias or a norm's gain may start at 0), and all of them together."""
        with torch.no_grad():
            pairs = [(float((p - w).norm()), float(w.norm())) for p, w in zip(self._params, self._weights, strict=True)
                     if p.dim() >= 2 and w.norm() > 0]
        if not pairs:
            return 0.0, 0.0
        together = math.sqrt(sum(d * d for d, _ in pairs) / sum(n * n for _, n in pairs))
        return max(d / n for d, n in pairs), together

    def restore(self) -> None:
        """Put the weights, buffers and optimizer state back as they were when the snapshot was taken."""
        with torch.no_grad():
            for p, w in zip(self._params, self._weights, strict=True):
                p.copy_(w)
            for b, v in self._buffers:
                b.copy_(v)
        for ref, mine, state in self._optimizers.values():
            optimizer = ref()
            if optimizer is None:
                continue
            for p in mine:
                if p in state:
                    optimizer.state[p] = copy.deepcopy(state[p])
                else:
                    optimizer.state.pop(p, None)

    def close(self) -> None:
        """Stop meeting optimizers and free the copies."""
        self._open = False
        _listeners.discard(self)
        self._weights, self._buffers, self._optimizers = [], [], {}


class StepKind:
    """Whether the torch optimizer that steps a model's parameters steps in proportion to the gradient: `proportional`
    True for torch's SGD (with or without momentum: a clip bounds its update, and a larger gradient is a larger
    step), False for an adaptive one (Adam, RMSprop, Adagrad... divide the gradient's scale out), None until one has
    stepped. Learned at its first step through torch's global optimizer pre-step hook (the contract's loop does
    not pass the optimizer); after that it no longer listens."""

    def __init__(self, params: list[torch.Tensor]) -> None:
        self._owned = {id(p) for p in params}
        self.proportional: bool | None = None
        listen(self)

    @property
    def adaptive(self) -> bool:
        """An adaptive optimizer was met: a larger gradient norm is not a larger step."""
        return self.proportional is False

    def meet(self, optimizer: torch.optim.Optimizer) -> None:
        if self.proportional is None and _stepped(optimizer, self._owned):
            self.proportional = type(optimizer) is torch.optim.SGD
            _listeners.discard(self)


def _stepped(optimizer: torch.optim.Optimizer, owned: set[int]) -> list[torch.Tensor]:
    """The parameters of `owned` (by id) that `optimizer` steps."""
    return [p for group in optimizer.param_groups for p in group["params"] if id(p) in owned]


class Saves:
    """The last `keep` snapshots of a run, each with its step and what its owner keeps beside it (the Guard's own
    trackers, as they were then)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._saves: deque[tuple[int, Snapshot, Any]] = deque()

    def __bool__(self) -> bool:
        return bool(self._saves)

    def save(self, step: int, model: nn.Module, params: list[torch.Tensor], beside: Any) -> None:
        self._saves.append((step, Snapshot(model, params), beside))
        while len(self._saves) > self.keep:
            self._saves.popleft()[1].close()

    def restore_oldest(self) -> tuple[int, Any]:
        """Put the run back to the oldest save (a throw may have begun before the newest: its loss had not shown
        it yet), free them all, and return its step and what was kept beside it."""
        step, snapshot, beside = self._saves.popleft()
        snapshot.restore()
        snapshot.close()
        self.close()
        return step, beside

    def close(self) -> None:
        while self._saves:
            self._saves.pop()[1].close()
