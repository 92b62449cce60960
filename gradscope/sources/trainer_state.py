"""A Hugging Face `trainer_state.json`, or an output or checkpoint folder holding one (the latest checkpoint's).

Its `log_history` has one entry per logging step with `loss`, `grad_norm`, `learning_rate` and `step` (the
Trainer's own step numbers, counted from 1); each `loss` is the mean over the `logging_steps` since the entry
before, `grad_norm` is the last step's. Entries without a `loss` (evaluations, the final summary) are left out.
Python's json reads the Trainer's `NaN` and `Infinity` tokens. By default the Trainer replaces a NaN/Inf loss
by the mean of the finite ones in its window (`logging_nan_inf_filter`): there, only the gradient norm shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import non_empty, table_reading
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure

NAME = "trainer_state.json"
FILE = "trainer_state.json"
CANNOT_HOLD = {m: "a Trainer's log_history does not hold them"
               for m in (Measure.PARAM_GRAD_NORMS, Measure.WEIGHT_NORMS, Measure.EXACT_NORM, Measure.OP_REPLAY)}
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
KEYS = {"step": "step", "loss": "loss", "grad_norm": "grad_norm", "lr": "learning_rate"}


def state_file(path: Path) -> Path | None:
    """The trainer_state.json `path` names: itself, the one in the folder, or the latest checkpoint's."""
    if path.is_file():
        return path if path.name == FILE else None
    if not path.is_dir():
        return None
    if (path / FILE).is_file():
        return path / FILE
    checkpoints = [(int(m.group(1)), p) for p in path.glob(f"checkpoint-*/{FILE}")
                   if (m := _CHECKPOINT.fullmatch(p.parent.name))]
    return max(checkpoints)[1] if checkpoints else None


class TrainerStateSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return state_file(path) is not None

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        import pandas as pd

        file = state_file(path)
        assert file is not None
        try:
            state = json.loads(file.read_bytes().decode("utf-8", errors="replace"), parse_constant=str)
        except ValueError as exc:
            raise GradscopeError(f"{file}: not JSON ({exc}); fix: pass the trainer_state.json the Trainer "
                                 "wrote") from None
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            raise GradscopeError(f"{file}: no log_history list (not a Trainer's state; fix: pass "
                                 "output_dir/checkpoint-N/trainer_state.json)")
        entries = [e for e in history if isinstance(e, dict) and "loss" in e]
        if not entries and "loss" not in mapping:
            raise GradscopeError(f"{file}: log_history holds no training loss (it has "
                                 f"{len(history)} entries, none with 'loss'; fix: train with logging_steps "
                                 "set, or --map loss=KEY)")
        frame = pd.DataFrame.from_records(entries or [e for e in history if isinstance(e, dict)])
        frame.columns = [str(c) for c in frame.columns]
        own = {k: v for k, v in KEYS.items() if v in frame.columns} | dict(mapping)
        notes = []
        if file != path:
            notes.append(f"{path}: read {file}")
        return _filtered_losses(table_reading(file, NAME, frame, own, CANNOT_HOLD, non_empty, notes))


def _filtered_losses(reading: Reading) -> Reading:
    """The reading with a note where the Trainer's logged loss stayed finite over non-finite gradients: its
    `logging_nan_inf_filter` put a substitute there (0 once every step's loss is NaN), not the model's loss."""
    trace = reading.trace
    bad = np.flatnonzero(trace.column("nonfinite_grads") > 0)
    if not len(bad) or not np.isfinite(trace.loss[bad]).all():
        return reading
    note = (f"{reading.path}: from step {int(trace.steps[bad[0]])} the gradient norm is NaN/Inf but the logged "
            "loss is finite: the Trainer's logging_nan_inf_filter (on by default) logs a substitute for NaN/Inf "
            "losses, not the model's loss")
    return replace(reading, notes=(*reading.notes, note))
