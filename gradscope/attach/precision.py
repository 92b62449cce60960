"""Inside the attached process: whether the script computes in float16 or bfloat16, told to the parent once.

A config's run checks for an fp16/bf16 overflow that the loss and the gradients hide (`activation_overflow`) by
replaying its last step under an op-level check (record/op_overflow.py). An attached script cannot replay a step:
gradscope holds neither its batch nor its loss code, and running the whole script again to its last step would
double the cost of every diagnose. So the check is not run on scripts, and where it would apply (the script
enters a float16/bfloat16 autocast, enables a GradScaler, or casts a module to half or bfloat16) the parent lists
it as unchecked, with that reason (session.py), instead of saying nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from gradscope.attach.control import tell
from gradscope.attach.hooks import wrap
from gradscope.attach.settings import Settings

_told: Any = None  # the dtype told the parent, and whether an autocast or a cast named it (a GradScaler only guesses)
_watching = False


def watch_precision(settings: Settings) -> None:
    """Wrap what puts a script in float16/bfloat16 so that its first use tells the parent `low_precision=DTYPE`."""
    global _watching
    if _watching:
        return
    _watching = True
    from torch.amp.autocast_mode import autocast
    from torch.amp.grad_scaler import GradScaler

    def told(dtype: Any, named: bool = True) -> None:
        """Tell the parent once, and again when the dtype an autocast or a cast names differs from a GradScaler's
        guess (a script may make its scaler before it enters a bfloat16 autocast; the parent keeps the last)."""
        global _told
        if dtype not in (torch.float16, torch.bfloat16) or (_told is not None and (_told[1] or not named)):
            return
        if _told is None or _told[0] != dtype:
            tell(settings, low_precision=str(dtype).removeprefix("torch."))
        _told = (dtype, named)

    def on_autocast(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if getattr(self, "_enabled", False):
            told(getattr(self, "fast_dtype", None))
        return result

    def on_scaler(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if self.is_enabled():
            told(torch.float16, named=False)  # a GradScaler exists for float16's range: a guess
        return result

    def on_cast(dtype: torch.dtype) -> Any:
        def hook(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
            told(dtype)
            return original(self, *args, **kwargs)
        return hook

    wrap(autocast, "__enter__", on_autocast)
    wrap(GradScaler, "__init__", on_scaler)
    wrap(torch.nn.Module, "half", on_cast(torch.float16))
    wrap(torch.nn.Module, "bfloat16", on_cast(torch.bfloat16))

