"""Diagnose a run already done from the log it left: the same detectors on what the log holds, at its own steps.

The diagnosis says where the log came from (its `log` entry: file, format, rows, cadence) and which kinds it
could not check (`unchecked`: a kind needing a measure the log lacks, with the reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gradscope.diagnose.diagnosis import Diagnosis, diagnose_trace
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.sources.registry import read_log
from gradscope.sources.source import Reading


def diagnose_reading(reading: Reading, *, thresholds: Thresholds = DEFAULT, label: str = "") -> Diagnosis:
    """The diagnosis of a log already read."""
    return diagnose_trace(reading.trace, thresholds=thresholds, label=label, lacks=reading.lacks,
                          extra={"log": reading.describe()})


def diagnose_log(path: str | Path, mapping: Mapping[str, str] | None = None, *,
                 thresholds: Thresholds = DEFAULT) -> Diagnosis:
    """Read `path` (any format a source reads) and diagnose it; an unreadable log is a `GradscopeError`."""
    return diagnose_reading(read_log(Path(path), mapping), thresholds=thresholds)
