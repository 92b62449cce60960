"""Run code right after a module is imported, in the attached process: torch (the hooks), numpy (its seed).

A `sys.meta_path` finder that answers for the watched names only: it finds the module with the finders after it
and wraps the loader's `exec_module`, so the action runs once the module's body has run. Standard library only:
this loads in every Python process of an attached command, most of which never import torch.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import random
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from gradscope.attach.settings import Settings


def _torch_imported(module: ModuleType) -> None:
    from gradscope.attach import lr_change
    from gradscope.attach.child import attach
    from gradscope.attach.precision import watch_precision

    settings = Settings.from_environ()
    lr_change.install(settings)  # first: its step hooks run before the attach's (which may end the script)
    attach(settings)
    watch_precision(settings)


def _numpy_imported(module: ModuleType) -> None:
    seed = Settings.from_environ().seed
    module.random.seed(seed % 2**32)


def _defeats(module: ModuleType) -> None:
    from gradscope.attach.child import watch_for_defeat

    watch_for_defeat(module)


# What runs after each import. FSDP (1) and DeepSpeed clip inside their own code, with norms gradscope does not
# see: a script that calls them is told so (`watch_for_defeat`) instead of being recorded wrong.
ACTIONS: dict[str, Callable[[ModuleType], None]] = {"torch": _torch_imported, "numpy": _numpy_imported,
                                                    "torch.distributed.fsdp": _defeats, "deepspeed": _defeats}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds a watched module through the other finders and runs its action after the module's body."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        action = ACTIONS.get(name)
        if action is None or name in self._busy:
            return None
        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            loader.exec_module = original  # type: ignore[method-assign]  # once
            ACTIONS.pop(name, None)
            action(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Seed Python's `random` now (before the script starts) and watch for torch and numpy."""
    random.seed(Settings.from_environ().seed)
    for name in list(ACTIONS):
        if name in sys.modules:  # imported already (a sitecustomize we chained to): act now
            ACTIONS.pop(name)(sys.modules[name])
    if ACTIONS:
        sys.meta_path.insert(0, _AfterImport())
