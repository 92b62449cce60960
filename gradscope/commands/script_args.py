"""`gradscope diagnose|compare|recommend [OPTIONS] -- COMMAND [ARGS...]`: everything after `--` is the user's command.

Click would read the first word after `--` as CONFIG and the rest as extra arguments; this command class takes
them off before Click parses, so `python train.py --steps 3` reaches the script whole (its `--steps` is the
script's, not gradscope's). The command function reads them back with `script_command(ctx)`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

_KEY = "gradscope.command"


class ScriptCommand(TyperCommand):
    """A Typer command whose arguments after `--` are a command to run attached (see the module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[_KEY] = args[at + 1:]
            args = args[:at]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- COMMAND [ARGS]...]"]


def script_command(ctx: Any) -> list[str] | None:
    """The command given after `--` (`ctx`: the command's `typer.Context`); None when there was no `--`."""
    return ctx.meta.get(_KEY)
