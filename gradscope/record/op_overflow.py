"""The first aten op whose output went inf/NaN from finite inputs, found on a replayed step.

Under fp16 a value past 65,504 is inf, and a saturating op after it can hide it: tanh(inf) is 1, and a
hand-written RMSNorm whose x.pow(2) overflows multiplies its row by rsqrt(inf) = 0. The loss and every gradient
stay finite, the GradScaler skips nothing, and the layer has silently stopped learning. Module hooks see module
outputs only; a `TorchDispatchMode` sees every op of the forward and the backward, so it names the op that
overflowed, the module it ran in, its dtype and how far its inputs had grown. It costs a few times one step, so
it runs on a replay of one step (`find_overflow`), never on every step.

An op counts when it makes inf/NaN out of finite inputs: -inf attention masks (`masked_fill(mask, -inf)`,
`torch.where(mask, -1e9, scores)` in float16, a finfo.min mask cast or added) are deliberate and are not
overflows; ops that only pass on an inf are not either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from gradscope.build.loading import LossComputer
from gradscope.diagnose.symptoms.base import op_module_text
from gradscope.record.recipe import Recipe
from gradscope.record.replay import forward_backward, replaying


@dataclass(frozen=True)
class OpOverflow:
    """One op that produced inf/NaN from finite inputs, and where."""

    op: str  # the aten op, e.g. "aten.addmm"
    phase: str  # "forward" | "backward"
    dtype: str  # of its output: "float16"
    inf: int  # inf elements of its first non-finite output
    nan: int
    numel: int
    input_max: float | None  # the largest finite |value| among its floating inputs (None: it had none)
    module: str | None = None  # the innermost module it ran in (qualified name; None: outside the model)
    module_type: str | None = None  # that module's class

    @property
    def dtype_max(self) -> float:
        return float(torch.finfo(getattr(torch, self.dtype)).max)

    def where(self) -> str:
        module = op_module_text(self.module, self.module_type)
        if module is None:
            return "outside the model's modules (the loss)" if self.phase == "forward" else "outside any module"
        return f"in {module}"

    def describe(self) -> str:
        """One line: 'aten.pow in module net.1 (RMSNorm) produced 1,024 inf of 1,024 float16 values in the
        forward; its inputs reached 3.1e+02 (float16's largest value is 65,504)'."""
        counts = ", ".join(f"{n:,} {what}" for n, what in ((self.inf, "inf"), (self.nan, "NaN")) if n) or "non-finite"
        reached = "" if self.input_max is None else (
            f"; its inputs reached {self.input_max:.2g} ({self.dtype}'s largest value is {self.dtype_max:,.6g})")
        return (f"{self.op} {self.where()} produced {counts} of {self.numel:,} {self.dtype} values in the "
                f"{self.phase}{reached}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OverflowWatch(TorchDispatchMode):
    """Inside `with OverflowWatch(model) as watch:` every op's floating outputs are checked; `watch.first` holds
    the first overflow of each phase ({"forward": OpOverflow, "backward": ...}), `watch.earliest` the first."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.first: dict[str, OpOverflow] = {}
        self.earliest: OpOverflow | None = None
        self._modules = ModuleTracker(model)

    def __enter__(self) -> OverflowWatch:
        self._modules.attach()
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self._modules.detach()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if len(self.first) == 2 or _not_judged(func):
            return func(*args, **kwargs)
        inputs = [t for t in tree_flatten((args, kwargs))[0] if _is_float(t) and t.layout == torch.strided]
        # an in-place op writes into its inputs: they are judged before it runs
        clean = _clean_inputs(args, kwargs, inputs) if func._schema.is_mutable else None
        input_max = _largest_finite(inputs) if clean else None
        out = func(*args, **kwargs)
        bad = next((t for t in tree_flatten(out)[0] if _is_float(t) and t.layout == torch.strided
                    and not bool(torch.isfinite(t).all())), None)
        if bad is None:
            return out
        if clean is None:
            clean = _clean_inputs(args, kwargs, inputs)
            input_max = _largest_finite(inputs) if clean else None
        if clean:
            self._found(func, bad, input_max)
        return out

    def _found(self, func: Any, bad: torch.Tensor, input_max: float | None) -> None:
        node = torch._C._current_autograd_node()
        phase = "forward" if node is None else "backward"
        if phase in self.first:
            return
        module, module_type = self._modules.current(node)
        found = OpOverflow(str(func.overloadpacket), phase, str(bad.dtype).removeprefix("torch."),
                           int(torch.isinf(bad).sum()), int(torch.isnan(bad).sum()), bad.numel(), input_max,
                           module, module_type)
        self.first[phase] = found
        self.earliest = self.earliest or found


class ModuleTracker:
    """Which module an op runs in: a stack of modules in the forward (pre/post hooks), and in the backward the
    module whose forward created the autograd node running (found by walking each module's new graph nodes)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.stack: list[nn.Module] = []
        self.node_module: dict[Any, nn.Module] = {}
        self._input_nodes: list[set[Any]] = []
        self._handles: list[Any] = []

    def attach(self) -> None:
        for m in self.model.modules():
            self._handles.append(m.register_forward_pre_hook(self._enter, with_kwargs=True))
            self._handles.append(m.register_forward_hook(self._leave, with_kwargs=True, always_call=True))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def current(self, node: Any) -> tuple[str | None, str | None]:
        module = self.stack[-1] if node is None and self.stack else self.node_module.get(node)
        if module is None:
            return None, None
        return self.names.get(id(module), ""), type(module).__name__

    def _enter(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        self.stack.append(module)
        self._input_nodes.append({t.grad_fn for t in _tensors((args, kwargs)) if t.grad_fn is not None})

    def _leave(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        stop = self._input_nodes.pop() if self._input_nodes else set()
        pending = [t.grad_fn for t in _tensors(output) if t.grad_fn is not None]
        while pending:  # the nodes this module's forward created: not yet claimed by an inner module
            node = pending.pop()
            if node is None or node in stop or node in self.node_module:
                continue
            self.node_module[node] = module
            pending.extend(next_node for next_node, _ in node.next_functions)


def find_overflow(model: nn.Module, loss_fn: LossComputer, batch: Any, rng_state: dict[str, Any],
                  recipe: Recipe | None = None) -> tuple[dict[str, OpOverflow], float]:
    """Replay one micro-batch (as `recipe` ran it, from `rng_state`) under an `OverflowWatch`: the first
    overflow of each phase, and the replayed loss. The run's gradients, buffers and RNG are left as they were."""
    with replaying(model, rng_state), OverflowWatch(model) as watch:
        loss = forward_backward(model, loss_fn, batch, recipe)
    return dict(watch.first), float(loss)


# Ops that only place a given value: an inf there is a mask written on purpose (torch.where(mask, -1e9, scores)
# in float16), not an overflow of anything computed.
FILLS = frozenset({"where", "masked_fill", "masked_fill_", "masked_scatter", "masked_scatter_", "index_put",
                   "index_put_", "fill", "fill_", "full", "full_like", "new_full", "scatter", "scatter_"})


def _not_judged(func: Any) -> bool:
    """Uninitialised memory (empty*) is no result, and a fill is a mask."""
    name = func._schema.name.removeprefix("aten::")
    return "empty" in name or name in FILLS


def _is_float(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _tensors(value: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]


def _largest_finite(tensors: list[torch.Tensor]) -> float | None:
    sizes = [float(t.detach().abs().max()) for t in tensors if t.numel()]
    return max(sizes) if sizes else None


def _clean_inputs(args: Any, kwargs: Any, inputs: list[torch.Tensor]) -> bool:
    """An inf/NaN out of these inputs is the op's own: its floating inputs are finite, no scalar argument is
    inf/NaN (a -inf mask fill), and no input sits at its dtype's largest value (a finfo.min mask, cast or added)."""
    scalars = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, float)]
    if any(a != a or a in (float("inf"), float("-inf")) for a in scalars):
        return False
    for t in inputs:
        if not t.numel():
            continue
        if not bool(torch.isfinite(t).all()) or float(t.detach().abs().max()) >= torch.finfo(t.dtype).max:
            return False
    return True
