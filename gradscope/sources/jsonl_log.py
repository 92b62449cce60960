"""JSON Lines of per-step metrics: one object per line, as a user's loop writes with `json.dumps(row)`.

Keys are guessed as for a CSV, or named with `--map`. Python's `NaN`, `Infinity` and `-Infinity` tokens, the
strings "nan"/"inf", and `null` (how strict writers spell NaN) read as NaN/Inf; a key missing from a line was
not logged there. Lines that are not JSON objects are skipped with a note. Read by pandas' JSON reader in one
call; which key a line holds is looked up in its text only where the value read is NaN.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import needs_file, table_reading
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure

NAME = "JSONL"
CANNOT_HOLD = {m: "a JSONL of per-step metrics does not hold them"
               for m in (Measure.PARAM_GRAD_NORMS, Measure.WEIGHT_NORMS, Measure.EXACT_NORM, Measure.OP_REPLAY)}


class JsonlSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson")

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        import pandas as pd

        needs_file(path, NAME)
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = pd.Series([line for line in text.splitlines() if line.strip()], dtype=object)
        try:  # pandas' reader: NaN/Infinity tokens and null read as NaN; which key a line holds is told below
            frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True, dtype=False, precise_float=True)
            notes: list[str] = []
        except ValueError:  # a line that is not JSON: each line on its own, the bad ones skipped
            records, skipped, keep = _records(list(lines))
            if not records:
                raise GradscopeError(f"{path}: no line is a JSON object (fix: one object per line, e.g. "
                                     '{"step": 1, "loss": 2.3})') from None
            frame, lines = pd.DataFrame.from_records(records), lines[keep].reset_index(drop=True)
            notes = [f"{path}: {skipped} line(s) that are not JSON objects (skipped)"] if skipped else []
        frame.columns = [str(c) for c in frame.columns]

        def present(_frame: object, column: str) -> np.ndarray:
            """The lines that hold `column` as a key: every line with a value, and of the lines where it reads
            as NaN, those whose text has the key (a logged NaN or null), not those without it."""
            held = frame[column].notna().to_numpy(bool).copy()
            key = re.compile(re.escape(json.dumps(column)) + r"\s*:").search
            unsure = np.flatnonzero(~held)
            held[unsure] = [key(line) is not None for line in lines.iloc[unsure]]
            return held

        return table_reading(path, NAME, frame, mapping, CANNOT_HOLD, present, notes)


def _records(lines: list[str]) -> tuple[list[dict], int, list[int]]:
    """The objects among `lines` (parsed one by one), how many lines were not objects, and which were."""
    records, keep = [], []
    for i, line in enumerate(lines):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            records.append(parsed)
            keep.append(i)
    return records, len(lines) - len(records), keep
