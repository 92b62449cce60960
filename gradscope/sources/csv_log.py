"""A CSV (or TSV) of per-step metrics, as a user's own loop or `pandas.DataFrame.to_csv` writes it.

Columns are guessed (`step`, `loss`/`train_loss`/`train/loss`, `grad_norm`, `lr`/`learning_rate`), or named with
`--map`. `nan`, `NaN`, `inf`, `Infinity` read as what they are, and so does an empty cell in a column logged on
every row (pandas writes NaN as an empty cell); in a column logged only every few rows an empty cell is a row
where it was not logged. Rows where none of the loss, gradient norm and lr is logged (an eval row) are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import guess_columns, needs_file, non_empty, table_reading
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure

NAME = "CSV"
CANNOT_HOLD = {m: "a CSV of per-step metrics does not hold them"
               for m in (Measure.PARAM_GRAD_NORMS, Measure.WEIGHT_NORMS, Measure.EXACT_NORM, Measure.OP_REPLAY)}


class CsvSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in (".csv", ".tsv")

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        import pandas as pd

        needs_file(path, NAME)
        try:
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""], sep="\t" if path.suffix == ".tsv" else ",",
                                skipinitialspace=True, on_bad_lines="skip", encoding_errors="replace")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError) as exc:
            raise GradscopeError(f"{path}: not a readable CSV ({str(exc).splitlines()[0][:120]})") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        tracked = [c for k, c in guess_columns(list(frame.columns), mapping, path).items() if k != "step"]
        return table_reading(path, NAME, frame, mapping, CANNOT_HOLD, _present_in(frame, tracked))


def _present_in(frame: Any, tracked: list[str]) -> Any:
    """Which cells hold a logged value: any non-empty cell, and an empty one in a column logged on consecutive
    rows (pandas' NaN) on a row where another tracked column is logged."""
    filled = {c: non_empty(frame, c) for c in tracked}
    logged_row = np.logical_or.reduce(list(filled.values()))

    def present(_frame: Any, column: str) -> np.ndarray:
        cells = filled.get(column)
        if cells is None:
            return non_empty(frame, column)
        on_rows = cells[logged_row]
        dense = bool(np.any(on_rows[1:] & on_rows[:-1]))
        return cells | (dense & logged_row)

    return present
