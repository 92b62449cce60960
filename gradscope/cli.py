"""The `gradscope` command line: the Typer app, with the plain command functions of `gradscope.commands`.

Only typer and the standard library are imported at module level, so `gradscope --help` starts without torch,
pandas or matplotlib; each command imports what it needs. The commands import their shared options and exit
codes from `gradscope.commands`, never this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gradscope import __version__
from gradscope.commands.compare import compare
from gradscope.commands.diagnose import diagnose
from gradscope.commands.exits import EXIT_BUG, EXIT_INTERRUPTED, EXIT_SYMPTOMS, EXIT_USAGE, EXIT_USER_CODE
from gradscope.commands.recommend import recommend
from gradscope.commands.samples import samples
from gradscope.commands.script_args import ScriptCommand

EPILOG = (f"Exit codes: 0 ran, nothing at or above --fail-on; {EXIT_SYMPTOMS} findings at or above --fail-on "
          f"(diagnose) or a clipped run still has one (compare); {EXIT_USAGE} bad input; {EXIT_USER_CODE} your "
          f"model, data or loss code raised; {EXIT_BUG} gradscope itself failed (a bug: please report it); "
          f"{EXIT_INTERRUPTED} interrupted (Ctrl-C), what was recorded is kept.")

app = typer.Typer(
    name="gradscope",
    help="Find out why a PyTorch training run blows up, and fix it with the right gradient clipping.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals would be models and tensors
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Find out why a PyTorch training run blows up, and fix it with the right gradient clipping."""


for _command in (diagnose, recommend, compare):  # each also runs a command given after `--`, attached
    app.command(cls=ScriptCommand)(_command)
app.command()(samples)


def main() -> None:
    """Console-script entry point."""
    app()
