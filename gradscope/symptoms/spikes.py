"""Gradient and loss spikes: one step far above the recent typical level, judged robustly.

"Typical" is the median of the previous SPIKE_WINDOW steps and "far" is both a ratio and a robust z-score
(median absolute deviation), so minibatch noise, Adam's early transients and one earlier spike cannot
trigger or hide the next one. A falling loss only lowers the bar the detector compares against later.

The z-score is taken on log values: losses and gradient norms are positive and their noise is multiplicative
(a converged classifier's minibatch loss swings 10x from batch to batch), so a spread measured on the raw
values understates how far up noise reaches and turns ordinary noise into "spikes".
"""

from __future__ import annotations

import numpy as np

from gradscope.symptoms._stats import MAD_TO_SIGMA
from gradscope.symptoms.base import Severity, Symptom, SymptomKind
from gradscope.trace import Trace

SPIKE_WINDOW = 20  # steps of history the typical level is taken from
GRAD_SPIKE_RATIO = 10.0  # a gradient spike is at least 10x the recent median norm ...
LOSS_SPIKE_RATIO = 3.0  # ... a loss spike at least 3x the recent median loss ...
# ... and at least 8 robust standard deviations above it, on the log scale. Calibration: healthy runs reach
# at most ~6 among steps that pass the ratio (the bundled healthy samples run 5x longer than their configs, to
# convergence); a converged classifier whose minibatch loss swings with log-noise ~1 passes 6 in 5% of
# 400-step runs and 8 in 1%; spikes of a too-high learning rate score 8-12 in minibatch runs, 15-600 in
# full-batch ones. (Before: 8 sigmas of the raw values, which a converged Adam classifier passed at 10-30x.)
SPIKE_Z = 8.0
# Near convergence losses and gradient norms get tiny, and a 5x jump of a tiny number is harmless noise:
# a spike must also rise by this fraction of the run's early level (median of its first SPIKE_WINDOW steps).
MIN_RISE_OVER_EARLY = 0.1
MAX_LISTED = 10


def find_spikes(values: np.ndarray, *, ratio: float, z: float = SPIKE_Z, window: int = SPIKE_WINDOW,
                skip: set[int] | None = None) -> list[tuple[int, float, float]]:
    """(index, value / median, robust z on the log scale) of each spike among the finite, positive values.

    Each step is compared with the previous `window` steps (at least half of them finite and positive);
    `skip` indexes are ignored. Vectorised: one pass over a (steps x window) view, not a median per step.
    """
    values = np.asarray(values, np.float64)
    n = len(values)
    if n <= window:
        return []
    usable = np.isfinite(values) & (values > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(usable, np.log(np.where(usable, values, 1.0)), np.nan)
    early_values = values[:window][usable[:window]]
    early = float(np.median(early_values)) if len(early_values) else 0.0
    view = np.lib.stride_tricks.sliding_window_view  # row i: steps i .. i+window-1, preceding step i+window
    refs = view(logs, window)[: n - window]
    enough = np.isfinite(refs).sum(axis=1) >= window // 2
    refs = refs[enough]
    rows = np.flatnonzero(enough) + window
    if not len(rows):
        return []
    with np.errstate(all="ignore"):
        level = np.nanmedian(view(np.where(usable, values, np.nan), window)[: n - window][enough], axis=1)
        med = np.nanmedian(refs, axis=1)
        sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(refs - med[:, None]), axis=1)
        current = values[rows]
        # A window of identical values has no spread: any rise past the ratio is then far, not infinite.
        score = (logs[rows] - med) / np.maximum(sigma, 1e-9)
        hit = (usable[rows] & (current >= ratio * level) & (score >= z)
               & (current - level >= MIN_RISE_OVER_EARLY * early))
    hits = []
    for j in np.flatnonzero(hit):
        i = int(rows[j])
        if skip and i in skip:
            continue
        hits.append((i, float(current[j] / level[j]), float(score[j])))
    return hits


def detect_gradient_spike(trace: Trace, *, skip: set[int] | None = None) -> list[Symptom]:
    """A warning listing steps whose global gradient norm jumped >= 10x the recent median."""
    hits = find_spikes(trace.grad_norm, ratio=GRAD_SPIKE_RATIO, skip=skip)
    if not hits:
        return []
    first, ratio, score = hits[0]
    step = int(trace.steps[first])
    layer = _spiking_layer(trace, step)
    worst = max(hits, key=lambda h: h[1])
    return [Symptom(
        SymptomKind.GRADIENT_SPIKE, Severity.WARNING, step,
        f"gradient norm spiked {ratio:.1f}x above its recent median at step {step}"
        + (f" ({len(hits)} spikes, worst {worst[1]:.1f}x)" if len(hits) > 1 else ""),
        parameter=layer,
        evidence={"count": len(hits), "steps": [int(trace.steps[h[0]]) for h in hits[:MAX_LISTED]],
                  "ratio": ratio, "robust_z": score, "worst_ratio": worst[1],
                  "thresholds": {"ratio": GRAD_SPIKE_RATIO, "robust_z": SPIKE_Z, "window": SPIKE_WINDOW}},
        advice="clip the global gradient norm so single bad batches cannot throw the weights "
               "(gradscope recommend); check those batches for outliers")]


def detect_loss_spike(trace: Trace, *, skip: set[int] | None = None) -> list[Symptom]:
    """A warning listing steps whose loss jumped >= 3x the recent median (and 8 robust sigmas)."""
    loss = trace.loss
    if np.nanmin(np.where(np.isfinite(loss), loss, np.nan), initial=np.inf) < 0:
        return []  # ratios are meaningless for losses that can be negative
    hits = find_spikes(loss, ratio=LOSS_SPIKE_RATIO, skip=skip)
    if not hits:
        return []
    first, ratio, score = hits[0]
    step = int(trace.steps[first])
    return [Symptom(
        SymptomKind.LOSS_SPIKE, Severity.WARNING, step,
        f"loss spiked {ratio:.1f}x above its recent median at step {step}"
        + (f" ({len(hits)} spikes)" if len(hits) > 1 else ""),
        evidence={"count": len(hits), "steps": [int(trace.steps[h[0]]) for h in hits[:MAX_LISTED]],
                  "ratio": ratio, "robust_z": score,
                  "thresholds": {"ratio": LOSS_SPIKE_RATIO, "robust_z": SPIKE_Z, "window": SPIKE_WINDOW}},
        advice="the learning rate is likely too high for this loss surface: lower it, add warm-up, "
               "or clip gradients (gradscope recommend)")]


def _spiking_layer(trace: Trace, step: int) -> str | None:
    """The parameter whose gradient norm rose most, relative to its own recent median, at `step`."""
    steps, norms = trace.grad_norms.series()
    rows = np.flatnonzero(steps == step)
    if not len(rows) or rows[0] < 3:
        return None
    row = rows[0]
    ref = np.median(norms[max(0, row - SPIKE_WINDOW): row], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where(ref > 0, norms[row] / ref, 0.0)
    rise = np.where(np.isfinite(rise), rise, 0.0)
    if not rise.size or rise.max() <= 1.0:
        return None  # no parameter rose (per-parameter norms not recorded at that step): name none
    return trace.info.param_names[int(np.argmax(rise))]
