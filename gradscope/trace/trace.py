"""The per-step record of a run: preallocated arrays in memory, streamed to CSV as the run goes.

The global series (loss, global gradient norm, ...) is kept in full: a few floats a step. The per-parameter
series would be steps x parameters floats, so it is kept bounded: a recent window at full resolution plus a
history that halves its resolution whenever it fills (`ParameterSeries`). On disk, the CSVs hold every step.
This module needs numpy only; torch never enters it, so detectors can be tested on hand-built traces.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from gradscope.clip.setting import THRESHOLD_MODES, Clip, ClipMode
from gradscope.trace.run_folder import GRAD_NORMS_FILE, TRACE_FILE, WEIGHT_NORMS_FILE

# name -> dtype of the global per-step columns, in CSV order. `grad_norm` is the global L2 norm before clipping.
COLUMNS: dict[str, Any] = {
    "step": np.int64,
    "loss": np.float64,
    "grad_norm": np.float64,
    "grad_max_abs": np.float64,  # largest |element| of any gradient, before clipping (NaN when not measured)
    "weight_norm": np.float64,  # global L2 norm of the weights this step's forward used
    "clipped": np.int8,  # 1 when clipping changed the gradients this step
    "nonfinite_grads": np.int32,  # how many parameters had a NaN/Inf gradient
    "amp_skipped": np.int8,  # 1 when an AMP GradScaler skipped this step for inf/NaN gradients
    # 1 when the float32 global norm (what clip_grad_norm_ and every logger compute) is inf while every gradient
    # element is finite: `grad_norm` then holds the exact norm, recomputed in float64
    "norm_overflow": np.int8,
    "lr": np.float64,
    "seconds": np.float64,  # wall time since the first step began
}


# Where in a step a value first went non-finite: the input batch, the forward, the loss, the backward, or the
# optimizer's step (weights).
Stage = Literal["data", "forward", "loss", "backward", "step"]


@dataclass(frozen=True)
class Event:
    """Where something first went non-finite: `kind` is a symptom kind, `stage` where in the step."""

    kind: str
    step: int
    parameter: str | None = None
    module: str | None = None
    stage: Stage | None = None
    detail: str = ""
    others: tuple[str, ...] = ()  # further parameters affected at the same step
    op: dict[str, Any] | None = None  # the op that made the first inf/NaN (op_overflow.OpOverflow.to_dict())


class StopReason(StrEnum):
    """How a run ended: its run.json `stopped` value (and the diagnosis summary's)."""

    COMPLETED = "completed"  # every step requested ran (or the user's loop ended)
    NONFINITE_WEIGHTS = "nonfinite_weights"  # stopped: nothing more to learn from NaN/Inf weights
    INTERRUPTED = "interrupted"  # Ctrl-C, or killed before run.json was written
    ERROR = "error"  # the user's code raised
    STOP_ON = "stop_on"  # a framework callback's stop_on ended training at a symptom


@dataclass
class RunInfo:
    """What a trace needs besides numbers: parameter names and shapes, the clip setting, how the run ended."""

    param_names: list[str]
    param_shapes: list[list[int]]
    param_modules: list[str] = field(default_factory=list)  # class name of each parameter's module
    clip_mode: ClipMode | None = None  # "norm" | "value" | "adaptive" (gradscope.Guard) | None
    clip_threshold: float | None = None  # with "adaptive": the Guard's threshold in force at the end
    steps_requested: int | None = None
    stopped: StopReason = StopReason.COMPLETED
    label: str = ""
    events: list[Event] = field(default_factory=list)
    grad_dtype: str = "float32"  # what the norms and the loss are kept in: float64 for a float64 model
    # each decision of a Guard recording through this trace's Monitor (GuardEvent.to_dict(): step, threshold, why,
    # action)
    guard_events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stopped = StopReason(self.stopped)  # run.json holds the plain string

    @property
    def clip(self) -> Clip | None:
        """The clip the run was recorded with (run.json keeps its mode and threshold as two fields)."""
        if self.clip_mode == "adaptive":
            return Clip("adaptive")
        if self.clip_mode in THRESHOLD_MODES and self.clip_threshold is not None:
            return Clip(self.clip_mode, float(self.clip_threshold))
        return None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stopped"] = self.stopped.value
        # an event's op (the op-level check's finding) is written only where there is one: run.json as before
        out["events"] = [{k: v for k, v in asdict(e).items() if k != "op" or v is not None} for e in self.events]
        if self.grad_dtype == "float32":
            del out["grad_dtype"]  # written only where it is not float32: run.json as before
        if not self.guard_events:
            del out["guard_events"]  # written only where a Guard decided something: run.json as before
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInfo:
        data = dict(data)
        data["events"] = [Event(**{**e, "others": tuple(e.get("others", ()))}) for e in data.get("events", [])]
        return cls(**data)


class ParameterSeries:
    """Per-parameter values over steps in bounded memory: recent rows in full, older rows downsampled.

    Memory is (recent + history) x parameters floats whatever the number of steps: the history keeps every
    `stride`-th step and doubles `stride` (dropping every other row) each time it fills.
    """

    def __init__(self, n_params: int, *, recent: int = 256, history: int = 4096, dtype: str = "float32") -> None:
        self.n_params = n_params
        self._recent = np.empty((recent, n_params), dtype)
        self._recent_steps = np.full(recent, -1, np.int64)
        self._history = np.empty((history, n_params), dtype)
        self._history_steps = np.empty(history, np.int64)
        self._n_history = 0
        self.stride = 1

    def append(self, step: int, values: np.ndarray) -> None:
        slot = step % len(self._recent)
        self._recent[slot] = values
        self._recent_steps[slot] = step
        if step % self.stride:
            return
        if self._n_history == len(self._history):
            keep = self._history_steps[: self._n_history] % (2 * self.stride) == 0
            kept = int(keep.sum())
            self._history[:kept] = self._history[: self._n_history][keep]
            self._history_steps[:kept] = self._history_steps[: self._n_history][keep]
            self._n_history = kept
            self.stride *= 2
            if step % self.stride:
                return
        self._history[self._n_history] = values
        self._history_steps[self._n_history] = step
        self._n_history += 1

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values[steps, params]) in step order, history and recent window merged."""
        valid = self._recent_steps >= 0
        steps = np.concatenate([self._history_steps[: self._n_history], self._recent_steps[valid]])
        values = np.concatenate([self._history[: self._n_history], self._recent[valid]])
        steps, index = np.unique(steps, return_index=True)
        return steps, values[index].astype(np.float64)

    def row_at(self, step: int) -> np.ndarray | None:
        """The values of every parameter at `step`; None when that step is not held (decimated, or not recorded)."""
        steps, values = self.series()
        i = step_index(steps, step)
        return None if i is None else values[i]

    @property
    def nbytes(self) -> int:
        return self._recent.nbytes + self._history.nbytes + self._recent_steps.nbytes + self._history_steps.nbytes


class Trace:
    """Per-step records of one run in preallocated, growable numpy arrays, plus per-parameter series."""

    def __init__(self, info: RunInfo, *, capacity: int = 1024, recent: int = 256, history: int = 4096) -> None:
        self.info = info
        self._n = 0
        self._columns = {name: np.zeros(capacity, dtype) for name, dtype in COLUMNS.items()}
        n_params = len(info.param_names)
        self.grad_norms = ParameterSeries(n_params, recent=recent, history=history, dtype=info.grad_dtype)
        self.weight_norms = ParameterSeries(n_params, recent=recent, history=history, dtype=info.grad_dtype)
        self._writer: TraceWriter | None = None

    # -- writing ---------------------------------------------------------------------------------
    def stream_to(self, run_dir: Path) -> None:
        """Write every row to CSV files in `run_dir` as it is appended; rows already recorded are written first
        (all global rows; the per-parameter rows still held in memory)."""
        self.close()  # a stream already open ends complete
        self._writer = TraceWriter(Path(run_dir), self.info.param_names, self.info.grad_dtype)
        held_g = dict(zip(*[a.tolist() for a in self.grad_norms.series()], strict=True))
        held_w = dict(zip(*[a.tolist() for a in self.weight_norms.series()], strict=True))
        for i in range(self._n):
            row = self.row(i)
            self._writer.write(row, _array(held_g.get(row["step"])), _array(held_w.get(row["step"])))
        self._writer.flush()

    def write_csvs(self, run_dir: Path) -> None:
        """trace.csv (every step) and the per-parameter CSVs (the steps held), written once and closed."""
        self.stream_to(run_dir)
        self.close()

    def append(self, row: dict[str, Any], grad_norms: np.ndarray | None,
               weight_norms: np.ndarray | None) -> None:
        """Append one step: `row` holds the global columns (missing ones stay 0/NaN); per-parameter norms
        may be None for a step whose per-parameter values are not known (a trace read back after decimation)."""
        n = self._n
        if n == len(self._columns["step"]):
            for name, array in self._columns.items():
                grown = np.zeros(2 * len(array), array.dtype)
                grown[:n] = array
                self._columns[name] = grown
        for name in COLUMNS:
            self._columns[name][n] = row.get(name, math.nan if COLUMNS[name] is np.float64 else 0)
        self._n = n + 1
        step = int(row["step"])
        if grad_norms is not None:
            self.grad_norms.append(step, grad_norms)
        if weight_norms is not None:
            self.weight_norms.append(step, weight_norms)
        if self._writer is not None:
            self._writer.write(self.row(n), grad_norms, weight_norms)
            self._writer.flush()

    def set_clipped(self, index: int, clipped: bool) -> None:
        self._columns["clipped"][index] = int(clipped)
        if self._writer is not None and index == self._n - 1:
            self._writer.amend_clipped(int(clipped))

    def add_event(self, event: Event) -> None:
        self.info.events.append(event)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    @property
    def streaming_to(self) -> Path | None:
        """The folder rows are streamed into (`stream_to`), until `close`."""
        return None if self._writer is None else self._writer.run_dir

    # -- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one global column over the recorded steps."""
        view = self._columns[name][: self._n]
        view.flags.writeable = False
        return view

    def row(self, index: int) -> dict[str, Any]:
        """The global columns of row `index` (rows count what was recorded; see `row_at` for a step)."""
        return {name: array[index].item() for name, array in self._columns.items()}

    # Steps are not rows: a trace read back with damaged rows dropped, or a log written every k steps, has gaps.
    # Detectors work in rows and name steps (`steps[row]`) once, when they build a Symptom.
    def index_of(self, step: int) -> int | None:
        """The row that holds `step`, or None when no row does."""
        return step_index(self.steps, step)

    def row_at(self, step: int) -> dict[str, Any] | None:
        """The global columns at `step`, or None when no row holds it."""
        i = self.index_of(step)
        return None if i is None else self.row(i)

    def rows_before(self, step: int) -> int:
        """How many rows hold a step before `step` (the rows to look back over from it)."""
        return int(np.searchsorted(self.steps, step))

    @property
    def steps(self) -> np.ndarray:
        return self.column("step")

    @property
    def loss(self) -> np.ndarray:
        return self.column("loss")

    @property
    def grad_norm(self) -> np.ndarray:
        return self.column("grad_norm")

    @property
    def weight_norm(self) -> np.ndarray:
        return self.column("weight_norm")

    def to_frame(self) -> Any:
        """The global columns as a pandas DataFrame, one row per optimizer step."""
        import pandas as pd

        return pd.DataFrame({name: self.column(name).copy() for name in COLUMNS})

    def param_frame(self, which: str = "grad") -> Any:
        """Per-parameter norms (`grad` or `weight`) as a DataFrame indexed by step."""
        import pandas as pd

        steps, values = (self.grad_norms if which == "grad" else self.weight_norms).series()
        return pd.DataFrame(values, index=pd.Index(steps, name="step"), columns=self.info.param_names)

    @property
    def nbytes(self) -> int:
        """Memory held by the trace's arrays, in bytes."""
        return (sum(a.nbytes for a in self._columns.values()) + self.grad_norms.nbytes
                + self.weight_norms.nbytes)

    @classmethod
    def from_columns(cls, info: RunInfo, columns: dict[str, Any], grad_norms: Any = None,
                     weight_norms: Any = None, param_steps: Any = None) -> Trace:
        """A trace from whole columns (arrays or lists); per-parameter arrays are rows x parameters, one row per
        step, or one per entry of `param_steps` when they hold only some steps."""
        n = len(columns["loss"])
        if not info.param_names:  # no parameters: per-parameter arrays, if any, are empty
            return cls._from_global(info, columns, n)
        trace = cls(info, capacity=max(n, 1), recent=max(n, 1), history=max(n, 1))
        n_params = len(info.param_names)
        grads = np.zeros((n, n_params)) if grad_norms is None else np.asarray(grad_norms, np.float64)
        weights = np.zeros((n, n_params)) if weight_norms is None else np.asarray(weight_norms, np.float64)
        steps = columns.get("step", range(n))
        at = {int(s): i for i, s in enumerate(param_steps)} if param_steps is not None else None
        for i in range(n):
            row = {name: columns[name][i] for name in columns if name in COLUMNS}
            row.setdefault("step", i)
            row.setdefault("weight_norm", 0.0)  # not given: unknown, not non-finite
            j = i if at is None else at.get(int(steps[i]))
            trace.append(row, None if j is None else grads[j], None if j is None else weights[j])
        return trace

    @classmethod
    def _from_global(cls, info: RunInfo, columns: dict[str, Any], n: int) -> Trace:
        """A trace of global columns only (a log read back: no parameters), filled whole, not row by row, so
        a million rows take milliseconds; the defaults are `append`'s."""
        trace = cls(info, capacity=max(n, 1), recent=1, history=1)
        for name, dtype in COLUMNS.items():
            if name in columns:
                trace._columns[name][:n] = np.asarray(columns[name]).astype(dtype, copy=False)
            elif dtype is np.float64:
                trace._columns[name][:n] = math.nan
        if "step" not in columns:
            trace._columns["step"][:n] = np.arange(n)
        if "weight_norm" not in columns:
            trace._columns["weight_norm"][:n] = 0.0  # not given: unknown, not non-finite
        trace._n = n
        return trace


def first_nonfinite_step(trace: Trace) -> int | None:
    """The first step where a plain loop sees a non-finite value: the loss, a gradient or the weights are NaN/Inf
    there, the float32 global gradient norm is inf (`clip_grad_norm_` returns inf although every element is
    finite), or a recorded event (the monitor's, or the training loop's replay of the bad step) says so."""
    bad = np.flatnonzero(~np.isfinite(trace.loss) | (trace.column("nonfinite_grads") > 0)
                         | ~np.isfinite(trace.weight_norm) | (trace.column("norm_overflow") > 0))
    steps = [int(trace.steps[bad[0]])] if len(bad) else []
    steps += [e.step for e in trace.info.events if e.kind.startswith("nonfinite")]
    return min(steps, default=None)


def step_index(steps: np.ndarray, step: int) -> int | None:
    """Where `step` is in `steps` (increasing, as recorded; a log whose counter restarted is searched whole)."""
    i = int(np.searchsorted(steps, step))
    if i < len(steps) and steps[i] == step:
        return i
    hits = np.flatnonzero(steps == step)
    return int(hits[0]) if len(hits) else None


def _array(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, np.float64)


def _fmt(value: Any, spec: str = ".10g") -> str:
    return format(value, spec) if isinstance(value, float) else str(value)  # NaN/Inf as nan/inf: pandas reads both


# Digits written (global columns, per-parameter norms) by the run's precision: a float32 norm has ~7, a float64
# run's values keep all 17.
DIGITS = {"float32": (".10g", ".7g"), "float64": (".17g", ".17g")}


class TraceWriter:
    """Streams rows to trace.csv and the per-parameter CSVs, flushed each step so a killed run stays readable.

    Every row is on disk as soon as it is written, so a SIGKILL loses no recorded step. `clipped` is known only
    after the step was recorded: the last global row is then rewritten in place (seek to where it began,
    truncate, write, flush), which leaves a whole row on disk before and after.
    """

    def __init__(self, run_dir: Path, param_names: list[str], grad_dtype: str = "float32") -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self._spec, self._norm_spec = DIGITS.get(grad_dtype, DIGITS["float32"])
        self.run_dir = run_dir
        self._files: list[IO[str]] = []
        self._trace = self._open(run_dir / TRACE_FILE, list(COLUMNS))
        self._trace_file = self._files[0]
        self._grads = self._open(run_dir / GRAD_NORMS_FILE, ["step", *param_names])
        self._weights = self._open(run_dir / WEIGHT_NORMS_FILE, ["step", *param_names])
        self._last: list[str] | None = None  # the last global row written, and where it begins in trace.csv
        self._last_at: int = 0

    def _open(self, path: Path, header: list[str]) -> Any:
        handle = path.open("w", newline="", encoding="utf-8")
        self._files.append(handle)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        return writer

    def write(self, row: dict[str, Any], grad_norms: np.ndarray | None, weight_norms: np.ndarray | None) -> None:
        self._last = [_fmt(row[name], self._spec) for name in COLUMNS]
        self._last_at = self._trace_file.tell()
        self._trace.writerow(self._last)
        step = str(row["step"])
        if grad_norms is not None:
            self._grads.writerow([step, *(format(v, self._norm_spec) for v in grad_norms.tolist())])
        if weight_norms is not None:
            self._weights.writerow([step, *(format(v, self._norm_spec) for v in weight_norms.tolist())])

    def amend_clipped(self, clipped: int) -> None:
        """Set `clipped` in the last global row written, on disk too."""
        at = list(COLUMNS).index("clipped")
        if self._last is None or self._last[at] == str(clipped):
            return
        self._last[at] = str(clipped)
        handle = self._trace_file
        handle.seek(self._last_at)
        handle.truncate()
        self._trace.writerow(self._last)
        handle.flush()

    def flush(self) -> None:
        for handle in self._files:
            handle.flush()

    def close(self) -> None:
        """Close every file, even when one fails (a full disk): the first failure is raised after."""
        failure: OSError | None = None
        for handle in self._files:
            try:
                handle.close()
            except OSError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
