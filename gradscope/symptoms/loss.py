"""Loss trends: divergence (it ends far above its start or its best) and plateau (it does not train).

Both compare medians of the first and last tenth of the finite losses, so minibatch noise averages out,
and both look only at the finite prefix: a NaN is its own, critical, symptom.
"""

from __future__ import annotations

import numpy as np

from gradscope.symptoms._stats import finite_prefix, rolling_median
from gradscope.symptoms.base import Severity, Symptom, SymptomKind
from gradscope.trace import Trace

MIN_STEPS = 10  # fewer finite steps than this say nothing about a trend
EDGE_FRACTION = 0.1  # start / late levels are medians over this fraction of the run (at least 3 steps)
DIVERGED_OVER_START = 1.5  # late loss >= 1.5x the start: training made it worse
LOST_PROGRESS = 0.5  # or it gave back half of what it gained from start to best ...
LOST_OVER_BEST = 1.5  # ... and sits >= 1.5x above the best level
RUNAWAY_OVER_START = 10.0  # ending 10x above the start: reported as runaway in the evidence
PLATEAU_MIN_STEPS = 20
PLATEAU_MAX_IMPROVEMENT = 0.01  # less than 1% better than the start after the whole run: not training


START_STEPS = 10  # the start level is the median of at most the first 10 steps: a run can blow up early


def _levels(loss: np.ndarray) -> tuple[float, float, float, int]:
    k = max(3, int(len(loss) * EDGE_FRACTION))
    head = max(3, min(k, START_STEPS))
    start = float(np.median(loss[:head]))
    late = float(np.median(loss[-k:]))
    best = float(np.min(rolling_median(loss, head)[head - 1:])) if len(loss) >= head else start
    return start, late, best, k


def detect_loss_divergence(trace: Trace) -> list[Symptom]:
    """Warning when the loss ends far above its start or best. Divergence is instability; what makes a run
    critical (NaN/Inf, exponential growth) has detectors of its own."""
    loss = finite_prefix(trace.loss)
    if len(loss) < MIN_STEPS:
        return []
    start, late, best, k = _levels(loss)
    start = min(start, float(loss[0]))  # a run that jumps up at step 1 and stays there has diverged from step 0
    best = min(best, start)
    scale = abs(start) if start else 1.0
    over_start = late - start >= (DIVERGED_OVER_START - 1) * scale
    lost = (start > best and late - best >= LOST_PROGRESS * (start - best)
            and (best <= 0 or late >= LOST_OVER_BEST * best))
    if not (over_start or lost):
        return []
    runaway = start > 0 and late >= RUNAWAY_OVER_START * start
    # The symptom shows from where the smoothed loss rose over the bar it broke for the last time (the final
    # excursion: the loss stays above the bar from there to the end).
    smooth = rolling_median(loss, 3)
    bar = start + (DIVERGED_OVER_START - 1) * scale if over_start else best + LOST_PROGRESS * (start - best)
    below = np.flatnonzero(smooth < bar)
    at = int(below[-1]) + 1 if len(below) else 1
    step = int(trace.steps[min(max(at, 1), len(loss) - 1)])
    if start > 0 and over_start:
        how = f"{late / start:.3g}x its start"
    elif best > 0:
        how = f"{late / best:.3g}x its best"
    else:
        how = f"{late - best:.4g} above its best"
    return [Symptom(
        SymptomKind.LOSS_DIVERGENCE, Severity.WARNING, step,
        f"loss diverges: it ends at {late:.4g}, {how} ({start:.4g} at the start, best {best:.4g})",
        evidence={"start_loss": start, "late_loss": late, "best_loss": best, "window_steps": k,
                  "thresholds": {"over_start": DIVERGED_OVER_START, "lost_progress": LOST_PROGRESS,
                                 "over_best": LOST_OVER_BEST, "runaway_over_start": RUNAWAY_OVER_START},
                  "runaway": runaway},
        advice="lower the learning rate (or add warm-up/decay); if gradients spike, clip them "
               "(gradscope recommend)")]


def detect_loss_plateau(trace: Trace) -> list[Symptom]:
    """Warning when, over the whole run, the loss improved by less than 1% of its start."""
    loss = finite_prefix(trace.loss)
    if len(loss) < PLATEAU_MIN_STEPS or len(loss) < len(trace.loss):
        return []
    start, late, best, k = _levels(loss)
    if abs(start) < 1e-8:
        return []  # already at zero: nothing left to train
    improvement = (start - late) / abs(start)
    if improvement >= PLATEAU_MAX_IMPROVEMENT or late > start * 1.5:
        return []
    return [Symptom(
        SymptomKind.LOSS_PLATEAU, Severity.WARNING, int(trace.steps[0]),
        f"loss does not train: {start:.4g} at the start, {late:.4g} at the end "
        f"({improvement:+.1%} in {len(loss)} steps)",
        evidence={"start_loss": start, "late_loss": late, "improvement": improvement, "window_steps": k,
                  "median_grad_norm": float(np.nanmedian(trace.grad_norm)),
                  "thresholds": {"max_improvement": PLATEAU_MAX_IMPROVEMENT, "min_steps": PLATEAU_MIN_STEPS}},
        advice="check that gradients reach the weights (see vanishing_gradient), raise the learning rate, "
               "or check inputs and targets")]
