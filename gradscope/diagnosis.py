"""Run every detector over a trace and derive the verdict: the library's answer to "what went wrong?"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradscope.symptoms import (
    Symptom,
    detect_exploding_gradient,
    detect_gradient_spike,
    detect_loss_divergence,
    detect_loss_plateau,
    detect_loss_spike,
    detect_nonfinite,
    detect_vanishing_gradient,
    detect_weight_growth,
)
from gradscope.trace import Trace

VERDICTS = ("healthy", "warning", "critical")


@dataclass
class Diagnosis:
    """The findings of one run: `verdict` is the highest severity found (info counts as healthy)."""

    verdict: str
    steps_completed: int
    symptoms: list[Symptom]
    summary: dict[str, Any]
    run_dir: str | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def severity_rank(self) -> int:
        return VERDICTS.index(self.verdict)

    def kinds(self) -> list[str]:
        return [s.kind.value for s in self.symptoms]

    def to_dict(self) -> dict[str, Any]:
        """The contract's `diagnose --json` document (floats still raw: export makes NaN/Inf strict)."""
        return {"verdict": self.verdict, "steps_completed": self.steps_completed,
                "symptoms": [s.to_dict() for s in self.symptoms], "summary": dict(self.summary),
                "run_dir": self.run_dir, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        known = {"verdict", "steps_completed", "symptoms", "summary", "run_dir"}
        return cls(data["verdict"], int(data["steps_completed"]),
                   [Symptom.from_dict(s) for s in data.get("symptoms", [])], dict(data.get("summary", {})),
                   data.get("run_dir"), extra={k: v for k, v in data.items() if k not in known})


def diagnose_trace(trace: Trace, *, label: str = "") -> Diagnosis:
    """All symptoms found in `trace`, most severe first, with the verdict and a numeric summary."""
    summary = summarize(trace)
    trace = without_amp_skips(trace)
    symptoms: list[Symptom] = []
    symptoms += detect_nonfinite(trace)
    exploding = detect_exploding_gradient(trace)
    symptoms += exploding
    skip: set[int] = set()
    if exploding:  # spikes inside an exponential climb are the climb, not separate events
        ev = exploding[0].evidence
        skip = set(range(ev["onset_step"], ev["last_growth_step"] + 2))
    symptoms += detect_gradient_spike(trace, skip=skip)
    symptoms += detect_loss_spike(trace, skip=skip)
    symptoms += detect_loss_divergence(trace)
    symptoms += detect_loss_plateau(trace)
    symptoms += detect_weight_growth(trace)
    # Once the gradients explode, early layers often die (ReLUs stuck at zero): only the steps before the
    # explosion can say whether gradients vanish with depth.
    symptoms += detect_vanishing_gradient(trace, before_step=exploding[0].evidence["onset_step"] if exploding
                                          else None)
    symptoms.sort(key=lambda s: (-s.severity.rank, s.step))
    worst = max((s.severity.rank for s in symptoms), default=0)
    verdict = VERDICTS[max(worst, 0)] if worst > 0 else "healthy"
    return Diagnosis(verdict, len(trace), symptoms, summary, label=label or trace.info.label)


def without_amp_skips(trace: Trace) -> Trace:
    """`trace` with the steps an AMP GradScaler skipped (inf/NaN scaled gradients, normal while the scale
    settles) carrying the previous step's gradient norms, so the detectors judge the gradients that were used."""
    skipped = trace.column("amp_skipped").astype(bool)
    if not skipped.any():
        return trace
    columns = {name: trace.column(name).copy() for name in ("step", "loss", "grad_norm", "grad_max_abs",
                                                            "weight_norm", "clipped", "nonfinite_grads",
                                                            "amp_skipped", "lr", "seconds")}
    steps, grads = trace.grad_norms.series()
    _, weights = trace.weight_norms.series()
    row_of = {int(s): i for i, s in enumerate(steps)}
    for i in np.flatnonzero(skipped):
        if i > 0:
            for name in ("grad_norm", "grad_max_abs"):
                columns[name][i] = columns[name][i - 1]
            j, k = row_of.get(int(trace.steps[i])), row_of.get(int(trace.steps[i - 1]))
            if j is not None and k is not None:
                grads[j] = grads[k]
    return Trace.from_columns(trace.info, columns, grads, weights, param_steps=steps)


def summarize(trace: Trace) -> dict[str, Any]:
    """Headline numbers of a run: losses, gradient norms (AMP-skipped steps left out), clipping, the end."""
    loss, norms = trace.loss, trace.grad_norm
    norms = norms[trace.column("amp_skipped") == 0]
    finite_loss = loss[np.isfinite(loss)]
    finite_norms = norms[np.isfinite(norms)]
    bad = np.flatnonzero(~np.isfinite(loss) | (trace.column("nonfinite_grads") > 0)
                         | ~np.isfinite(trace.weight_norm))
    first_bad = int(trace.steps[bad[0]]) if len(bad) else None
    events = [e.step for e in trace.info.events if e.kind.startswith("nonfinite")]
    if events:
        first_bad = min([*events, *([first_bad] if first_bad is not None else [])])
    info = trace.info
    n = len(trace)
    return {
        "final_loss": float(loss[-1]) if n else math.nan,
        "best_loss": float(finite_loss.min()) if len(finite_loss) else math.nan,
        "initial_loss": float(loss[0]) if n else math.nan,
        "max_grad_norm": float(np.nanmax(norms)) if n and not np.isnan(norms).all() else math.nan,
        "median_grad_norm": float(np.median(finite_norms)) if len(finite_norms) else math.nan,
        "first_nonfinite_step": first_bad,
        "clipped_fraction": float(trace.column("clipped").mean()) if n else 0.0,
        "amp_skipped_steps": int(trace.column("amp_skipped").sum()),
        "clip": None if info.clip_mode is None else {"mode": info.clip_mode, "threshold": info.clip_threshold},
        "steps_requested": info.steps_requested,
        "stopped": info.stopped,
        "seconds": float(trace.column("seconds")[-1]) if n else 0.0,
    }
