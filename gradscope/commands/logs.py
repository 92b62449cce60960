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


# The options of `diagnose` that shape a run gradscope makes, and why each cannot apply to a log (a run already
# done: nothing runs, nothing is written but the report and --junit).
NOT_FOR_LOGS = {
    "--steps": "it sets how many steps to run",
    "--seed": "it seeds a run gradscope makes",
    "--set": "it changes a config",
    "--sample": "it runs a bundled sample",
    "--out": "it names the folder for a run's artifacts, and reading a log writes none",
    "--plots": "it asks for a run folder's plots, and reading a log writes none",
}


def refuse_run_options(path: Path, given: dict[str, object]) -> None:
    """Exit 2 (ConfigError) on the first option in `given` (name -> value, None when not given) that cannot apply
    to the log at `path`: silently ignoring it would let a user think it did something."""
    for name, value in given.items():
        if value is not None:
            shown = name if value is True else f"{name} {value[0] if isinstance(value, list) else value}"
            raise ConfigError(f"{shown}: {path} is a log of a run already done, so {name} cannot apply: "
                              f"{NOT_FOR_LOGS[name]} (fix: drop {name}, or pass a config to run)")


def diagnose_log_command(path: Path, mapping: list[str] | None, *, as_json: bool, fail_on: str,
                         junit: Path | None) -> None:
    """Read the log, report it, exit 0/1 by --fail-on (2 for an unreadable log, through `handled`)."""
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
