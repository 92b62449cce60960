"""The options several commands share, declared once as `Annotated` types (as huggingface_hub's `hf` does).

A command names its parameters with these types; `gradscope.cli` registers the plain command functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
JUnitOpt = Annotated[Path | None, typer.Option(
    "--junit", metavar="FILE", help="Also write the findings as JUnit XML to FILE (for CI).", show_default=False)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE",
    help="Override a config key, e.g. --set run.steps=50 --set optimizer.lr=0.01 (TOML values).")]
SampleOpt = Annotated[str | None, typer.Option(
    "--sample", metavar="NAME", help="Run a bundled sample (see gradscope samples).")]
PlotsOpt = Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots into the run folder.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.", hidden=True)]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", metavar="KEY=COLUMN", show_default=False,
    help="For a log: the column (or TensorBoard tag, or JSON key) holding KEY (step, loss, grad_norm, lr) when it "
         "is not guessed, e.g. --map loss=train/total_loss. Repeatable.")]
SeedOpt = Annotated[int | None, typer.Option(
    "--seed", metavar="S", help="Seed Python, NumPy and torch before the command after -- starts (default 0; a "
    "script that seeds itself keeps its seed). With a CONFIG: [run] seed.", show_default=False)]

CONFIG_BUDGET = 2.0  # gradscope.trials.recommend.DEFAULT_BUDGET (not imported: --help stays torch-free)
SCRIPT_BUDGET = 4.0  # runs of a script: the unclipped run and three thresholds, each restarted from its start
MAX_BUDGET = 1000.0  # trials of a thousand runs' worth of steps: more is a typo, not a plan
BudgetOpt = Annotated[float | None, typer.Option(
    "--budget", metavar="B",
    help="recommend's total optimizer steps, in diagnose runs (default 2): more trials cost more and search finer. "
         "With a command after --: in runs of the command (default 4, at least 2; a trial that goes further is run "
         "again from its start).", show_default=False)]


def checked_budget(budget: float | None, script: bool) -> float:
    """`--budget`, or its default for a config (whose trials resume) or a script (whose trials restart)."""
    from gradscope.errors import ConfigError

    if budget is None:
        return SCRIPT_BUDGET if script else CONFIG_BUDGET
    if not 1.5 <= budget <= MAX_BUDGET:  # NaN fails too
        raise ConfigError(f"--budget must be at least 1.5 and at most {MAX_BUDGET:g} diagnose runs, got {budget:g} "
                          "(fix: e.g. --budget 2)")
    return budget
