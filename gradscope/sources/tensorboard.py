"""TensorBoard event files, or a folder holding them (one run's: a folder with several runs is an error that
names them), read with tensorboard's own `EventAccumulator` (the `tensorboard` extra), every event kept.

Scalars are matched by tag as CSV columns are by name: `train/loss` (the Trainer's TensorBoardCallback),
`train_loss` (Lightning's TensorBoardLogger), `loss`...; the gradient norm and the lr likewise; `--map` names a
tag. The step is each event's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import guess_columns, log_reading
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure

NAME = "TensorBoard"
CANNOT_HOLD = {m: "TensorBoard scalars do not hold them"
               for m in (Measure.PARAM_GRAD_NORMS, Measure.WEIGHT_NORMS, Measure.EXACT_NORM, Measure.OP_REPLAY)}
MARK = "tfevents"
MAX_DEPTH = 4  # how deep a folder is searched for event files


def event_dirs(path: Path) -> list[Path]:
    """The folders under `path` (itself included, `MAX_DEPTH` deep) that hold event files; [path] for a file."""
    if path.is_file():
        return [path] if MARK in path.name else []
    if not path.is_dir():
        return []
    found: set[Path] = set()
    level = [path]
    for _ in range(MAX_DEPTH + 1):
        below = []
        for folder in level:
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            if any(MARK in e.name and e.is_file() for e in entries):
                found.add(folder)
            below += [e for e in entries if e.is_dir()]
        level = below
    return sorted(found)


class TensorBoardSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return bool(event_dirs(path))

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        try:
            from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
        except ImportError:
            raise GradscopeError(f"{path}: reading TensorBoard logs needs the tensorboard package (fix: pip "
                                 "install 'torch-gradscope[tensorboard]')") from None
        dirs = event_dirs(path)
        if len(dirs) > 1:
            shown = ", ".join(str(d) for d in dirs[:5]) + (", ..." if len(dirs) > 5 else "")
            raise GradscopeError(f"{path}: holds the TensorBoard logs of {len(dirs)} runs ({shown}); fix: pass "
                                 "one of them (gradscope compare takes several)")
        where = dirs[0]
        accumulator = EventAccumulator(str(where), size_guidance={SCALARS: 0})  # 0: every event, not a sample
        try:
            accumulator.Reload()
        except Exception as exc:  # a damaged event file: tensorboard raises its own errors  # noqa: BLE001
            raise GradscopeError(f"{where}: the TensorBoard events cannot be read ({type(exc).__name__}: "
                                 f"{str(exc)[:100]})") from None
        tags = accumulator.Tags().get("scalars", [])
        chosen = guess_columns(tags, mapping, where, what="tag")
        series = {key: _scalars(accumulator.Scalars(tag)) for key, tag in chosen.items() if key != "step"}
        steps, loss = series["loss"]
        at = {int(s): i for i, s in enumerate(steps.tolist())} if "grad_norm" in series or "lr" in series else {}
        aligned = {k: _at(at, len(steps), *series[k]) for k in ("grad_norm", "lr") if k in series}
        grad, logged = aligned.get("grad_norm", (None, None))
        return log_reading(where, NAME, steps=steps, loss=loss, grad_norm=grad, grad_logged=logged,
                           lr=aligned.get("lr", (None, None))[0], cannot_hold=CANNOT_HOLD, columns=chosen)


def _scalars(events: list) -> tuple[np.ndarray, np.ndarray]:
    steps = np.fromiter((e.step for e in events), np.int64, len(events))
    values = np.fromiter((e.value for e in events), np.float64, len(events))
    return steps, values


def _at(index: dict[int, int], n: int, steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`values` placed at the loss's rows of the same step (NaN and not logged elsewhere)."""
    out, logged = np.full(n, np.nan), np.zeros(n, bool)
    for step, value in zip(steps.tolist(), values.tolist(), strict=True):
        row = index.get(step)
        if row is not None:
            out[row], logged[row] = value, True
    return out, logged
