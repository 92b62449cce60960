"""What the commands that run training share: the config they run, the folder they write, the progress bar,
and the streams: stdout for the report (or the one JSON document), stderr for everything else."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from gradscope.errors import ConfigError


def resolve_config(config: Path | None, sample: str | None, overrides: list[str] | None, steps: int | None) -> Any:
    """The validated Config from a path, a sample, or discovery; --steps is checked here too."""
    from gradscope.build.samples import sample_config
    from gradscope.config.load import load_config

    if steps is not None and steps <= 0:
        raise ConfigError(f"--steps must be a positive integer, got {steps} (fix: e.g. --steps 100)")
    if sample is not None and config is not None:
        raise ConfigError("give either CONFIG or --sample, not both")
    path = sample_config(sample) if sample is not None else config
    return load_config(path, overrides or [])


def default_run_dir(name: str, out: Path | None) -> Path:
    """`--out` as given, or gradscope-runs/<time>-<config name> (never an existing folder)."""
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: is a file, not a folder (fix: pass a folder for the run's artifacts, "
                              "or drop --out to get a new one under gradscope-runs/)")
        return out
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("gradscope-runs") / f"{stamp}-{name}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While training runs, what the user's code prints goes to stderr: stdout carries only the report, or the
    JSON document (`gradscope diagnose X > report.txt` keeps the report and nothing else)."""
    if not active:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


@contextlib.contextmanager
def report_output() -> Iterator[None]:
    """Printing the report: a reader that went away (`| head -1`) is not an error. The rest of the report is
    dropped, no traceback, and the command ends with the exit code its findings give."""
    try:
        yield
    except BrokenPipeError:
        silence_closed_output()


def silence_closed_output() -> None:
    """Point stdout (and stderr, when it is the same pipe, as under `2>&1 | head`) at os.devnull, so that later
    writes and Python's own flush at exit go nowhere instead of raising again."""
    try:
        same = os.path.sameopenfile(sys.stdout.fileno(), sys.stderr.fileno())
        streams = (sys.stdout, sys.stderr) if same else (sys.stdout,)
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in streams:
            os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file descriptor (a test runner's capture): nothing to protect
        pass


@contextlib.contextmanager
def progress_bar(enabled: bool, description: str) -> Iterator[Any]:
    """A rich progress bar on stderr, or a no-op callback when stderr is not a terminal or JSON is asked."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from gradscope.report.console import stderr_console

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[status]}"), console=stderr_console(), transient=True) as bar:
        task = bar.add_task(description, total=None, status="")

        def update(done: int, total: int, stats: Any = None) -> None:
            status = "" if stats is None else f"loss {stats.loss:.4g}  grad {stats.grad_norm:.3g}"
            bar.update(task, completed=done, total=total, status=status)

        yield update
