"""`gradscope diagnose LOG`: a run already done, read from its log (no training); shared with `compare`."""

from __future__ import annotations

from pathlib import Path

import typer

from gradscope.commands.common import report_output
from gradscope.commands.exits import EXIT_OK, EXIT_SYMPTOMS, fails
from gradscope.errors import ConfigError

LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".tsv")


def is_log_path(path: Path) -> bool:
    """Whether PATH is read as a log rather than loaded as a config: a folder (but one holding a gradscope.toml
    and no log), or a file that is not .toml; a path that does not exist, when its name is a log's (the log reader
    then says it is missing)."""
    if not path.exists():
        return path.suffix.lower() in LOG_SUFFIXES or "tfevents" in path.name
    if path.is_dir() and (path / "gradscope.toml").is_file():
        from gradscope.sources.registry import is_log  # torch-free; only for a folder that holds a config

        return is_log(path)  # a project folder, not a log: the config error points at the file inside
    return path.is_dir() or path.suffix.lower() != ".toml"


def diagnose_log_command(path: Path, mapping: list[str] | None, *, as_json: bool, fail_on: str,
                         junit: Path | None, rerun_options: list[str]) -> None:
    """Read the log, report it, exit 0/1 by --fail-on (2 for an unreadable log, through `handled`)."""
    if rerun_options:
        raise ConfigError(f"{rerun_options[0]} applies to a config run; {path} is a log of a run already done "
                          "(fix: drop the option)")
    from gradscope.diagnose.logs import diagnose_log
    from gradscope.report.console import print_diagnosis, report_console
    from gradscope.sources.log_columns import parse_map
    from gradscope.strict_json import dumps

    diagnosis = diagnose_log(path, parse_map(mapping))
    for note in diagnosis.extra["log"]["notes"]:
        typer.echo(f"Note: {note}", err=True)
    if junit is not None:
        from gradscope.report.junit import JUnitCase, write_junit

        write_junit(junit, "diagnose", [JUnitCase(str(path), diagnosis)], fail_on)
    with report_output():
        if as_json:
            typer.echo(dumps(diagnosis.to_dict()))
        else:
            print_diagnosis(diagnosis, report_console())
    raise typer.Exit(EXIT_SYMPTOMS if fails(diagnosis.severity_rank, fail_on) else EXIT_OK)
