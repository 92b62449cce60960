"""Run every detector over a trace and derive the verdict: the library's answer to "what went wrong?"."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from gradscope.diagnose.symptoms.base import Symptom
from gradscope.diagnose.symptoms.catalogue import CATALOGUE, run_catalogue, symptom_from_dict
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.levels import VERDICTS, verdict_of
from gradscope.trace.measures import Measure
from gradscope.trace.trace import COLUMNS, StopReason, Trace, first_nonfinite_step


@dataclass(frozen=True)
class Summary:
    """Headline numbers of a run: the `summary` of `diagnose --json`, in its order (NaN where unknown)."""

    final_loss: float = math.nan
    best_loss: float = math.nan
    initial_loss: float = math.nan
    max_grad_norm: float = math.nan  # AMP-skipped steps left out
    median_grad_norm: float = math.nan
    first_nonfinite_step: int | None = None
    clipped_fraction: float = 0.0
    amp_skipped_steps: int = 0
    clip: dict[str, Any] | None = None  # {"mode", "threshold"} as recorded; "adaptive": the Guard's "events" too
    steps_requested: int | None = None
    stopped: str = StopReason.COMPLETED.value
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Summary | None = None) -> Summary:
        """A summary read back (diagnosis.json): NaN/Inf written as null plus `<key>_text` read as numbers again;
        the keys it lacks keep `base`'s values (default: unknown); keys it does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known:
                continue
            text = data.get(f"{key}_text")
            try:
                values[key] = float(text) if value is None and isinstance(text, str) else value
            except ValueError:  # a hand-edited diagnosis.json: the number stays unknown
                values[key] = value
        return replace(base or cls(), **values)


@dataclass(frozen=True)
class Unchecked:
    """A kind of finding the trace could not show: `why` names what it needs that the trace lacks."""

    kind: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "why": self.why}


@dataclass(frozen=True)
class Diagnosis:
    """The findings of one run: `verdict` is the highest severity found (info counts as healthy)."""

    verdict: str
    steps_completed: int
    symptoms: list[Symptom]  # most severe first
    summary: Summary
    run_dir: str | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    unchecked: tuple[Unchecked, ...] = ()  # kinds a log could not show (a gradscope run checks every kind)

    @property
    def severity_rank(self) -> int:
        return VERDICTS.index(self.verdict)

    def kinds(self) -> list[str]:
        return [s.kind.value for s in self.symptoms]

    def to_dict(self) -> dict[str, Any]:
        """The contract's `diagnose --json` document (floats still raw: export makes NaN/Inf strict)."""
        return {"verdict": self.verdict, "steps_completed": self.steps_completed,
                "symptoms": [s.to_dict() for s in self.symptoms], "summary": self.summary.to_dict(),
                "run_dir": self.run_dir, "unchecked": [u.to_dict() for u in self.unchecked], **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        known = {"verdict", "steps_completed", "symptoms", "summary", "run_dir", "unchecked"}
        return cls(data["verdict"], int(data["steps_completed"]),
                   [symptom_from_dict(s) for s in data.get("symptoms", [])], Summary.from_dict(data.get("summary", {})),
                   data.get("run_dir"), extra={k: v for k, v in data.items() if k not in known},
                   unchecked=tuple(Unchecked(u["kind"], u["why"]) for u in data.get("unchecked") or ()))


def diagnose_trace(trace: Trace, *, thresholds: Thresholds = DEFAULT, label: str = "",
                   run_dir: str | Path | None = None, lacks: Mapping[Measure, str] | None = None,
                   extra: dict[str, Any] | None = None) -> Diagnosis:
    """All symptoms found in `trace` by the catalogue's detectors, most severe first, with the verdict and a
    numeric summary; `run_dir` is the folder the run's artifacts are in, if any. `lacks` (a log's: measure ->
    why it is missing) makes the kinds that need one of them unchecked, unless they were found anyway."""
    summary = summarize(trace)
    symptoms = sorted(run_catalogue(without_amp_skips(trace), thresholds), key=lambda s: (-s.severity.rank, s.step))
    return Diagnosis(verdict_of(s.severity for s in symptoms), len(trace), symptoms, summary,
                     run_dir=None if run_dir is None else str(run_dir), label=label or trace.info.label,
                     extra=dict(extra or {}), unchecked=unchecked_kinds(lacks or {}, symptoms))


def unchecked_kinds(lacks: Mapping[Measure, str], found: list[Symptom]) -> tuple[Unchecked, ...]:
    """The catalogue's kinds that need a measure in `lacks` and were not found anyway, each with its reason."""
    shown = {s.kind.value for s in found}
    out = []
    for detector in CATALOGUE:
        for kind in detector.kinds:
            missing = [m for m in kind.needs if m in lacks]
            if missing and kind.value not in shown:
                out.append(Unchecked(kind.value, f"needs {missing[0].words}: {lacks[missing[0]]}"))
    return tuple(out)


def without_amp_skips(trace: Trace) -> Trace:
    """`trace` with the steps an AMP GradScaler skipped while its scale settled (inf scaled gradients: normal)
    carrying the gradient norms of the nearest step it did not skip (the one before; at the start of a run, the
    first after), so the detectors judge the gradients that were used. Skips that are findings (a non-finite
    loss, a persistent streak) keep their values."""
    settling = trace.column("amp_skipped").astype(bool) & (trace.column("nonfinite_grads") == 0)
    if not settling.any() or settling.all():
        return trace
    columns = {name: trace.column(name).copy() for name in COLUMNS}
    steps, grads = trace.grad_norms.series()
    _, weights = trace.weight_norms.series()
    row_of = {int(s): i for i, s in enumerate(steps)}
    used = np.flatnonzero(~settling)
    for i in np.flatnonzero(settling):
        before = used[used < i]
        source = int(before[-1]) if len(before) else int(used[0])
        for name in ("grad_norm", "grad_max_abs"):
            columns[name][i] = columns[name][source]
        j, k = row_of.get(int(trace.steps[i])), row_of.get(int(trace.steps[source]))
        if j is not None and k is not None:
            grads[j] = grads[k]
    return Trace.from_columns(trace.info, columns, grads, weights, param_steps=steps)


def summarize(trace: Trace) -> Summary:
    """Headline numbers of a run: losses, gradient norms (AMP-skipped steps left out), clipping, the end."""
    loss, norms = trace.loss, trace.grad_norm
    norms = norms[trace.column("amp_skipped") == 0]
    finite_loss = loss[np.isfinite(loss)]
    finite_norms = norms[np.isfinite(norms)]
    info = trace.info
    n = len(trace)
    return Summary(
        final_loss=float(loss[-1]) if n else math.nan,
        best_loss=float(finite_loss.min()) if len(finite_loss) else math.nan,
        initial_loss=float(loss[0]) if n else math.nan,
        max_grad_norm=float(np.nanmax(norms)) if n and not np.isnan(norms).all() else math.nan,
        median_grad_norm=float(np.median(finite_norms)) if len(finite_norms) else math.nan,
        first_nonfinite_step=first_nonfinite_step(trace),
        clipped_fraction=float(trace.column("clipped").mean()) if n else 0.0,
        amp_skipped_steps=int(trace.column("amp_skipped").sum()),
        clip=None if info.clip_mode is None else {"mode": info.clip_mode, "threshold": info.clip_threshold} | (
            {"events": list(info.guard_events)} if info.clip_mode == "adaptive" else {}),
        steps_requested=info.steps_requested,
        stopped=info.stopped.value,
        seconds=float(trace.column("seconds")[-1]) if n else 0.0,
    )
