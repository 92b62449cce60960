"""A GradScaler that never settles: fp16 gradients keep overflowing long after the scale found its level.

A GradScaler starts at 65,536 and halves on every step whose scaled gradients overflow: a handful of skips at the
start are how it finds its level, then it grows back only every `growth_interval` (2,000) steps. Skips that keep
coming after that are updates thrown away: values past float16's 65,504 somewhere in the step, again and again.
"""

from __future__ import annotations

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace

AMP_UNSETTLED = Kind(
    "amp_unsettled",
    "The fp16 GradScaler keeps skipping updates after it settled: values overflow float16 again and again.",
    lambda ev: f"{ev['late_skips']} of {ev['late_steps']} steps skipped after settling ({ev['late_fraction']:.0%})",
    needs=(Measure.GRAD_NORM,))


def detect_amp_unsettled(trace: Trace, thresholds: Thresholds = DEFAULT,
                         context: Context = NO_CONTEXT) -> list[Symptom]:
    """Warning when, after the scaler's first run of skips (and `amp_settle_fraction` of the run), it skips at
    least `amp_unsettled_min_skips` steps and `amp_unsettled_fraction` of them."""
    t = thresholds
    skipped = trace.column("amp_skipped").astype(bool)
    if not skipped.any():
        return []
    first = int(np.argmax(skipped))
    settled = first + int(np.argmax(~skipped[first:])) if not skipped[first:].all() else len(skipped)
    settled = max(settled, int(len(skipped) * t.amp_settle_fraction))
    late = skipped[settled:]
    count = int(late.sum())
    if not len(late) or count < t.amp_unsettled_min_skips or count < t.amp_unsettled_fraction * len(late):
        return []
    at = settled + int(np.argmax(late))
    step = int(trace.steps[at])
    return [Symptom(
        AMP_UNSETTLED, Severity.WARNING, step,
        f"the GradScaler never settles: it skipped {count} of the {len(late)} steps after step "
        f"{int(trace.steps[settled - 1]) if settled else 0} ({count / len(late):.0%} of the updates thrown away)",
        evidence={"late_skips": count, "late_steps": len(late), "late_fraction": count / len(late),
                  "total_skips": int(skipped.sum()), "settled_step": int(trace.steps[min(settled, len(skipped) - 1)])},
        advice="train in bf16 instead (precision = \"bf16\": float32's range, no scaler), or find the layer whose "
               "values pass 65,504 (lower the lr, normalise it, keep it in float32)")]


AMP_UNSETTLED_DETECTOR = Detector((AMP_UNSETTLED,), detect_amp_unsettled)
