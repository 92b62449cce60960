"""The `gradscope` command line: parse options, call the library, render, map the outcome to an exit code.

Only typer and the standard library are imported at module level, so `gradscope --help` starts without torch,
pandas or matplotlib; each command imports what it needs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gradscope import __version__
from gradscope.errors import ConfigError, GradscopeError, UserCodeError
from gradscope.severity import FAIL_ON, fails  # noqa: F401 (fails: the commands import it from here)

EXIT_OK = 0
EXIT_SYMPTOMS = 1  # findings at or above --fail-on (diagnose), or the check asked for did not hold (compare)
EXIT_USAGE = 2  # bad input: nothing ran, or it could not start
EXIT_USER_CODE = 3  # the user's model, data or loss code raised
EXIT_INTERRUPTED = 130  # Ctrl-C: what was recorded is kept and diagnosed

app = typer.Typer(
    name="gradscope",
    help="Find out why a PyTorch training run blows up, and fix it with the right gradient clipping.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals would be models and tensors
    rich_markup_mode=None,
)

ConfigArg = Annotated[Path | None, typer.Argument(
    metavar="CONFIG", help="TOML config. Default: ./gradscope.toml, then [tool.gradscope] in ./pyproject.toml.",
    show_default=False)]
StepsOpt = Annotated[int | None, typer.Option(
    "--steps", metavar="N", help="Optimizer steps to run (overrides [run] steps).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", metavar="DIR", help="Folder for the run's artifacts (default: a new folder under gradscope-runs/).")]
FailOnOpt = Annotated[str, typer.Option(
    "--fail-on", metavar="LEVEL",
    help="Exit 1 when a symptom at or above this severity is found: never, warning, critical.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE",
    help="Override a config key, e.g. --set run.steps=50 --set optimizer.lr=0.01 (TOML values).")]
SampleOpt = Annotated[str | None, typer.Option(
    "--sample", metavar="NAME", help="Run a bundled sample (see gradscope samples).")]
PlotsOpt = Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots into the run folder.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.", hidden=True)]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Find out why a PyTorch training run blows up, and fix it with the right gradient clipping."""


@contextlib.contextmanager
def handled(debug: bool = False) -> Iterator[None]:
    """Bad input -> one line, exit 2; the user's code raised -> their frames, exit 3; Ctrl-C -> exit 130."""
    try:
        yield
    except GradscopeError as exc:
        if debug:
            raise
        typer.echo(f"Error: {exc}", err=True)  # plain echo: "[run]" must not be read as rich markup
        raise typer.Exit(EXIT_USAGE) from None
    except UserCodeError as exc:
        if debug:
            raise
        typer.echo(exc.render(), err=True)
        raise typer.Exit(EXIT_USER_CODE) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextlib.contextmanager
def stdout_to_stderr(active: bool) -> Iterator[None]:
    """In --json mode, anything the user's code prints goes to stderr: stdout carries only the JSON."""
    if not active:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def check_fail_on(value: str) -> str:
    if value not in FAIL_ON:
        from gradscope.errors import did_you_mean

        raise ConfigError(f"--fail-on {value!r} is not a level{did_you_mean(value, FAIL_ON)} "
                          f"(fix: one of {', '.join(FAIL_ON)})")
    return value


def resolve_config(config: Path | None, sample: str | None, overrides: list[str] | None, steps: int | None) -> Any:
    """The validated Config from a path, a sample, or discovery; --steps is checked here too."""
    from gradscope.config import load_config
    from gradscope.samples import sample_config

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


@app.command()
def samples(as_json: JsonOpt = False) -> None:
    """List the bundled sample models and the verdict each is expected to get."""
    with handled():
        from gradscope.samples import list_samples

        found = list_samples()
        if as_json:
            import json

            typer.echo(json.dumps([{"name": s.name, "expected_verdict": s.expected_verdict,
                                    "summary": s.summary, "config": str(s.config)} for s in found], indent=2))
            return
        width = max(len(s.name) for s in found)
        for s in found:
            typer.echo(f"{s.name:<{width}}  {s.expected_verdict:<8}  {s.summary}")
        typer.echo("\nrun one: gradscope diagnose --sample NAME")


# The commands live one per module and register themselves on `app` (imported last: they import this module).
from gradscope.commands import compare, diagnose, recommend  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    app()
