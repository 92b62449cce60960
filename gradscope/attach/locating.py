"""Where a script's first non-finite value began, watched on a second run of the script, at that step only.

A script cannot be replayed from inside (gradscope does not hold its batch or its loss code), so the command
runs once more, deterministic from the same seed, and this watch is on from the end of the step before the bad
one to that step's row: a global forward hook names the first module whose output went non-finite (innermost
first), hooks on gradient accumulation the first parameter (in backward order) whose gradient did, and the
op-level `OverflowWatch` (record/op_overflow.py) the aten op that made the first inf/NaN out of finite inputs.
Modules are known by object while the step runs and named at the end from the run's module (which a step-0
watch does not know yet when it starts).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from gradscope.monitor.param_names import clean_name, unwrap
from gradscope.record.locate import _describe, _first_nonfinite
from gradscope.record.op_overflow import ModuleTracker, OverflowWatch

_MARK = "\x00module:"  # a module's placeholder name until the run's module names it


class _AnyModule(ModuleTracker):
    """`ModuleTracker` over every module (global hooks), naming each by a placeholder resolved at the end."""

    def __init__(self) -> None:
        super().__init__(nn.Module())
        self.seen: dict[int, nn.Module] = {}

    def attach(self) -> None:
        self._handles.append(register_module_forward_pre_hook(lambda m, args: self._enter(m, args, {})))
        self._handles.append(register_module_forward_hook(lambda m, args, out: self._leave(m, args, {}, out),
                                                          always_call=True))

    def current(self, node: Any) -> tuple[str | None, str | None]:
        module = self.stack[-1] if node is None and self.stack else self.node_module.get(node)
        if module is None:
            return None, None
        self.seen[id(module)] = module
        return f"{_MARK}{id(module)}", type(module).__name__


class StepWatch:
    """The watch on one step (see the module docstring): `start()`, the step runs, `stop(...)` -> the finding."""

    def __init__(self, params: list[tuple[str, torch.Tensor]] | None = None) -> None:
        self.params = params or []
        self.first: tuple[nn.Module, str] | None = None  # (module, what it output)
        self.backward_first: str | None = None
        self.ops: OverflowWatch | None = None
        self._handles: list[Any] = []

    def start(self) -> None:
        def forward_hook(module: nn.Module, _inputs: Any, output: Any) -> None:
            if self.first is None and (bad := _first_nonfinite(output)) is not None:
                self.first = (module, f"{type(module).__name__}: {_describe(bad)}")

        def grad_hook(name: str) -> Any:
            def hook(p: torch.Tensor) -> None:
                if self.backward_first is None and p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                    self.backward_first = name
            return hook

        self._handles.append(register_module_forward_hook(forward_hook))
        self._handles += [p.register_post_accumulate_grad_hook(grad_hook(n)) for n, p in self.params]
        try:
            watch = OverflowWatch(nn.Module())
            watch._modules = _AnyModule()
            watch.__enter__()
            self.ops = watch
        except Exception:  # noqa: BLE001 - a model the dispatch mode cannot run: the hooks alone
            self.ops = None

    def stop(self, model: nn.Module, loss: float) -> dict[str, Any]:
        """End the watch; the finding on this step, modules named by `model` (the run's module)."""
        op = None
        if self.ops is not None:
            modules = self.ops._modules
            self.ops.__exit__(None, None, None)
            op = self.ops.earliest
        for handle in self._handles:
            handle.remove()
        names = {id(m): clean_name(n) for n, m in unwrap(model).named_modules()}
        if op is not None and op.module is not None and op.module.startswith(_MARK):
            module = modules.seen.get(int(op.module[len(_MARK):]))
            op = dataclasses.replace(op, module=_name(module, names) if module is not None else None)
        found: dict[str, Any] = {"parameter": self.backward_first, "op": op.to_dict() if op is not None else None}
        if self.first is not None:
            found.update(stage="forward", module=_name(self.first[0], names), detail=self.first[1])
        elif not math.isfinite(loss):
            found.update(stage="loss", detail=f"loss = {loss}")
        elif self.backward_first is not None:
            found.update(stage="backward")
        return found


def _name(module: nn.Module, names: dict[int, str]) -> str:
    """A module's qualified name in the run's module ('' for the model itself), else its class."""
    name = names.get(id(module))
    return type(module).__name__ if name is None else (name or type(module).__name__)
