"""The human report of `gradscope compare` (on stdout): the runs side by side, then the conclusion."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gradscope.numbers import number_text
from gradscope.report.console import STYLE, print_guard_decisions, stderr_console

if TYPE_CHECKING:
    from gradscope.trials.compare import ComparedRun, Comparison

OUTCOME_STYLE = {"fixed": "bold green", "healthy": "green", "helped": "yellow", "no_help": "bold red",
                 "worse": "bold red"}
OUTCOME_TEXT = {"fixed": "fixed", "healthy": "healthy", "helped": "helped", "no_help": "did not help",
                "worse": "worse"}


def _symptoms(run: ComparedRun) -> str:
    kinds = [s.kind.value for s in run.diagnosis.symptoms if s.severity.rank > 0]
    return ", ".join(dict.fromkeys(kinds)) or "-"


def _rows(run: ComparedRun) -> list[Text | str]:
    s = run.summary
    verdict = Text(run.verdict, style=STYLE[run.verdict])
    outcome = (Text(OUTCOME_TEXT[run.outcome], style=OUTCOME_STYLE[run.outcome]) if run.outcome
               else Text("(reference)", style="dim"))
    first = run.first_nonfinite_step
    steps = f"{len(run.trace)}" + (f" of {s.steps_requested}" if s.steps_requested else "") + (
        " (script failed)" if run.error else "")
    clipped = f"{s.clipped_fraction:.0%}" if run.clip is not None or s.clip else "-"  # s.clip: the script's own
    return [verdict, outcome, _symptoms(run), "-" if first is None else str(first), steps,
            number_text(s.final_loss), number_text(s.best_loss), number_text(s.max_grad_norm),
            number_text(s.median_grad_norm), clipped, _seconds(s.seconds)]


def _seconds(value: object) -> str:
    """A run's wall time; "-" for a log, which does not say it."""
    return f"{value:.2f}s" if isinstance(value, int | float) and math.isfinite(value) else "-"


ROW_NAMES = ("verdict", "vs baseline", "symptoms", "first NaN/Inf step", "steps run", "final loss",
             "best loss", "max grad norm", "median grad norm", "steps clipped", "wall time")


def print_comparison(comparison: Comparison, console: Console | None = None) -> None:
    """The runs as columns (baseline first), one row per measure, then the findings and the artifacts; a command
    that trains several runs (a GAN's netD and netG) has one such table per run, each named."""
    console = console or stderr_console()
    header = Text("gradscope compare", style="bold")
    if comparison.recorded:
        header.append("  recorded runs", style="dim")
    console.print(header)
    for each in comparison.all:
        if each.optimizer_run:
            if each is not comparison:
                console.print()
            console.print(Text(f"{each.optimizer_run} (its optimizer's runs)", style="bold"))
        _print_runs(each, console)
    if comparison.recommendation and not comparison.recommendation.get("clipping_helps", True):
        for note in comparison.recommendation.get("notes") or []:
            console.print(Text(f"note: {note}", style="dim"))
    console.print(Text(f"artifacts: {comparison.run_dir}", style="dim"))


def _print_runs(comparison: Comparison, console: Console) -> None:
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("")
    for run in comparison.runs:
        table.add_column(run.label, overflow="fold")
    columns = [_rows(run) for run in comparison.runs]
    for i, name in enumerate(ROW_NAMES):
        table.add_row(Text(name, style="dim"), *(column[i] for column in columns))
    console.print(table)
    console.print()
    for outcome, sentence in comparison.findings:
        console.print(Text(sentence, style=OUTCOME_STYLE.get(outcome or "", "bold")))
    own = comparison.baseline.summary.clip
    if own and comparison.baseline.clip is None and any(r.clip is not None for r in comparison.compared):
        console.print(Text(f"note: the baseline clips by itself ({own['mode']} at {number_text(own['threshold'])}, on "
                           f"{comparison.baseline.summary.clipped_fraction:.0%} of its steps); the clipped runs "
                           "replace its clip with theirs", style="dim"))
    for run in comparison.runs:
        print_guard_decisions(run.trace.info.guard_events, run.label, run.run_dir, console)
