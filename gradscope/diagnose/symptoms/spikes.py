"""Gradient and loss spikes: one step far above the recent typical level, judged robustly.

"Typical" is the median of the previous `spike_window` steps and "far" is both a ratio and a robust z-score
(median absolute deviation), so minibatch noise, Adam's early transients and one earlier spike cannot
trigger or hide the next one. A falling loss only lowers the bar the detector compares against later.

The z-score is taken on log values: losses and gradient norms are positive and their noise is multiplicative
(a converged classifier's minibatch loss swings 10x from batch to batch), so a spread measured on the raw
values understates how far up noise reaches and turns ordinary noise into "spikes".
"""

from __future__ import annotations

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import ratio_text
from gradscope.stats import MAD_TO_SIGMA
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace, step_index

MAX_LISTED = 10  # spike steps listed in the evidence
BACK_STEPS = 2  # a loss spike whose next 2 steps' losses are ...
BACK_WITHIN = 1.5  # ... within 1.5x the level before it was one batch, not the run: information


def _evidence_line(ev: dict) -> str:
    return f"{ev['count']} spike(s), first {ratio_text(ev['ratio'], '.1f')}x the recent median"


GRADIENT_SPIKE = Kind("gradient_spike", "Single steps with gradients far above normal: each can throw the weights "
                      "far off.", _evidence_line, ends_stable_phase=True, needs=(Measure.GRAD_NORM,))
LOSS_SPIKE = Kind("loss_spike", "The loss jumps far above its recent level: an update overshot (the loss stays up), "
                  "or one batch is far harder than the rest (it is back at once).", _evidence_line)


def find_spikes(values: np.ndarray, *, ratio: float, thresholds: Thresholds = DEFAULT,
                skip: frozenset[int] | set[int] = frozenset()) -> list[tuple[int, float, float]]:
    """(index, value / median, robust z on the log scale) of each spike among the finite, positive values.

    Each step is compared with the previous `window` steps (at least half of them finite and positive);
    `skip` indexes are ignored. Vectorised: one pass over a (steps x window) view, not a median per step.
    """
    values = np.asarray(values, np.float64)
    n, window, z = len(values), thresholds.spike_window, thresholds.spike_z
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
               & (current - level >= thresholds.min_rise_over_early * early))
    hits = []
    for j in np.flatnonzero(hit):
        i = int(rows[j])
        if skip and i in skip:
            continue
        hits.append((i, float(current[j] / level[j]), float(score[j])))
    return hits


def detect_gradient_spike(trace: Trace, thresholds: Thresholds = DEFAULT,
                          context: Context = NO_CONTEXT) -> list[Symptom]:
    """A warning listing steps whose global gradient norm jumped >= 10x the recent median (not inside an
    exponential climb: those steps are the climb)."""
    t = thresholds
    hits = find_spikes(trace.grad_norm, ratio=t.grad_spike_ratio, thresholds=t, skip=context.climb_steps)
    if not hits:
        return []
    first, ratio, score = hits[0]
    step = int(trace.steps[first])
    layer = _spiking_layer(trace, step, t.spike_window)
    worst = max(hits, key=lambda h: h[1])
    return [Symptom(
        GRADIENT_SPIKE, Severity.WARNING, step,
        f"gradient norm spiked {ratio_text(ratio, '.1f')}x above its recent median at step {step}"
        + (f" ({len(hits)} spikes, worst {ratio_text(worst[1], '.1f')}x)" if len(hits) > 1 else ""),
        parameter=layer,
        evidence={"count": len(hits), "steps": [int(trace.steps[h[0]]) for h in hits[:MAX_LISTED]],
                  "ratio": ratio, "robust_z": score, "worst_ratio": worst[1],
                  "thresholds": {"ratio": t.grad_spike_ratio, "robust_z": t.spike_z, "window": t.spike_window}},
        advice="clip the global gradient norm so single bad batches cannot throw the weights "
               "(gradscope recommend); check those batches for outliers")]


def detect_loss_spike(trace: Trace, thresholds: Thresholds = DEFAULT, context: Context = NO_CONTEXT) -> list[Symptom]:
    """A warning listing steps whose loss jumped >= 3x the recent median (and 8 robust sigmas)."""
    t = thresholds
    loss = trace.loss
    if np.nanmin(np.where(np.isfinite(loss), loss, np.nan), initial=np.inf) < 0:
        return []  # ratios are meaningless for losses that can be negative
    hits = find_spikes(loss, ratio=t.loss_spike_ratio, thresholds=t, skip=context.climb_steps)
    if not hits:
        return []
    first, ratio, score = hits[0]
    step = int(trace.steps[first])
    batches = all(_back_at_once(loss, i, loss[i] / r) for i, r, _ in hits)
    back = (f"; back at its level on the next {BACK_STEPS} steps" + (" each time" if len(hits) > 1 else "")
            + ": a batch far harder than the rest, not an update that overshot") if batches else ""
    return [Symptom(
        LOSS_SPIKE, Severity.INFO if batches else Severity.WARNING, step,
        f"loss spiked {ratio_text(ratio, '.1f')}x above its recent median at step {step}"
        + (f" ({len(hits)} spikes)" if len(hits) > 1 else "") + back,
        evidence={"count": len(hits), "steps": [int(trace.steps[h[0]]) for h in hits[:MAX_LISTED]],
                  "ratio": ratio, "robust_z": score, "back_at_once": batches,
                  "thresholds": {"ratio": t.loss_spike_ratio, "robust_z": t.spike_z, "window": t.spike_window,
                                 "back_within": BACK_WITHIN}},
        advice=("look at those batches for outliers (a target or input far outside the rest); a clip of the "
                "gradient norm keeps one from moving the weights far (gradscope recommend)" if batches else
                "the learning rate is likely too high for this loss surface: lower it, add warm-up, "
                "or clip gradients (gradscope recommend)"))]


def _back_at_once(loss: np.ndarray, i: int, level: float) -> bool:
    """Whether the loss of the `BACK_STEPS` steps after spike `i` is back within `BACK_WITHIN` x the level
    before it. The loss of step i is taken on batch i with the weights before its update: an update that
    overshot leaves the next batches' losses high too, a batch far harder than the rest (heavy-tailed data:
    PyTorch's polynomial regression example) is one step high and the run goes on where it was."""
    after = loss[i + 1:i + 1 + BACK_STEPS]
    return len(after) == BACK_STEPS and bool(np.all(np.isfinite(after)) and np.all(after <= BACK_WITHIN * level))


def _spiking_layer(trace: Trace, step: int, window: int) -> str | None:
    """The parameter whose gradient norm rose most, relative to its own recent median, at `step`."""
    steps, norms = trace.grad_norms.series()
    row = step_index(steps, step)
    if row is None or row < 3:
        return None
    ref = np.median(norms[max(0, row - window): row], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where(ref > 0, norms[row] / ref, 0.0)
    rise = np.where(np.isfinite(rise), rise, 0.0)
    if not rise.size or rise.max() <= 1.0:
        return None  # no parameter rose (per-parameter norms not recorded at that step): name none
    return trace.info.param_names[int(np.argmax(rise))]


GRADIENT_SPIKES = Detector((GRADIENT_SPIKE,), detect_gradient_spike)
LOSS_SPIKES = Detector((LOSS_SPIKE,), detect_loss_spike)
