"""gradscope: find out why a PyTorch training run blows up, and fix it with the right gradient clipping.

`import gradscope` stays light: torch and pandas load when `Monitor`, `Guard` or `load_run` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Diagnosis", "Guard", "Monitor", "Run", "Thresholds", "__version__", "load_run"]

_LAZY = {
    "Monitor": "gradscope.monitor.monitor",
    "Guard": "gradscope.clip.guard",
    "load_run": "gradscope.sources.runs",
    "Run": "gradscope.sources.runs",
    "Diagnosis": "gradscope.diagnose.diagnosis",
    "Thresholds": "gradscope.diagnose.symptoms.thresholds",
}

if TYPE_CHECKING:
    from gradscope.clip.guard import Guard
    from gradscope.diagnose.diagnosis import Diagnosis
    from gradscope.diagnose.symptoms.thresholds import Thresholds
    from gradscope.monitor.monitor import Monitor
    from gradscope.sources.runs import Run, load_run


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gradscope' has no attribute {name!r}")
