"""The global gradient norm past float32's range while every gradient element is still finite.

`clip_grad_norm_` (and every logger) sums the squares of the gradients in float32: past sqrt(3.4e38) ~ 1.8e19 the
norm is inf although no element is. From that step a plain loop's `clip_grad_norm_` returns inf and multiplies
every gradient by max_norm / inf = 0: training silently stops, while the logs show inf. The monitor flags the
step (`norm_overflow`) and keeps the exact norm, recomputed in float64, in `grad_norm`.
"""

from __future__ import annotations

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import FLOAT32_NORM_MAX, number_text
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace

NORM_OVERFLOW = Kind(
    "norm_overflow",
    "The global gradient norm passed float32's range (~1.8e19) while every element is finite: from here "
    "clip_grad_norm_ returns inf and zeroes every gradient, and loggers show inf.",
    lambda ev: f"exact norm {number_text(ev.get('grad_norm'))} on {ev.get('overflow_steps', '?')} step(s)",
    needs=(Measure.EXACT_NORM,))


def detect_norm_overflow(trace: Trace, thresholds: Thresholds = DEFAULT,
                         context: Context = NO_CONTEXT) -> list[Symptom]:
    """Critical at the first step whose float32 global norm overflowed with every element finite."""
    flagged = np.flatnonzero(trace.column("norm_overflow") > 0)
    if not len(flagged):
        return []
    first = int(flagged[0])
    step = int(trace.steps[first])
    norm = float(trace.grad_norm[first])
    before = trace.grad_norm[:first]
    finite_before = before[np.isfinite(before)]
    dtype = trace.info.grad_dtype  # float32, or float64 for a float64 model (whose clip_grad_norm_ is float64)
    return [Symptom(
        NORM_OVERFLOW, Severity.CRITICAL, step,
        f"the global gradient norm overflowed {dtype} at step {step} ({number_text(norm)}, every element still "
        f"finite): clip_grad_norm_ returns inf there and zeroes the gradients",
        parameter=_largest(trace, step),
        evidence={"grad_norm": norm, "float32_limit": FLOAT32_NORM_MAX, "overflow_steps": len(flagged),
                  "last_norm_before": float(finite_before[-1]) if len(finite_before) else None},
        advice="the gradients have grown ~1e19-fold: lower the learning rate, or clip from the start so they "
               "never get there (gradscope recommend); clipping after the overflow only zeroes the update")]


def _largest(trace: Trace, step: int) -> str | None:
    """The parameter whose gradient norm is largest at `step`: the one that overflowed the sum."""
    norms = trace.grad_norms.row_at(step)
    if norms is None or not trace.info.param_names:
        return None
    return trace.info.param_names[int(np.nanargmax(norms))]


NORM_OVERFLOW_DETECTOR = Detector((NORM_OVERFLOW,), detect_norm_overflow)
