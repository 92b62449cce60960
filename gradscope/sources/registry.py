"""The one list of sources, probed in order: the first whose `can_read` accepts a path reads it.

To add a format: write `gradscope/sources/<format>.py` with a class that has `name`, `cannot_hold`, `can_read`
and `read` (see `gradscope.sources.source.Source`), and add one line to `SOURCES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gradscope.errors import GradscopeError
from gradscope.sources.csv_log import CsvSource
from gradscope.sources.gradscope_run import GradscopeRunSource
from gradscope.sources.jsonl_log import JsonlSource
from gradscope.sources.lightning_csv import LightningCsvSource
from gradscope.sources.source import Reading, Source
from gradscope.sources.tensorboard import TensorBoardSource
from gradscope.sources.trainer_state import TrainerStateSource

SOURCES: tuple[Source, ...] = (
    GradscopeRunSource(),
    TrainerStateSource(),
    LightningCsvSource(),  # before TensorBoard and CSV: a lightning_logs folder may hold both
    TensorBoardSource(),
    CsvSource(),
    JsonlSource(),
)
KNOWN = ("a gradscope run folder, a trainer_state.json (or a Trainer output/checkpoint folder), a TensorBoard "
         "event file or folder, a Lightning CSVLogger folder, a .csv, .tsv or .jsonl of per-step metrics")


def find_source(path: Path) -> Source | None:
    """The first source that can read `path`, or None."""
    path = Path(path)
    return next((source for source in SOURCES if source.can_read(path)), None)


def is_log(path: Path) -> bool:
    """Whether `path` is something a source reads (a run already done), not a config to run."""
    return find_source(Path(path)) is not None


def read_log(path: Path, mapping: Mapping[str, str] | None = None) -> Reading:
    """The run in `path`, read by the first source that can; one line naming the file and the problem
    (`GradscopeError`) when none can or the one that can finds it unreadable."""
    path = Path(path)
    if not path.exists():
        raise GradscopeError(f"{path}: no such file or folder")
    source = find_source(path)
    if source is None:
        what = "folder" if path.is_dir() else "file"
        raise GradscopeError(f"{path}: not a log gradscope reads (this {what} is none of: {KNOWN})")
    return source.read(path, dict(mapping or {}))
