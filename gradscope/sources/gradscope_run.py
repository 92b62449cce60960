"""A gradscope run folder (from `diagnose`, `compare`, `Monitor.save` or a callback): the first source, and the
only one that holds every measure. Read by `run_reader` (a damaged folder included)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gradscope.sources.run_reader import read_run
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure
from gradscope.trace.run_folder import TRACE_FILE, is_run_folder

NAME = "gradscope run folder"


class GradscopeRunSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = {}

    def can_read(self, path: Path) -> bool:
        return is_run_folder(path) or (path.is_file() and path.name == TRACE_FILE)

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        folder = path.parent if path.is_file() else path
        files = read_run(folder)
        return Reading(files.trace, folder, NAME, {}, files.notes, {})
