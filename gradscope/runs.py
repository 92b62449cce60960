"""`load_run`: read a run folder (from the CLI or `Monitor.save`) back as data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.errors import GradscopeError
from gradscope.run_folder import DIAGNOSIS_FILE, GRAD_NORMS_FILE, RESOLVED_CONFIG_FILE, TRACE_FILE, WEIGHT_NORMS_FILE
from gradscope.trace import Trace, read_trace


@dataclass
class Run:
    """A recorded run: `trace` (one row per optimizer step), per-parameter norms and the diagnosis."""

    path: Path
    trace: Any  # pandas.DataFrame
    grad_norms: Any  # pandas.DataFrame indexed by step, one column per parameter (None if absent)
    weight_norms: Any
    diagnosis: Any  # gradscope.Diagnosis
    config: str | None  # the resolved config's TOML text, when the CLI made the run

    def rebuild_trace(self) -> Trace:
        """The in-memory `Trace`, e.g. to run the detectors again with other thresholds."""
        return read_trace(self.path)


def load_run(path: str | Path) -> Run:
    """Read `path`; a partial run (interrupted, or killed mid-way) is read as far as it got."""
    import pandas as pd

    from gradscope.diagnosis import Diagnosis, diagnose_trace

    run_dir = Path(path)
    if not (run_dir / TRACE_FILE).is_file():
        raise GradscopeError(f"{run_dir}: not a gradscope run folder (no {TRACE_FILE}; fix: pass a folder "
                             "written by gradscope diagnose, compare or Monitor.save)")
    frame = pd.read_csv(run_dir / TRACE_FILE)
    grads = pd.read_csv(run_dir / GRAD_NORMS_FILE, index_col="step") if (run_dir / GRAD_NORMS_FILE).is_file() else None
    weights = (pd.read_csv(run_dir / WEIGHT_NORMS_FILE, index_col="step")
               if (run_dir / WEIGHT_NORMS_FILE).is_file() else None)
    diag_path = run_dir / DIAGNOSIS_FILE
    if diag_path.is_file():
        diagnosis = Diagnosis.from_dict(json.loads(diag_path.read_text()))
    else:  # killed before the diagnosis was written: diagnose what was streamed
        diagnosis = diagnose_trace(read_trace(run_dir), run_dir=run_dir)
    config_path = run_dir / RESOLVED_CONFIG_FILE
    return Run(run_dir, frame, grads, weights, diagnosis,
               config_path.read_text() if config_path.is_file() else None)
