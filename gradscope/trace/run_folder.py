"""A run folder's layout and its one writer: every file gradscope puts there is named here, and written from here.

A run folder (from `diagnose`, a trial of `recommend` or `compare`, or `Monitor.save`) holds the streamed trace
CSVs, `run.json` (names, shapes, how the run ended), `diagnosis.json`, the resolved config and PNG plots;
`compare` and `recommend` put each run they make in a subfolder. Two moments matter:

- `prepare_run_folder` before a run: a reused folder must not show an older run's trace, plots or trial folders
  beside the new ones. Only what gradscope itself made is removed (files by these names, and subfolders that
  hold the marker file every folder gradscope prepares gets, `.gradscope-run`); a user's other files stay.
- `finish_run_folder` after it, whatever ended it: trace CSVs closed, `run.json` and `diagnosis.json` written
  atomically (a temporary file, then a rename), so a reader never sees half a JSON document.

Names never change: folders written before this module read the same (`load_run`, `read_trace`).

Under torch.distributed only rank 0 writes (`gradscope.ranks.is_writer`): every rank holds the same statistics, and
on the other ranks these functions return what they would and touch nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradscope.ranks import is_writer
from gradscope.strict_json import strict as make_strict

if TYPE_CHECKING:
    from gradscope.config.load import Config
    from gradscope.diagnose.diagnosis import Diagnosis
    from gradscope.trace.trace import Trace

# -- the files of one run ---------------------------------------------------------------------------------
TRACE_FILE = "trace.csv"  # one row per optimizer step (streamed as the run goes)
GRAD_NORMS_FILE = "grad_norms.csv"  # per-parameter gradient norms, the steps held in memory
WEIGHT_NORMS_FILE = "weight_norms.csv"  # per-parameter weight norms, the same steps
RUN_FILE = "run.json"  # RunInfo: parameter names and shapes, clip setting, how the run ended, events
DIAGNOSIS_FILE = "diagnosis.json"  # the `diagnose --json` document
RESOLVED_CONFIG_FILE = "resolved_config.toml"  # the config after overrides and defaults (CLI runs only)
LOSS_PLOT = "loss_grad_norm.png"
HEATMAP_PLOT = "layer_grad_norms.png"

# -- the files of a comparison (`compare`), beside its runs' subfolders -----------------------------------
COMPARISON_FILE = "comparison.json"
COMPARE_LOSS_PLOT = "compare_loss.png"
COMPARE_GRAD_NORM_PLOT = "compare_grad_norm.png"
RECOMMEND_FOLDER = "recommend"  # `compare --recommended`: recommend's trials
# -- recommend's pictures of its trials, beside the trials' subfolders ------------------------------------------
TRIALS_LOSS_PLOT = "trials_loss.png"
TRIALS_GRAD_NORM_PLOT = "trials_grad_norm.png"

TRACE_FILES = (TRACE_FILE, GRAD_NORMS_FILE, WEIGHT_NORMS_FILE)
FILES = (*TRACE_FILES, RUN_FILE, DIAGNOSIS_FILE, RESOLVED_CONFIG_FILE, LOSS_PLOT, HEATMAP_PLOT,
         COMPARISON_FILE, COMPARE_LOSS_PLOT, COMPARE_GRAD_NORM_PLOT, TRIALS_LOSS_PLOT, TRIALS_GRAD_NORM_PLOT)

# Every folder gradscope prepares holds this (empty) file: a subfolder holding it is one of gradscope's runs or
# comparisons, whatever its name (compare's "baseline", "adaptive", "try-1-...", recommend's trials). Folders
# written before the marker existed are not recognised: they stay.
MARKER_FILE = ".gradscope-run"
_TEMPORARY = re.compile(r"\.(" + "|".join(re.escape(f) for f in FILES) + r")\.\d+\.tmp")


def is_run_folder(path: Path) -> bool:
    """Whether `path` is a recorded run folder (it holds trace.csv)."""
    return path.is_dir() and (path / TRACE_FILE).is_file()


# -- before a run -----------------------------------------------------------------------------------------
def prepare_run_folder(run_dir: Path, *, streaming: Trace | None = None, keep: Iterable[Path | None] = ()) -> Path:
    """Create `run_dir`, or clear what an earlier run of gradscope left there; returns it.

    Removed: the files named above, a temporary file a killed write left, and the subfolders of earlier
    comparisons and trials. A subfolder counts as gradscope's when its name is one gradscope gives its runs and
    it holds gradscope's files; in it, too, only those files go, and it is removed only once empty. Kept: the
    trace CSVs of `streaming` when that trace streams into `run_dir` now, and the files in `keep` (the config
    being run may be an earlier run's resolved_config.toml).
    """
    run_dir = Path(run_dir)
    if not is_writer():
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    kept = {Path(p).resolve() for p in keep if p is not None}
    if streaming is not None and _same_folder(streaming.streaming_to, run_dir):
        kept |= {(run_dir / name).resolve() for name in TRACE_FILES}
    _remove_files(run_dir, kept)
    for sub in _made_subfolders(run_dir):
        _remove_made(sub, kept)
    (run_dir / MARKER_FILE).touch()
    return run_dir


def _remove_files(folder: Path, kept: set[Path]) -> None:
    for name in FILES:
        path = folder / name
        if path.is_file() and path.resolve() not in kept:
            path.unlink()
    for leftover in folder.glob(".*.tmp"):
        if _TEMPORARY.fullmatch(leftover.name):
            leftover.unlink(missing_ok=True)


def _made_subfolders(folder: Path) -> Iterator[Path]:
    """The subfolders of `folder` that gradscope made (they hold its marker file)."""
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.is_symlink() and (sub / MARKER_FILE).is_file():
            yield sub


def _remove_made(folder: Path, kept: set[Path]) -> None:
    """Remove gradscope's files from `folder` and its made subfolders, then the folders left empty."""
    _remove_files(folder, kept)
    for sub in _made_subfolders(folder):
        _remove_made(sub, kept)
    (folder / MARKER_FILE).unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


# -- during and after a run -------------------------------------------------------------------------------
def write_resolved_config(run_dir: Path, config: Config) -> None:
    """The config after overrides and defaults, with absolute paths: rerunnable from anywhere."""
    import tomlkit

    header = f"# gradscope: resolved from {config.source}\n"
    write_text_atomic(Path(run_dir) / RESOLVED_CONFIG_FILE, header + tomlkit.dumps(config.to_toml_dict()))


def finish_run_folder(run_dir: Path, trace: Trace, diagnosis: Diagnosis, *,
                      plots: Callable[[Path, Trace, Diagnosis], None] | None = None) -> Diagnosis:
    """Write what completes a run folder, whatever ended the run; returns the diagnosis as written.

    The trace CSVs are closed (a trace streaming into `run_dir`) or written whole; then `run.json` and
    `diagnosis.json` (naming `run_dir`), each atomically; then the plots, drawn by `plots` (the caller's renderer:
    `gradscope.record.plots.write_run_plots`; this module knows none) when the trace has rows. The diagnosis given
    is not changed: when its `run_dir` differs, a copy naming `run_dir` is written and returned.
    """
    run_dir = Path(run_dir)
    if diagnosis.run_dir != str(run_dir):
        diagnosis = dataclasses.replace(diagnosis, run_dir=str(run_dir))
    if not is_writer():
        return diagnosis
    run_dir.mkdir(parents=True, exist_ok=True)
    unwritten: OSError | None = None  # a trace CSV that could not be completed (a full disk): raised at the end
    if _same_folder(trace.streaming_to, run_dir):
        try:
            trace.close()
        except OSError as exc:  # the rows already on disk stay readable; the JSON documents may still fit
            unwritten = exc
    else:
        trace.write_csvs(run_dir)
    write_json_atomic(run_dir / RUN_FILE, trace.info.to_dict(), strict=False)
    write_json_atomic(run_dir / DIAGNOSIS_FILE, diagnosis.to_dict())
    if unwritten is not None:
        raise unwritten
    if plots is not None and len(trace):
        plots(run_dir, trace, diagnosis)
    return diagnosis


def _same_folder(a: Path | None, b: Path) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


# -- atomic writes ----------------------------------------------------------------------------------------
def write_json_atomic(path: Path, document: Any, *, strict: bool = True) -> None:
    """`document` as indented JSON in `path`, all or nothing: a reader sees the old file or the whole new one.

    `strict` writes NaN/Inf as null plus a `<key>_text` sibling (gradscope.strict_json); otherwise as JSON's NaN
    tokens (run.json, which Python reads back as is). A value that cannot be serialised fails the write
    midway and leaves `path` as it was.
    """
    if strict:
        document = make_strict(document)
    encoder = json.JSONEncoder(indent=2, allow_nan=not strict)
    _write_atomic(Path(path), itertools.chain(encoder.iterencode(document), ["\n"]))


def write_text_atomic(path: Path, text: str) -> None:
    """`text` in `path`, all or nothing (see `write_json_atomic`)."""
    _write_atomic(Path(path), [text])


def _write_atomic(path: Path, pieces: Iterable[str]) -> None:
    """Write `pieces` (strings, possibly produced lazily) to a temporary file beside `path`, then rename it over
    `path` (atomic on POSIX and Windows); on any failure the temporary file is removed and `path` untouched."""
    if not is_writer():
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
