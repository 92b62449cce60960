"""Read a run folder back even when it is damaged: a killed run, a copy cut short, a file edited by hand.

What can be read is read and what cannot is named in a note: a row cut mid-line, a ragged row or one that is not
numbers is dropped; a `run.json` that is missing or not JSON is rebuilt from the CSV headers; missing
per-parameter CSVs leave the per-parameter series empty. Only a trace with nothing usable left (no trace.csv, an
empty one, no loss or grad_norm column) is an error: a `GradscopeError`, one line, exit 2 in the CLI.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradscope.errors import GradscopeError
from gradscope.trace.run_folder import GRAD_NORMS_FILE, RUN_FILE, TRACE_FILE, WEIGHT_NORMS_FILE
from gradscope.trace.trace import COLUMNS, Event, RunInfo, StopReason, Trace

REQUIRED = ("loss", "grad_norm")  # what the detectors cannot do without
_NON_NUMBERS = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}  # read as floats, not damage


@dataclass(frozen=True)
class RunFiles:
    """What was read from a run folder: the trace and its frames, and one note per damage found."""

    trace: Trace
    frame: Any  # pandas.DataFrame: trace.csv's usable rows
    grad_norms: Any  # pandas.DataFrame indexed by step, or None
    weight_norms: Any
    notes: tuple[str, ...]


def read_run(run_dir: Path) -> RunFiles:
    """The run recorded in `run_dir`, as far as it can be read (see the module docstring)."""
    run_dir = Path(run_dir)
    notes: list[str] = []
    path = run_dir / TRACE_FILE
    if not path.is_file():
        raise GradscopeError(f"{run_dir}: not a gradscope run folder (no {TRACE_FILE}; fix: pass a folder "
                             "written by gradscope diagnose, compare or Monitor.save)")
    frame = read_table(path, notes)
    lacking = [c for c in REQUIRED if frame is None or c not in frame]
    if lacking:
        what = ("is empty (or its header is not gradscope's)" if frame is None
                else f"has no {' or '.join(lacking)} column")
        raise GradscopeError(f"{path}: {what}, so nothing recorded can be read (fix: pass a run folder written by "
                             "gradscope; a damaged trace.csv cannot be repaired)")
    missing = [c for c in COLUMNS if c not in frame and c not in REQUIRED]
    if missing:
        notes.append(f"{path}: no {', '.join(missing)} column (read as unknown)")
    grads = _param_table(run_dir / GRAD_NORMS_FILE, notes)
    weights = _param_table(run_dir / WEIGHT_NORMS_FILE, notes)
    info = _read_info(run_dir / RUN_FILE, grads if grads is not None else weights, notes)
    columns = {name: frame[name].to_numpy() for name in COLUMNS if name in frame}
    if "step" in columns:
        columns["step"] = columns["step"].astype("int64")
    if grads is not None and weights is not None and list(grads.columns) != info.param_names:
        notes.append(f"{run_dir / GRAD_NORMS_FILE}: its columns are not the parameters of {RUN_FILE} "
                     "(per-parameter norms left out)")
        grads = weights = None
    if grads is None or weights is None:
        trace = Trace.from_columns(info, columns, param_steps=[])
    else:
        common = grads.index.intersection(weights.index).intersection(frame.get("step", frame.index))
        trace = Trace.from_columns(info, columns, grads.loc[common].to_numpy(), weights.loc[common].to_numpy(),
                                   param_steps=common.to_numpy())
    return RunFiles(trace, frame, grads, weights, tuple(notes))


def read_table(path: Path, notes: list[str]) -> Any:
    """A CSV of numbers under a header as a DataFrame, or None when the file is empty. A last row cut mid-line,
    ragged rows and rows that are not numbers are dropped, each kind with a note."""
    import pandas as pd

    try:
        text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    except OSError as exc:
        raise GradscopeError(f"{path}: cannot be read: {exc.strerror or exc} (fix: check the file's "
                             "permissions)") from None
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1]:
        notes.append(f"{path}: its last row was cut short (dropped)")
    body = [line.rstrip("\r") for line in lines[1:-1] if line.strip()] if len(lines) > 1 else []
    header = next(csv.reader([lines[0].rstrip("\r")]), [])
    if not [name for name in header if name.strip()] or len(set(header)) < len(header):
        return None
    whole = [line for line in body if line.count(",") == len(header) - 1]
    if len(whole) < len(body):
        notes.append(f"{path}: {len(body) - len(whole)} row(s) without {len(header)} fields (dropped)")
    frame = pd.read_csv(io.StringIO("\n".join(whole)), header=None, names=header, dtype=str,
                        keep_default_na=False)
    cells = {name: frame[name].astype(str).str.strip() for name in header}
    numbers = pd.DataFrame({name: pd.to_numeric(col, errors="coerce").astype("float64")
                            for name, col in cells.items()}, index=frame.index)
    bad = np.zeros(len(frame), bool)
    for name, col in cells.items():
        bad |= numbers[name].isna().to_numpy() & ~col.str.lower().isin(_NON_NUMBERS).to_numpy()
    if "step" in numbers:
        step = numbers["step"].to_numpy()
        with np.errstate(invalid="ignore"):
            bad |= ~(np.isfinite(step) & (step == np.round(step)) & (np.abs(step) < 2**62))
    if bad.any():
        notes.append(f"{path}: {int(bad.sum())} row(s) that are not numbers (dropped)")
    return numbers[~bad].reset_index(drop=True)


def _param_table(path: Path, notes: list[str]) -> Any:
    if not path.is_file():
        notes.append(f"{path}: missing (per-parameter norms left out)")
        return None
    frame = read_table(path, notes)
    if frame is None or "step" not in frame:
        notes.append(f"{path}: no header with a step column (per-parameter norms left out)")
        return None
    frame["step"] = frame["step"].astype("int64")
    return frame.drop_duplicates("step", keep="last").set_index("step")


def _read_info(path: Path, params: Any, notes: list[str]) -> RunInfo:
    """run.json's RunInfo, or one rebuilt from a per-parameter CSV's header when run.json is missing or
    damaged (the run then reads as interrupted: it was killed before run.json was written)."""
    names = [str(n) for n in params.columns] if params is not None else []
    fallback = RunInfo(param_names=names, param_shapes=[[] for _ in names], stopped=StopReason.INTERRUPTED)
    if not path.is_file():
        return fallback
    try:
        info = _checked_info(json.loads(path.read_text(encoding="utf-8")), notes, path)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        notes.append(f"{path}: unreadable ({type(exc).__name__}: {str(exc)[:80]}); parameter names read from "
                     "the CSV headers")
        return fallback
    return info


def _checked_info(data: Any, notes: list[str], path: Path) -> RunInfo:
    """RunInfo from run.json's document, each field checked: a wrong type raises (TypeError, ValueError)."""
    if not isinstance(data, dict):
        raise TypeError(f"a {type(data).__name__}, not an object")
    info = RunInfo.from_dict({k: v for k, v in data.items() if k in RunInfo.__dataclass_fields__})
    if not (isinstance(info.param_names, list) and all(isinstance(n, str) for n in info.param_names)):
        raise TypeError("param_names is not a list of names")
    if not isinstance(info.param_shapes, list) or len(info.param_shapes) != len(info.param_names):
        info.param_shapes = [[] for _ in info.param_names]
    if info.clip_mode not in (None, "norm", "value", "adaptive") or not _number_or_none(info.clip_threshold):
        notes.append(f"{path}: its clip setting is not one gradscope writes (read as no clipping)")
        info.clip_mode, info.clip_threshold = None, None
    if not (info.steps_requested is None or type(info.steps_requested) is int):
        info.steps_requested = None
    info.label = info.label if isinstance(info.label, str) else ""
    info.grad_dtype = info.grad_dtype if info.grad_dtype in ("float32", "float64") else "float32"
    kept = [e for e in info.events if _event_ok(e)]
    if len(kept) < len(info.events):
        notes.append(f"{path}: {len(info.events) - len(kept)} event(s) not as gradscope writes them (left out)")
    info.events = kept
    decisions = info.guard_events if isinstance(info.guard_events, list) else None
    info.guard_events = [d for d in decisions or [] if _decision_ok(d)]
    if decisions is None or len(info.guard_events) < len(decisions):
        notes.append(f"{path}: guard decision(s) not as gradscope writes them (left out)")
    return info


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _event_ok(event: Event) -> bool:
    return (isinstance(event.kind, str) and type(event.step) is int
            and all(x is None or isinstance(x, str) for x in (event.parameter, event.module, event.stage))
            and (event.op is None or isinstance(event.op, dict)))


def _decision_ok(decision: Any) -> bool:
    """A Guard's decision as `GuardEvent.to_dict` writes it."""
    return (isinstance(decision, dict) and type(decision.get("step")) is int
            and _number_or_none(decision.get("threshold"))
            and isinstance(decision.get("why"), str) and isinstance(decision.get("action"), str))


def read_trace(run_dir: Path) -> Trace:
    """Rebuild a `Trace` from a run folder's CSVs (a partial, interrupted or damaged run included). Per-parameter
    rows are matched to global rows by step: after a long run they hold only some steps."""
    return read_run(Path(run_dir)).trace
