"""The human report: verdict, a symptom table, what each symptom means and what to try next.

The commands print it on stdout (`gradscope diagnose X > report.txt` keeps it); a callback inside the user's own
training script prints it on stderr, beside the script's own messages.
"""

from __future__ import annotations

import errno
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gradscope.numbers import number_text
from gradscope.trace.trace import StopReason

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from gradscope.diagnose.diagnosis import Diagnosis

STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan", "healthy": "bold green"}
STOPPED_NOTE = {  # after "N of M steps", by the summary's `stopped`
    StopReason.COMPLETED: "",
    StopReason.NONFINITE_WEIGHTS: " (stopped: weights are non-finite)",
    StopReason.INTERRUPTED: " (interrupted: diagnosis of the steps recorded)",
    StopReason.ERROR: " (stopped: your code raised)",
    StopReason.STOP_ON: " (stopped by stop_on at a symptom)",
}


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich exits 1 when the reader went away (`| head -1`), and 1 means findings: raise instead, and the
        command (`commands.common.report_output`) ends with the exit code its findings give."""
        raise BrokenPipeError(errno.EPIPE, "the reader of the report went away")


def stderr_console() -> Console:
    """Rich on stderr: progress, and a callback's report; 120 wide when not a terminal (see `_width`)."""
    return _Console(stderr=True, highlight=False, width=_width(sys.stderr))


def report_console() -> Console:
    """Rich on stdout, where a command's report goes; 120 wide when not a terminal (see `_width`)."""
    return _Console(highlight=False, width=_width(sys.stdout))


def _width(stream: TextIO) -> int | None:
    """A terminal's own width; elsewhere (a file, a pipe, CI logs) 120 instead of rich's 80, so commands and
    paths in the report are not split."""
    return None if stream.isatty() else 120


def print_diagnosis(diagnosis: Diagnosis, console: Console | None = None, *, command_hint: str = "",
                    warmup_compare: Callable[[int], str | None] | None = None) -> None:
    """Render a diagnosis: verdict, table, explanations with next steps, summary numbers, artifacts.
    `warmup_compare(steps)`: the command that runs this run beside itself with a warm-up over its first `steps`
    (a config's `--try`, an attached script's `--warmup`), said under advice that names one; None where the run
    cannot be rerun from here (a log, a callback)."""
    console = console or stderr_console()
    s = diagnosis.summary
    header = Text("gradscope diagnose", style="bold")
    if diagnosis.label:
        header.append(f"  {diagnosis.label}", style="dim")
    console.print(header)
    log = diagnosis.extra.get("log")
    if log:
        ran = (f"{log['rows']} {'recorded' if log['format'] == 'gradscope run folder' else 'logged'} steps "
               f"({log['first_step']}..{log['last_step']}"
               + (f", every {log['every']}" if log.get("every") and log["every"] > 1 else "")
               + f") from {log['format']}: {log['path']}")
    else:
        ran = f"{diagnosis.steps_completed}" + (f" of {s.steps_requested}" if s.steps_requested else "") + " steps"
        ran += STOPPED_NOTE[StopReason(s.stopped or StopReason.COMPLETED)]
    verdict = Text("verdict: ")
    verdict.append(diagnosis.verdict.upper(), style=STYLE[diagnosis.verdict])
    verdict.append(f"  {ran}")
    console.print(verdict)
    if diagnosis.symptoms:
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for col in ("severity", "symptom", "step", "where", "evidence"):
            table.add_column(col, overflow="fold")
        for sym in diagnosis.symptoms:
            where = sym.module or sym.parameter or "-"
            if sym.module and sym.parameter:
                where = f"{sym.module} / {sym.parameter}"
            table.add_row(Text(sym.severity.value, style=STYLE[sym.severity.value]), sym.kind.value,
                          str(sym.step), where, sym.evidence_line)
        console.print(table)
        console.print()
        for sym in diagnosis.symptoms:
            line = Text(f"{sym.kind.value}: ", style=STYLE[sym.severity.value])
            line.append(sym.message)
            console.print(line)
            console.print(Text(f"  {sym.kind.explanation}", style="dim"))
            if sym.advice:
                console.print(Text(f"  try: {sym.advice}"))
            side = warmup_compare(sym.evidence["warmup_steps"]) if (
                warmup_compare and "warmup_steps" in sym.evidence) else None
            if side:
                console.print(Text(f"  side by side: {side}"), soft_wrap=True)  # a command: copied whole
    else:
        console.print(("No symptoms in what the log holds" + (
            ": see what it could not show below." if diagnosis.unchecked else ".")) if log else
                      "No symptoms: loss, gradients and weights stayed finite and well-behaved.")
    console.print()
    console.print(Text(
        f"loss {number_text(s.initial_loss)} -> {number_text(s.final_loss)} "
        f"(best {number_text(s.best_loss)}); "
        + (f"grad norm median {number_text(s.median_grad_norm)}, max {number_text(s.max_grad_norm)}"
           if not log or "grad_norm" in log.get("columns", {}) or math.isfinite(s.max_grad_norm)
           else "grad norm not logged")  # a run folder's log names no columns: its norms say it
        + (f"; clipped {s.clipped_fraction:.0%} of steps" if s.clip else "")
        + (f"; {s.amp_skipped_steps} AMP-skipped steps" if s.amp_skipped_steps else "")))
    print_guard_decisions((s.clip or {}).get("events") or [], "", diagnosis.run_dir, console)
    for unchecked in diagnosis.unchecked:
        console.print(Text(f"unchecked {unchecked.kind}: {unchecked.why}", style="dim"))
    if command_hint and diagnosis.verdict != "healthy" and _clip_may_help(diagnosis):
        console.print(Text(f"next: {command_hint}", style="bold"), soft_wrap=True)
    if diagnosis.run_dir:
        console.print(Text(f"artifacts: {diagnosis.run_dir}", style="dim"))


SHOWN_DECISIONS = 5  # a Guard's first decisions shown; run.json keeps every one


def print_guard_decisions(decisions: list[dict[str, Any]], label: str, run_dir: str | Path | None,
                          console: Console) -> None:
    """What a run's Guard did and why (a roll-back, a skip, a clip): the first few of its `decisions` (as
    `GuardEvent.to_dict` writes them: others, from a hand-edited file, are not shown)."""
    decisions = [d for d in decisions if isinstance(d, dict) and {"step", "threshold", "why", "action"} <= d.keys()]
    if not decisions:
        return
    times = "once" if len(decisions) == 1 else f"{len(decisions)} times"
    kept = f" (every decision: guard_events in {Path(run_dir) / 'run.json'})" if run_dir else ""
    console.print(Text(f"{label + ': ' if label else ''}the guard acted {times}{kept}", style="bold"))
    for event in decisions[:SHOWN_DECISIONS]:
        threshold = event["threshold"]
        at = number_text(threshold) if isinstance(threshold, int | float) else threshold
        line = Text(f"  step {event['step']} {event['action']}" + ("" if at is None else f" at {at}") + ": ")
        line.append(str(event["why"]), style="dim")
        console.print(line)
    if len(decisions) > SHOWN_DECISIONS:
        console.print(Text(f"  ... and {len(decisions) - SHOWN_DECISIONS} more", style="dim"))


def _clip_may_help(diagnosis: Diagnosis) -> bool:
    return any(s.kind.clipping_may_help for s in diagnosis.symptoms)
