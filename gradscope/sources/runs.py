"""`load_run`: read a run folder (from the CLI or `Monitor.save`) back as data, a damaged one included."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.sources.run_reader import read_run, read_trace
from gradscope.trace.run_folder import DIAGNOSIS_FILE, RESOLVED_CONFIG_FILE
from gradscope.trace.trace import Trace


@dataclass
class Run:
    """A recorded run: `trace` (one row per optimizer step), per-parameter norms and the diagnosis; `notes`
    names what was damaged or missing in the folder and how it was read instead."""

    path: Path
    trace: Any  # pandas.DataFrame
    grad_norms: Any  # pandas.DataFrame indexed by step, one column per parameter (None if absent)
    weight_norms: Any
    diagnosis: Any  # gradscope.Diagnosis
    config: str | None  # the resolved config's TOML text, when the CLI made the run
    notes: tuple[str, ...] = ()

    def rebuild_trace(self) -> Trace:
        """The in-memory `Trace`, e.g. to run the detectors again with other thresholds."""
        return read_trace(self.path)


def load_run(path: str | Path) -> Run:
    """Read `path`; a partial run (interrupted, or killed mid-way) is read as far as it got, and a damaged one
    from what is left (see `Run.notes`). A folder with no usable trace is a `GradscopeError`."""
    run_dir = Path(path)
    files = read_run(run_dir)
    notes = list(files.notes)
    diagnosis = _read_diagnosis(run_dir, files.trace, notes)
    config_path = run_dir / RESOLVED_CONFIG_FILE
    try:
        config = config_path.read_text(encoding="utf-8", errors="replace") if config_path.is_file() else None
    except OSError:
        config = None
    return Run(run_dir, files.frame, files.grad_norms, files.weight_norms, diagnosis, config, tuple(notes))


def _read_diagnosis(run_dir: Path, trace: Trace, notes: list[str]) -> Any:
    """diagnosis.json as written, or, when it is missing (a killed run) or damaged, the trace diagnosed again."""
    from gradscope.diagnose.diagnosis import Diagnosis, diagnose_trace

    path = run_dir / DIAGNOSIS_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("summary"), dict):
                diagnosis = Diagnosis.from_dict(data)
                diagnosis.severity_rank  # noqa: B018 (a verdict that is not a level raises here)
                return diagnosis
            problem = "not a diagnosis document"
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            problem = f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"
        notes.append(f"{path}: {problem}; diagnosed again from {run_dir / 'trace.csv'}")
    return diagnose_trace(trace, run_dir=run_dir)
