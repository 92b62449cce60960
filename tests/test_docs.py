"""Every command the CLI registers is documented in the README and answers --help."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gradscope.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
COMMANDS = sorted(typer.main.get_command(app).commands)  # as registered on the Typer app


def test_the_cli_has_its_commands():
    assert {"diagnose", "recommend", "compare", "samples"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_documented_in_the_readme(name):
    assert f"### `gradscope {name}`" in README


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: gradscope {name}" in result.output
    command = typer.main.get_command(app).commands[name]
    assert command.help and command.help.split("\n")[0] in " ".join(result.output.split())
