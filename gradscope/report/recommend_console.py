"""Render a recommendation: the threshold, why, the trials, the notes and the snippets (stderr)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from gradscope.numbers import WORD, number_text
from gradscope.report.console import stderr_console

if TYPE_CHECKING:
    from gradscope.trials.recommend import Recommendation, TrialResult


def print_recommendation(rec: Recommendation, console: Console | None = None) -> None:
    from gradscope.trials.recommend import OWN_CLIP_COSTS

    console = console or stderr_console()
    ev = rec.evidence
    head = Text("gradscope recommend  ", style="bold")
    if rec.clipping_helps:
        head.append(f"clip-{rec.mode} {rec.threshold:.3g}", style="bold green")
    elif rec.fix is not None:
        head.append(f"fix: {rec.fix.note}", style="bold green")
        head.append("  (clipping is not the fix)", style="yellow")
    elif any(note.startswith(OWN_CLIP_COSTS) for note in rec.notes):
        head.append("raise or drop your script's own clip: see the notes", style="bold green")
    elif not ev.probe_symptoms:  # nothing wrong to fix: the notes say why no clip is needed
        head.append("no clip needed: the run is healthy without one (see the notes)", style="bold green")
    else:
        head.append("clipping is not the fix, and no other fix was found: see the notes", style="bold yellow")
    console.print(head)
    stats = ev.statistics
    pct = stats.percentiles
    console.print(Text(
        f"{stats.quantity} over the {stats.stable_steps} stable steps: p10 {pct.p10:.3g}, "
        f"p50 {pct.p50:.3g}, p90 {pct.p90:.3g}, p99 {pct.p99:.3g}; ZClip bound {stats.zclip_bound:.3g}"))
    console.print(Text(f"predicted to clip on {ev.predicted_clipped_fraction:.0%} of stable steps; "
                       f"clipped on {ev.observed_clipped_fraction:.0%} of the top clip trial's steps"))
    table = Table(show_edge=False, header_style="bold", pad_edge=False, title="trials (same seed and data order)")
    for col in ("threshold", "steps", "late loss", "first non-finite", "clipped", "result"):
        table.add_column(col)
    winner = ev.winner.threshold  # the top clip trial: the winner only where clipping is the fix
    for row in ev.trials:
        t = row.threshold
        result = (("winner" if rec.clipping_helps else "top clip" if t is not None else "top, no clip")
                  if t == winner else
                  f"out at {row.eliminated_at_step}" if row.eliminated_at_step is not None else "finalist")
        table.add_row(row.name, str(row.steps),
                      number_text(row.late_loss, nonfinite=WORD), _first_nonfinite(row),
                      f"{row.clipped_fraction:.0%}", result,
                      style="bold" if t == winner else None)
    console.print(table)
    alternatives = ev.alternatives
    if alternatives:
        alt = Table(show_edge=False, header_style="bold", pad_edge=False, title="alternatives (same seed, no clip)")
        for col in ("--try", "steps", "late loss", "first non-finite", "result"):
            alt.add_column(col)
        fix = rec.fix.changes if rec.fix is not None else None
        for row in alternatives:
            result = ("the fix" if row.changes == fix else
                      f"out at {row.eliminated_at_step}" if row.eliminated_at_step is not None else "")
            alt.add_row(row.changes, str(row.steps), number_text(row.late_loss, nonfinite=WORD),
                        _first_nonfinite(row), result, style="bold" if row.changes == fix else None)
        console.print(alt)
    console.print(Text(f"why: {ev.why}"))
    for note in rec.notes:
        console.print(Text(f"note: {note}"), soft_wrap="gradscope " in note)  # a command in it: copied whole
    console.print()
    if not rec.clipping_helps and rec.fix is None:  # nothing to paste: the notes say what to change
        console.print(Text(f"cost: {rec.steps_run} optimizer steps (budget {rec.budget_steps}); trials in "
                           f"{rec.run_dir}", style="dim"))
        return
    if rec.fix is not None:
        console.print(Text(f"what to change (clipping is not the fix): {rec.fix.note}", style="bold"))
    for name, code in rec.snippets.items():
        console.print(Text("if you cannot afford trials (gradscope.Guard, online)" if name == "guard" else name,
                           style="bold"))
        console.print(Syntax(code.rstrip(), "python", theme="ansi_dark", background_color="default", word_wrap=True))
    console.print(Text(f"cost: {rec.steps_run} optimizer steps (budget {rec.budget_steps}); trials in {rec.run_dir}",
                       style="dim"))


def _first_nonfinite(row: TrialResult) -> str:
    return "-" if row.first_nonfinite_step is None else str(row.first_nonfinite_step)
