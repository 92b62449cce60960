"""The source interface: how a trace is read back from what a run left behind, whatever wrote it.

A source is one file in this package: a `Source` (its format's name, what the format cannot hold, `can_read` and
`read`) registered once in `gradscope.sources.registry`. `read` returns a `Reading`: the trace at the log's own
step numbers, and what it lacks (the format's gaps and this log's missing columns), which the diagnosis lists as
unchecked. A log that cannot be read raises `GradscopeError`: one line naming the file and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace

MAP_KEYS = ("step", "loss", "grad_norm", "lr")  # what `--map KEY=COLUMN` can name


@dataclass(frozen=True)
class Reading:
    """A log read back: its trace (one row per logged step), the file read, its format, what it lacks (measure
    -> why) and notes on what was read in a way the user should know (rows dropped, a loss averaged)."""

    trace: Trace
    path: Path
    format: str
    lacks: Mapping[Measure, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)  # measure -> the column or tag it was read from

    def describe(self) -> dict[str, Any]:
        """The `log` entry of the diagnose JSON: what was read, from where, at which steps."""
        steps = self.trace.steps
        every = int(_median_gap(steps)) if len(steps) > 1 else None
        return {"path": str(self.path), "format": self.format, "rows": len(self.trace),
                "first_step": int(steps[0]) if len(steps) else None,
                "last_step": int(steps[-1]) if len(steps) else None, "every": every,
                "columns": dict(self.columns), "notes": list(self.notes)}


class Source(Protocol):
    """One format of log. `cannot_hold` is what no file of the format holds (a log's own missing columns are
    added by `read`)."""

    name: str
    cannot_hold: Mapping[Measure, str]

    def can_read(self, path: Path) -> bool:
        """Whether `path` (a file or a folder) is this format; cheap: names and a peek, no full read."""
        ...

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        """The trace in `path`; `mapping` names columns the reader cannot guess ({"loss": "my_loss"})."""
        ...


def _median_gap(steps: Any) -> float:
    import numpy as np

    return float(np.median(np.diff(steps)))
