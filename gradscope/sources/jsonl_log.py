"""JSON Lines of per-step metrics: one object per line, as a user's loop writes with `json.dumps(row)`.

Keys are guessed as for a CSV, or named with `--map`. Python's `NaN`, `Infinity` and `-Infinity` tokens, the
strings "nan"/"inf", and `null` (how strict writers spell NaN) read as NaN/Inf; a key missing from a line was
not logged there. Lines that are not JSON objects are skipped with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import needs_file, non_empty, table_reading
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure

NAME = "JSONL"
CANNOT_HOLD = {m: "a JSONL of per-step metrics does not hold them"
               for m in (Measure.PARAM_GRAD_NORMS, Measure.WEIGHT_NORMS, Measure.EXACT_NORM, Measure.OP_REPLAY)}
_NULL = re.compile(r"(?<=[:\[,])\s*null\b")


class JsonlSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson")

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        import pandas as pd

        needs_file(path, NAME)
        text = _NULL.sub('"nan"', path.read_bytes().decode("utf-8", errors="replace"))
        lines = [line for line in text.splitlines() if line.strip()]
        records, skipped = _records(lines)
        if not records:
            raise GradscopeError(f"{path}: no line is a JSON object (fix: one object per line, e.g. "
                                 '{"step": 1, "loss": 2.3})')
        frame = pd.DataFrame.from_records(records)
        frame.columns = [str(c) for c in frame.columns]
        notes = [f"{path}: {skipped} line(s) that are not JSON objects (skipped)"] if skipped else []
        return table_reading(path, NAME, frame, mapping, CANNOT_HOLD, non_empty, notes)


def _records(lines: list[str]) -> tuple[list[dict], int]:
    """The objects of `lines`, parsed in one call (NaN/Infinity tokens and null kept as text, so a missing key
    and a logged NaN stay apart), and how many lines were not objects."""
    whole = "[" + ",".join(lines) + "]"
    try:
        parsed = json.loads(whole, parse_constant=str)
    except ValueError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line, parse_constant=str))
            except ValueError:
                parsed.append(None)
    records = [r for r in parsed if isinstance(r, dict)]
    return records, len(parsed) - len(records)
