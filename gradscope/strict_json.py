"""Strict JSON: NaN and Inf become null plus a sibling `<key>_text` string, so every parser reads the output."""

from __future__ import annotations

import json
import math
from typing import Any


def _float_text(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def strict(value: Any) -> Any:
    """`value` with numpy scalars made plain and non-finite floats replaced (see module docstring)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            item = _plain(item)
            if isinstance(item, float) and not math.isfinite(item):
                out[key] = None
                out[f"{key}_text"] = _float_text(item)
            else:
                out[key] = strict(item)
        return out
    if isinstance(value, list | tuple):
        return [None if isinstance(v := _plain(x), float) and not math.isfinite(v) else strict(v) for x in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def dumps(document: Any, *, indent: int | None = 2) -> str:
    """One strict JSON document (allow_nan=False guarantees nothing non-finite slipped through)."""
    return json.dumps(strict(document), indent=indent, allow_nan=False)
