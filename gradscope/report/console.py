"""The human report on stderr: verdict, a symptom table, what each symptom means and what to try next."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from gradscope.diagnosis import Diagnosis
    from gradscope.symptoms import Symptom

STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan", "healthy": "bold green"}

EXPLAIN = {
    "nonfinite_loss": "The loss is NaN/Inf: every update from here on is garbage.",
    "nonfinite_gradient": "Gradients hold NaN/Inf: one optimizer step will spread them into the weights.",
    "nonfinite_weight": "Weights hold NaN/Inf: the model is destroyed and training cannot recover.",
    "exploding_gradient": "The gradient norm multiplies step after step: it will overflow unless the updates "
                          "are bounded.",
    "gradient_spike": "Single steps with gradients far above normal: each can throw the weights far off.",
    "loss_spike": "The loss jumps far above its recent level: the updates overshoot.",
    "loss_divergence": "The loss ends far above where it started or above its best: training is undoing itself.",
    "loss_plateau": "The loss does not move: the model is not learning.",
    "weight_growth": "The weights grow without bound: they are heading for overflow.",
    "vanishing_gradient": "Gradients shrink to nothing before they reach the early layers, which stop learning.",
}


def stderr_console() -> Console:
    """Rich on stderr; when that is not a terminal (CI logs) lines are 120 wide instead of 80, so commands
    and paths in the report are not split."""
    import sys

    width = None if sys.stderr.isatty() else 120
    return Console(stderr=True, highlight=False, width=width)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
        return f"{value:.4g}"
    return str(value)


def evidence_line(symptom: Symptom) -> str:
    """The few numbers that carry a symptom, in one short line."""
    ev = symptom.evidence
    kind = symptom.kind.value
    if kind == "exploding_gradient":
        return (f"x{ev['growth_per_step']:.2f}/step, doubling {ev['doubling_steps']:.1f} steps, "
                f"R^2 {ev['r2']:.2f}, {_num(ev['grad_norm_at_onset'])} -> {_num(ev['grad_norm_at_end'])}")
    if kind in ("gradient_spike", "loss_spike"):
        return f"{ev['count']} spike(s), first {ev['ratio']:.1f}x the recent median"
    if kind == "loss_divergence":
        return f"start {_num(ev['start_loss'])}, best {_num(ev['best_loss'])}, end {_num(ev['late_loss'])}"
    if kind == "loss_plateau":
        return f"start {_num(ev['start_loss'])}, end {_num(ev['late_loss'])} ({ev['improvement']:+.1%})"
    if kind == "weight_growth":
        return f"weight norm {_num(ev['baseline_weight_norm'])} -> {_num(ev['max_weight_norm'])}"
    if kind == "vanishing_gradient":
        if "early_to_late_ratio" in ev:
            return f"early/late layer grad norm {ev['early_to_late_ratio']:.2g}"
        return f"grad norm {_num(ev['early_grad_norm'])} -> {_num(ev['late_grad_norm'])}"
    if kind == "nonfinite_gradient":
        return f"{ev.get('parameters_affected', '?')} parameter(s) affected"
    if kind == "nonfinite_loss":
        return f"last finite loss {_num(ev.get('last_finite_loss'))}"
    return ""


def print_diagnosis(diagnosis: Diagnosis, console: Console | None = None, *, command_hint: str = "") -> None:
    """Render a diagnosis: verdict, table, explanations with next steps, summary numbers, artifacts."""
    console = console or stderr_console()
    s = diagnosis.summary
    header = Text("gradscope diagnose", style="bold")
    if diagnosis.label:
        header.append(f"  {diagnosis.label}", style="dim")
    console.print(header)
    stopped = s.get("stopped", "completed")
    ran = f"{diagnosis.steps_completed} of {s.get('steps_requested') or diagnosis.steps_completed} steps"
    if stopped == "nonfinite_weights":
        ran += " (stopped: weights are non-finite)"
    elif stopped == "interrupted":
        ran += " (interrupted: diagnosis of the steps recorded)"
    elif stopped == "error":
        ran += " (stopped: your code raised)"
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
                          str(sym.step), where, evidence_line(sym))
        console.print(table)
        console.print()
        for sym in diagnosis.symptoms:
            line = Text(f"{sym.kind.value}: ", style=STYLE[sym.severity.value])
            line.append(sym.message)
            console.print(line)
            console.print(Text(f"  {EXPLAIN.get(sym.kind.value, '')}", style="dim"))
            if sym.advice:
                console.print(Text(f"  try: {sym.advice}"))
    else:
        console.print("No symptoms: loss, gradients and weights stayed finite and well-behaved.")
    console.print()
    console.print(Text(
        f"loss {_num(s.get('initial_loss'))} -> {_num(s.get('final_loss'))} (best {_num(s.get('best_loss'))}); "
        f"grad norm median {_num(s.get('median_grad_norm'))}, max {_num(s.get('max_grad_norm'))}"
        + (f"; clipped {s['clipped_fraction']:.0%} of steps" if s.get("clip") else "")
        + (f"; {s['amp_skipped_steps']} AMP-skipped steps" if s.get("amp_skipped_steps") else "")))
    if command_hint and diagnosis.verdict != "healthy" and _clip_may_help(diagnosis):
        console.print(Text(f"next: {command_hint}", style="bold"))
    if diagnosis.run_dir:
        console.print(Text(f"artifacts: {diagnosis.run_dir}", style="dim"))


def _clip_may_help(diagnosis: Diagnosis) -> bool:
    kinds = set(diagnosis.kinds())
    return bool(kinds - {"vanishing_gradient", "loss_plateau"})
