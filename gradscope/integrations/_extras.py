"""The one line a user sees when an integration's framework is not installed: which extra brings it.

Kept apart from the recording code so that the check runs before torch is imported.
"""

from __future__ import annotations

import importlib
from typing import Any


def require(modules: tuple[str, ...], extra: str, integration: str) -> Any:
    """Import the first of `modules` that is installed; if none is, one line that names the extra to install."""
    for name in modules:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"{integration} needs {' or '.join(modules)}, which is not installed "
                      f"(fix: pip install 'torch-gradscope[{extra}]')") from None
