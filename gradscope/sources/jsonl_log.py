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
from typing import Any

import numpy as np

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import every_row, needs_file, table_reading
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
        uniform = _uniform_frame(text)
        if uniform is not None:  # every line the same keys in the same order: read as a CSV, every key present
            return table_reading(path, NAME, uniform, mapping, CANNOT_HOLD, every_row)
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


_VALUE = r"[-+0-9.eE]+|NaN|-?Infinity|null"  # a number or one of JSON's non-numbers, nothing nested, no text


def _uniform_frame(text: str) -> Any:
    """The lines as a DataFrame read by pandas' C CSV parser, when every line is `json.dumps` of an object with
    the first line's keys in its order and numbers as values (what a training loop writes); else None.

    A full-line pattern counted by `re.subn` (one C pass) checks every line; then each key's separator becomes
    a comma (str.replace) and pandas parses the numbers: no Python per line.
    """
    import pandas as pd

    head = text.split("\n", 1)[0].strip()
    try:
        first = json.loads(head, parse_constant=str)
    except ValueError:
        return None
    if not isinstance(first, dict) or not first or not all(isinstance(k, str) for k in first):
        return None
    keys = list(first)
    seps = ["{" + json.dumps(keys[0]) + ": ", *(", " + json.dumps(k) + ": " for k in keys[1:])]
    pattern = "^" + "".join(re.escape(sep) + f"(?:{_VALUE})" for sep in seps) + r"\}\r?$"
    rows = text.count("\n") + (0 if text.endswith("\n") else 1) - text.count("\n\n")
    if rows < 1 or re.subn(pattern, "", text, flags=re.M)[1] != rows:
        return None
    body = text.replace(seps[0], "")
    for sep in seps[1:]:
        body = body.replace(sep, ",")
    body = body.replace("}", "")
    return pd.read_csv(io.StringIO(body), header=None, names=keys, keep_default_na=False,
                       na_values=["NaN", "null"], skip_blank_lines=True)


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
