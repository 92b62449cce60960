"""`gradscope samples`: list the bundled sample models and the verdict each is expected to get."""

from __future__ import annotations

import typer

from gradscope.commands.exits import handled
from gradscope.commands.options import JsonOpt


def samples(as_json: JsonOpt = False) -> None:
    """List the bundled sample models and the verdict each is expected to get."""
    with handled():
        from gradscope.build.samples import list_samples

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
