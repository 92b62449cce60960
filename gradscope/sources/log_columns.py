"""What every log reader shares: which column holds what (guessed, or named with `--map KEY=COLUMN`), numbers as
formats write them, and the trace built from a log's columns.

Columns are guessed from the names common loggers use (`CANDIDATES`, first match wins, case-insensitive). The
trace is built whole with numpy (a million rows in well under a second). A non-finite gradient norm is read as
a normal GradScaler skip when the loss stays finite through it and the norm is finite again on the next row
logged after it; one that never recovers (or whose loss goes non-finite) is a non-finite gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradscope.errors import ConfigError, GradscopeError
from gradscope.sources.source import MAP_KEYS, Reading
from gradscope.trace.measures import Measure
from gradscope.trace.trace import RunInfo, StopReason, Trace

# key -> names loggers give it, most specific first; "*" ends a prefix (Lightning's LearningRateMonitor: lr-SGD).
# gradscope's own callbacks log "gradscope/loss" and "gradscope/grad_norm" (integrations/_session.py): every step's,
# NaN kept, the norm before any clip, so they come first where a log has them
CANDIDATES: dict[str, tuple[str, ...]] = {
    "step": ("step", "global_step", "train/global_step", "trainer/global_step", "_step", "iteration", "iter"),
    "loss": ("gradscope/loss", "loss", "train_loss", "train/loss", "training_loss", "train_loss_step",
             "train/loss_step", "loss_step", "train/train_loss", "losses/train_loss", "loss/train"),
    "grad_norm": ("gradscope/grad_norm", "grad_norm", "train/grad_norm", "grad_2.0_norm_total",
                  "train/grad_2.0_norm_total", "gradient_norm", "grad_norm_total", "total_grad_norm",
                  "global_grad_norm", "grad_norm/total"),
    "lr": ("lr", "learning_rate", "train/learning_rate", "train/lr", "lr-*", "lr/*"),
}


def parse_map(items: Sequence[str] | None) -> dict[str, str]:
    """`--map loss=COLUMN` options as {key: column}; a bad one is a one-line error."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, column = item.partition("=")
        key = key.strip()
        if not sep or not column.strip() or key not in MAP_KEYS:
            raise ConfigError(f"--map {item!r}: expected KEY=COLUMN with KEY one of {', '.join(MAP_KEYS)} "
                              "(fix: e.g. --map loss=train/total_loss)")
        out[key] = column.strip()
    return out


def guess_columns(names: Sequence[str], mapping: Mapping[str, str], path: Path, what: str = "column"
                  ) -> dict[str, str]:
    """{key: column} for step, loss, grad_norm and lr among `names`; the loss must be found (else an error that
    lists the columns and shows --map), a column named by --map must exist."""
    lowered = {str(n).lower(): str(n) for n in names}
    chosen: dict[str, str] = {}
    for key in MAP_KEYS:
        if key in mapping:
            if mapping[key] not in names:
                raise GradscopeError(f"{path}: --map {key}={mapping[key]}: no such {what} (it has: "
                                     f"{_listing(names)})")
            chosen[key] = mapping[key]
            continue
        for candidate in CANDIDATES[key]:
            if candidate.endswith("*"):
                hits = sorted(n for low, n in lowered.items() if low.startswith(candidate[:-1]))
                if hits:
                    chosen[key] = hits[0]
                    break
            elif candidate in lowered:
                chosen[key] = lowered[candidate]
                break
    if "loss" not in chosen:
        raise GradscopeError(f"{path}: no loss {what} gradscope recognises (it has: {_listing(names)}; fix: "
                             f"--map loss={what.upper() if what != 'column' else 'COLUMN'} names it, e.g. "
                             f"--map loss={_example(names)})")
    return chosen


def _listing(names: Sequence[str], most: int = 12) -> str:
    shown = ", ".join(str(n) for n in list(names)[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "") if names else "nothing"


_NOT_A_LOSS = {"epoch", "time", "wall_time", "timestamp", "seconds", *CANDIDATES["step"]}


def _example(names: Sequence[str]) -> str:
    """The column most likely to be the loss, to show in the fix: one naming a loss, else the first that is
    not a step, an epoch or a time."""
    texts = [str(n) for n in names]
    return next((n for n in texts if "loss" in n.lower()),
                next((n for n in texts if n.lower() not in _NOT_A_LOSS), texts[0] if texts else "COLUMN"))


def numbers(cells: Any) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, mask of cells that are not numbers) from a pandas Series of text or numbers: `nan`,
    `NaN`, `inf`, `Infinity`, `-inf` (any case) read as what they are, and so does an empty cell the caller
    counts as logged."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(cells.dtype) and not pd.api.types.is_bool_dtype(cells.dtype):
        return cells.to_numpy(np.float64, na_value=np.nan), np.zeros(len(cells), bool)  # parsed by read_csv
    values = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    unread = np.isnan(values)
    if unread.any():
        text = cells[unread].astype(str).str.strip().str.lower()
        named_nan = text.isin(("nan", "+nan", "-nan", "")).to_numpy()  # "": a present empty cell (pandas NaN)
        bad = unread.copy()
        bad[np.flatnonzero(unread)[named_nan]] = False
        return values, bad
    return values, unread


def log_reading(path: Path, fmt: str, *, steps: np.ndarray, loss: np.ndarray, grad_norm: np.ndarray | None = None,
                grad_logged: np.ndarray | None = None, lr: np.ndarray | None = None,
                cannot_hold: Mapping[Measure, str], columns: Mapping[str, str], notes: Sequence[str] = (),
                label: str = "") -> Reading:
    """The `Reading` of a log from its columns (one value per logged step; where a grad norm or lr was not
    logged at that step: NaN, and `grad_logged` False): sorted by step, a step logged twice kept last (a
    resumed run), GradScaler skips and non-finite gradients told apart (module docstring)."""
    notes = list(notes)
    steps = np.asarray(steps, np.int64)
    order = np.argsort(steps, kind="stable")
    if len(steps) and np.any(np.diff(steps) <= 0):
        keep = _last_of_each(steps[order])
        dropped = len(steps) - int(keep.sum())
        if dropped:
            notes.append(f"{path}: {dropped} row(s) repeat a step already logged (a resumed run?): the last kept")
        order = order[keep]
    steps, loss = steps[order], np.asarray(loss, np.float64)[order]
    columns_out: dict[str, Any] = {"step": steps, "loss": loss}
    lacks = dict(cannot_hold)
    if grad_norm is not None:
        grad_norm = np.asarray(grad_norm, np.float64)[order]
        logged = np.ones(len(grad_norm), bool) if grad_logged is None else np.asarray(grad_logged, bool)[order]
        skipped, nonfinite = _skips(loss, grad_norm, logged)
        columns_out |= {"grad_norm": grad_norm, "amp_skipped": skipped, "nonfinite_grads": nonfinite}
    else:
        lacks[Measure.GRAD_NORM] = f"{path.name} has no gradient norm (fix: log it, or --map grad_norm=COLUMN)"
    if lr is not None:
        columns_out["lr"] = np.asarray(lr, np.float64)[order]
    info = RunInfo(param_names=[], param_shapes=[], stopped=StopReason.COMPLETED, label=label)
    trace = Trace.from_columns(info, columns_out)
    return Reading(trace, path, fmt, lacks, tuple(notes), dict(columns))


def _last_of_each(sorted_steps: np.ndarray) -> np.ndarray:
    keep = np.ones(len(sorted_steps), bool)
    keep[:-1] = sorted_steps[1:] != sorted_steps[:-1]
    return keep


# A GradScaler skip is an overflow of the *scaled* gradients: the norms around it are ordinary. Around a norm that
# itself passed float32's range (sqrt of its max, ~1.8e19: clip_grad_norm_ returns inf and zeroes the update, so
# the next step can look finite again) they are within a few orders of it.
NEAR_OVERFLOW = 1e-2 * math.sqrt(float(np.finfo(np.float32).max))


def _skips(loss: np.ndarray, grad_norm: np.ndarray, logged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(amp_skipped, nonfinite_grads) per row. A stretch of non-finite logged gradient norms is a GradScaler's
    skips when the loss stays finite through it up to the next logged norm, which is finite (the scaler lowered
    its scale and went on), and the norms beside it are far from float32's range; otherwise every row of the
    stretch is a non-finite gradient."""
    rows = np.flatnonzero(logged)
    norms = grad_norm[rows]
    bad = ~np.isfinite(norms)
    skipped = np.zeros(len(loss), np.int8)
    nonfinite = np.zeros(len(loss), np.int32)
    if not bad.any():
        return skipped, nonfinite
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # a stretch: logged norms [start, end)
    lost = np.concatenate([[0], np.cumsum(~np.isfinite(loss))])  # non-finite losses before each row
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        recovered = end < len(rows) and lost[rows[end] + 1] == lost[rows[start]]
        near = norms[[i for i in (start - 1, end) if 0 <= i < len(norms)]]
        overflowing = bool(np.any(near >= NEAR_OVERFLOW))  # a norm past float32's range, not a scaler's skip
        (skipped if recovered and not overflowing else nonfinite)[rows[start:end]] = 1
    return skipped, nonfinite


def table_reading(path: Path, fmt: str, frame: Any, mapping: Mapping[str, str], cannot_hold: Mapping[Measure, str],
                  present: Any, notes: Sequence[str] = ()) -> Reading:
    """The `Reading` of a table of per-step metrics (a CSV, JSONL, a Lightning metrics.csv, a Trainer's
    log_history): `present(frame, column)` says which cells hold a logged value (a NaN included) and which
    are merely empty. Loss rows are the rows read; the gradient norm and the lr are taken at the loss's steps,
    from the same row or another row of the same step (loggers that write a row per call)."""
    import pandas as pd

    notes = list(notes)
    chosen = guess_columns(list(frame.columns), mapping, path)
    loss_rows = np.flatnonzero(present(frame, chosen["loss"]))
    if not len(loss_rows):
        raise GradscopeError(f"{path}: its loss {chosen['loss']!r} holds no value (fix: --map loss=COLUMN names "
                             "another)")
    loss, bad = numbers(frame[chosen["loss"]].iloc[loss_rows])
    step_of = _steps(frame, chosen.get("step"))
    steps = step_of[loss_rows]
    bad |= np.isnan(steps)
    if bad.any():
        notes.append(f"{path}: {int(bad.sum())} row(s) whose loss or step is not a number (left out)")
        loss_rows, loss, steps = loss_rows[~bad], loss[~bad], steps[~bad]
        if not len(loss_rows):
            raise GradscopeError(f"{path}: no row holds a number in {chosen['loss']!r} (fix: --map loss=COLUMN "
                                 "names the loss)")
    at = pd.Index(steps.astype(np.int64))
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in ("grad_norm", "lr"):
        column = chosen.get(key)
        if column is None:
            continue
        rows = np.flatnonzero(present(frame, column) & ~np.isnan(step_of))
        values, unread = numbers(frame[column].iloc[rows])
        rows, values = rows[~unread], values[~unread]
        if not len(rows):
            continue
        by_step = pd.Series(values, index=step_of[rows].astype(np.int64))
        by_step = by_step[~by_step.index.duplicated(keep="last")]
        logged = pd.Series(True, index=by_step.index).reindex(at, fill_value=False).to_numpy(bool)
        series[key] = by_step.reindex(at).to_numpy(np.float64), logged
    grad, grad_logged = series.get("grad_norm", (None, None))
    return log_reading(path, fmt, steps=steps, loss=loss, grad_norm=grad, grad_logged=grad_logged,
                       lr=series.get("lr", (None, None))[0], cannot_hold=cannot_hold,
                       columns={k: v for k, v in chosen.items() if k == "loss" or k == "step" or k in series},
                       notes=notes)


def _steps(frame: Any, column: str | None) -> np.ndarray:
    """Each row's step (float64, NaN where not an integer), or its row number when no step column exists."""
    if column is None:
        return np.arange(len(frame), dtype=np.float64)
    values, _ = numbers(frame[column])
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**62)
    return np.where(whole, values, np.nan)


def non_empty(frame: Any, column: str) -> np.ndarray:
    """Cells that hold something: not an empty CSV cell (read as NA) nor a key missing from a JSON object; a
    NaN written as text or a JSON token was kept as text and counts."""
    return frame[column].notna().to_numpy(bool).copy()


def every_row(frame: Any, column: str) -> np.ndarray:
    return np.ones(len(frame), bool)


def needs_file(path: Path, fmt: str) -> None:
    if not path.exists():
        raise GradscopeError(f"{path}: no such file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise GradscopeError(f"{path}: the {fmt} is empty (fix: pass the log the run wrote)")
