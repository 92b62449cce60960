"""TensorBoard event files, or a folder holding them (one run's: a folder with several runs is an error that
names them), every event kept.

The TFRecord framing (uint64 length, its masked crc32c, the record, the record's crc) is walked here and each
record decoded with tensorboard's own `Event` proto (the `tensorboard` extra): tensorboard's `EventAccumulator`
costs ~30 us an event (a pure-Python crc32c of every record, reservoirs), this ~2 us. The length's crc is
checked (memoised per length: lengths repeat), the record's is not: a record that does not decode ends the file.
A folder's files are read in name order (their names carry the time they were opened); a later event of the same
tag and step replaces an earlier one, as TensorBoard shows it. A truncated or damaged file keeps what was read
before the damage, with a note.

Scalars are `simple_value` (torch's `SummaryWriter.add_scalar`) or a one-element numeric `tensor`
(`add_scalar(new_style=True)`, TF2's `tf.summary.scalar`), matched by tag as CSV columns are by name:
`train/loss` (the Trainer's TensorBoardCallback), `train_loss` (Lightning's TensorBoardLogger), `loss`...; the
gradient norm and the lr likewise; `--map` names a tag. The step is each event's own.
"""

from __future__ import annotations

import mmap
import struct
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
_HEADER = struct.Struct("<QI")  # length, masked crc32c of the length's 8 bytes
_NUMERIC = {1: "float32", 2: "float64", 19: "float16", 14: "bfloat16", 3: "int32", 9: "int64"}  # DataType enum


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


def event_files(where: Path) -> list[Path]:
    """The event files of one run: `where` itself, or the folder's own (not its sub-folders'), in name order."""
    if where.is_file():
        return [where]
    return sorted(p for p in where.iterdir() if MARK in p.name and p.is_file())


def read_scalars(files: list[Path]) -> tuple[dict[str, tuple[list[int], list[float]]], list[str]]:
    """{tag: (steps, values)} in file order over `files`, and a note per damaged or truncated file."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    except ImportError:
        raise GradscopeError(f"{files[0]}: reading TensorBoard logs needs the tensorboard package (fix: pip "
                             "install 'torch-gradscope[tensorboard]')") from None
    series: dict[str, tuple[list[int], list[float]]] = {}
    notes: list[str] = []
    good_crc: dict[int, int] = {}  # length -> its masked crc (lengths repeat: one crc32c per distinct length)
    for path in files:
        try:
            with path.open("rb") as handle:
                size = path.stat().st_size
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as exc:
            notes.append(f"{path}: cannot be read ({exc.strerror or exc}): skipped")
            continue
        at, count, problem = 0, 0, None
        while at < size:
            if at + 12 > size:
                problem = "truncated"
                break
            length, crc = _HEADER.unpack_from(data, at)
            expected = good_crc.get(length)
            if expected is None:
                expected = masked_crc32c(data[at:at + 8])
                if expected == crc:
                    good_crc[length] = crc
            if crc != expected:
                problem = "damaged (a record's length fails its checksum)"
                break
            end = at + 12 + length
            if end + 4 > size:
                problem = "truncated"
                break
            try:
                event = Event.FromString(data[at + 12:end])
            except Exception:  # protobuf's DecodeError, whichever backend  # noqa: BLE001
                problem = "damaged (a record does not decode)"
                break
            at = end + 4
            count += 1
            if not event.HasField("summary"):
                continue
            step = event.step
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor":
                    number = _scalar(value.tensor)
                    if number is None:
                        continue
                else:
                    continue
                bucket = series.get(value.tag)
                if bucket is None:
                    bucket = series[value.tag] = ([], [])
                bucket[0].append(step)
                bucket[1].append(number)
        if isinstance(data, mmap.mmap):
            data.close()
        if problem:
            notes.append(f"{path}: {problem} after {count} events at byte {at} of {size}: the events before "
                         "it are read")
    return series, notes


def _scalar(tensor) -> float | None:
    """The value of a one-element numeric tensor (a scalar written the new way), else None."""
    if tensor.dtype not in _NUMERIC or any(d.size != 1 for d in tensor.tensor_shape.dim):
        return None
    if len(tensor.float_val) == 1:
        return tensor.float_val[0]
    if len(tensor.double_val) == 1:
        return tensor.double_val[0]
    from tensorboard.util.tensor_util import make_ndarray  # tensor_content, half_val, int_val...

    try:
        array = make_ndarray(tensor)
    except Exception:  # a malformed tensor: not a scalar we can read  # noqa: BLE001
        return None
    return float(array.reshape(-1)[0]) if array.size == 1 else None


class TensorBoardSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return bool(event_dirs(path))

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        dirs = event_dirs(path)
        if len(dirs) > 1:
            shown = ", ".join(str(d) for d in dirs[:5]) + (", ..." if len(dirs) > 5 else "")
            raise GradscopeError(f"{path}: holds the TensorBoard logs of {len(dirs)} runs ({shown}); fix: pass "
                                 "one of them (gradscope compare takes several)")
        where = dirs[0]
        raw, notes = read_scalars(event_files(where))
        if not raw and notes:
            raise GradscopeError(f"{where}: the TensorBoard events cannot be read: {notes[0].split(': ', 1)[1]} "
                                 "and no scalar came before it (fix: pass an intact event file)")
        chosen = guess_columns(list(raw), mapping, where, what="tag")
        series = {key: (np.asarray(raw[tag][0], np.int64), np.asarray(raw[tag][1], np.float64))
                  for key, tag in chosen.items() if key != "step"}
        steps, loss = series["loss"]
        at = {int(s): i for i, s in enumerate(steps.tolist())} if "grad_norm" in series or "lr" in series else {}
        aligned = {k: _at(at, len(steps), *series[k]) for k in ("grad_norm", "lr") if k in series}
        grad, logged = aligned.get("grad_norm", (None, None))
        return log_reading(where, NAME, steps=steps, loss=loss, grad_norm=grad, grad_logged=logged,
                           lr=aligned.get("lr", (None, None))[0], cannot_hold=CANNOT_HOLD, columns=chosen,
                           notes=notes)


def _at(index: dict[int, int], n: int, steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`values` placed at the loss's rows of the same step (NaN and not logged elsewhere)."""
    out, logged = np.full(n, np.nan), np.zeros(n, bool)
    for step, value in zip(steps.tolist(), values.tolist(), strict=True):
        row = index.get(step)
        if row is not None:
            out[row], logged[row] = value, True
    return out, logged
