"""Which module an optimizer trains, and the name the script gives it (`netD`, `netG`, `model`).

Looked up once per optimizer, from the frames that construct (or first step) it: the locals of the script's
own frames, then the `__main__` module's globals; a module that holds every parameter of the optimizer counts,
the smallest such module wins (the discriminator, not a wrapper holding both networks). `self` (a Lightning
module's `configure_optimizers`) is named by its class. A model found nowhere by name (built and kept inside a
library) is searched for among all live modules, and the run is then named `optimizer-<i>`.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from gradscope.monitor.param_names import clean_name, unwrap

_GRADSCOPE = str(Path(__file__).resolve().parents[1])
_TORCH = str(Path(torch.__file__).resolve().parent)


def _own(frame: FrameType) -> bool:
    """A frame of the user's code (or a library's): not gradscope's, not torch's."""
    name = frame.f_code.co_filename
    return not (name.startswith(_GRADSCOPE) or name.startswith(_TORCH))


def _frames() -> Iterator[FrameType]:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if _own(frame):
            yield frame
        frame = frame.f_back


def _covers(module: nn.Module, ids: set[int]) -> int | None:
    """The number of trainable parameters of `module` when it holds all of `ids`, else None."""
    own = {id(p) for p in module.parameters() if p.requires_grad}
    return len(own) if ids <= own else None


def _best(candidates: Iterator[tuple[str, Any]], ids: set[int]) -> tuple[str, nn.Module] | None:
    found: tuple[int, str, nn.Module] | None = None
    seen: set[int] = set()
    for name, value in candidates:
        if not isinstance(value, nn.Module) or id(value) in seen:
            continue
        seen.add(id(value))
        size = _covers(value, ids)
        if size is not None and (found is None or size < found[0]):
            found = (size, name, value)
    return None if found is None else (found[1], found[2])


def find_module(params: list[torch.Tensor]) -> tuple[str | None, nn.Module | None]:
    """(the script's name for it, the module) holding every tensor of `params`; (None, module) when found only
    among all live modules; (None, None) when no module holds them all."""
    ids = {id(p) for p in params}
    if not ids:
        return None, None
    selves: list[tuple[str, Any]] = []
    for frame in _frames():
        local = frame.f_locals
        if "self" in local:
            selves.append(("self", local["self"]))
        hit = _best(((k, v) for k, v in local.items() if k != "self"), ids)
        if hit is not None:
            return hit
    main = sys.modules.get("__main__")
    hit = _best(iter(vars(main).items()), ids) if main is not None else None
    if hit is not None:
        return hit
    hit = _best(iter(selves), ids)
    if hit is not None:
        return type(unwrap(hit[1])).__name__, hit[1]
    live = _best(((("", o) for o in gc.get_objects() if isinstance(o, nn.Module))), ids)
    return (None, live[1]) if live is not None else (None, None)


def named_subset(module: nn.Module | None, params: list[torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """`params` with the names `module` gives them (wrapper prefixes dropped), in the module's order; a tensor
    the module does not hold is named `param-<i>` by its place in `params`."""
    ids = {id(p): i for i, p in enumerate(params)}
    named = [] if module is None else [(clean_name(n), p) for n, p in unwrap(module).named_parameters()
                                       if id(p) in ids]
    held = {id(p) for _, p in named}
    return named + [(f"param-{ids[id(p)]}", p) for p in params if id(p) not in held]


class Subset(nn.Module):
    """The parameters one optimizer holds, as a module for `Monitor`: named as the module that owns them names
    them, its submodules visible (for the owner types), its other parameters not (they are not this run's)."""

    def __init__(self, owner: nn.Module | None, named: list[tuple[str, torch.Tensor]]) -> None:
        super().__init__()
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_named", named)

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        yield from self._named

    def parameters(self, recurse: bool = True) -> Iterator[Any]:
        for _, p in self._named:
            yield p

    def named_modules(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, nn.Module]]:
        if self._owner is not None:
            yield from unwrap(self._owner).named_modules(*args, **kwargs)


def monitored_model(module: nn.Module | None, params: list[torch.Tensor]) -> nn.Module:
    """What `Monitor` is built on: `module` itself when its trainable parameters are exactly `params`, else the
    `Subset` of them."""
    if module is not None:
        own = [p for p in unwrap(module).parameters() if p.requires_grad]
        if len(own) == len(params) and {id(p) for p in own} == {id(p) for p in params}:
            return module
    return Subset(module, named_subset(module, params))


def find_trained_module() -> tuple[str | None, nn.Module | None]:
    """For a script with no optimizer, after a backward(): the largest module, named in the script's frames
    or `__main__`, whose parameters hold gradients now."""
    best: tuple[int, str, nn.Module] | None = None
    seen: set[int] = set()
    main = sys.modules.get("__main__")
    scopes = [frame.f_locals for frame in _frames()] + ([vars(main)] if main is not None else [])
    for scope in scopes:
        for name, value in list(scope.items()):
            if name == "self" or not isinstance(value, nn.Module) or id(value) in seen:
                continue
            seen.add(id(value))
            graded = sum(p.grad is not None for p in value.parameters() if p.requires_grad)
            if graded and (best is None or graded > best[0]):
                best = (graded, name, value)
    return (None, None) if best is None else (best[1], best[2])
