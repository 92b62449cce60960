"""The model's own parameter names, whatever wraps it: DDP, torch.compile, FSDP or activation checkpointing.

Wrappers rename parameters: `DistributedDataParallel` and `DataParallel` put the model under `module.`,
`torch.compile` under `_orig_mod.`, FSDP (1) and `checkpoint_wrapper` insert `_fsdp_wrapped_module.` and
`_checkpoint_wrapped_module.` at every wrapped layer. A trace recorded under DDP must name `fc.weight`, as the
single-process run does, so runs compare and a finding points at the user's layer. Outer wrappers are unwrapped
by type (a user's own submodule called `module` keeps its name); the inner markers are dropped by name.
FSDP2's `fully_shard` does not rename (it changes the module's class in place).
"""

from __future__ import annotations

import sys
from typing import Any

# Path components that wrappers insert inside a model; no user layer is named like these.
WRAPPER_PARTS = frozenset({"_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_orig_mod"})


def unwrap(model: Any) -> Any:
    """The user's model inside DDP / DataParallel (`.module`) and torch.compile (`._orig_mod`), any nesting."""
    from torch import nn

    wrappers: tuple[type, ...] = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    # A compiled model has imported torch._dynamo; asking torch for it would import it (2 s of start-up in a
    # process that never compiles nor builds a torch.optim optimizer: a script that updates by hand).
    compiled = sys.modules.get("torch._dynamo.eval_frame")
    optimized = getattr(compiled, "OptimizedModule", None)
    while True:
        if isinstance(model, wrappers):
            model = model.module
        elif optimized is not None and isinstance(model, optimized):
            model = model._orig_mod
        else:
            return model


def clean_name(name: str) -> str:
    """`name` without the components wrappers insert (`a._checkpoint_wrapped_module.w` -> `a.w`)."""
    parts = name.split(".")
    if not WRAPPER_PARTS.intersection(parts):
        return name
    return ".".join(p for p in parts if p not in WRAPPER_PARTS)


def trainable_parameters(model: Any) -> list[tuple[str, Any]]:
    """(the model's own name, parameter) for every parameter that requires a gradient, in registration order."""
    return [(clean_name(n), p) for n, p in unwrap(model).named_parameters() if p.requires_grad]


def owner_types(model: Any) -> dict[str, str]:
    """The class name of the module that owns each parameter, by its clean name (`fc.weight` -> `Linear`)."""
    return {clean_name(f"{m}.{n}" if m else n): _own_type(mod)
            for m, mod in unwrap(model).named_modules() for n, _ in mod.named_parameters(recurse=False)}


def _own_type(module: Any) -> str:
    """FSDP2 gives a sharded module a class of its own (`FSDPLinear`, bases FSDPModule and Linear): the user's
    class is its second base."""
    bases = type(module).__bases__
    if len(bases) == 2 and bases[0].__name__ == "FSDPModule":
        return bases[1].__name__
    return type(module).__name__
