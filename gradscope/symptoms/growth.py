"""Sustained exponential growth: of the gradient norm (exploding gradients) and of the weight norm.

An explosion in training steps is geometric: each update overshoots a little more (|1 - lr * curvature| > 1),
so log(norm) climbs on a straight line. The detector fits that line over trailing windows of several lengths,
as the run goes, and fires at the first step where the line is steep, straight and has already climbed far
above the run's starting level. Short windows catch fast explosions (doubling every step or two) within about
ten steps, tens of steps before float32 overflows; long windows catch slow, noisy ones.
"""

from __future__ import annotations

import math

import numpy as np

from gradscope.symptoms._stats import LogFit, log_fit
from gradscope.symptoms.base import Severity, Symptom, SymptomKind
from gradscope.trace import Trace

GROWTH_WINDOWS = (8, 16, 32, 64)  # trailing window lengths (steps) over which log(norm) is fitted
MAX_DOUBLING_STEPS = 12.0  # the norm must double at least this often: slower rises are training dynamics
MIN_R2 = 0.85  # how straight log(norm) must be over the window: noise and one-off spikes are not growth
MIN_GROWTH_OVER_BASELINE = 100.0  # and it must already be 2 orders of magnitude above the run's start
BASELINE_STEPS = 8  # the run's starting level is the median of its first steps
FLOAT32_MAX = 3.4028234663852886e38

WEIGHT_MAX_DOUBLING_STEPS = 25.0  # weights grow slower than gradients before overflowing
WEIGHT_MIN_GROWTH = 10.0  # exponential weight growth must have multiplied the norm by this much
WEIGHT_GROWTH_WARNING = 100.0  # any rise of the weight norm by this factor is a warning, exponential or not
WEIGHT_NEAR_OVERFLOW = 1e18  # a weight norm this large squares past float32 range: critical


def find_growth(values: np.ndarray, *, max_doubling: float, min_growth: float, min_r2: float = MIN_R2,
                windows: tuple[int, ...] = GROWTH_WINDOWS) -> tuple[int, int, LogFit] | None:
    """(detection step, onset step, fit) of the first sustained exponential rise in `values`, else None.

    Only the finite, positive prefix of `values` is used: growth is judged before anything overflowed.
    """
    finite = np.isfinite(values) & (values > 0)
    cut = int(np.argmin(finite)) if not finite.all() else len(values)
    series = values[:cut]
    if len(series) < min(windows):
        return None
    baseline = float(np.median(series[:BASELINE_STEPS]))
    min_slope = math.log(2) / max_doubling
    for t in range(min(windows) - 1, len(series)):
        if series[t] < min_growth * baseline:
            continue
        for window in windows:
            if window > t + 1:
                break
            fit = log_fit(series[t - window + 1: t + 1])
            if fit.slope >= min_slope and fit.r2 >= min_r2:
                return t, t - window + 1, fit
    return None


def _growth_segment(series: np.ndarray, onset: int, min_slope: float) -> int:
    """The last step of the growth that began at `onset`: where the norm stops climbing at that pace."""
    end = len(series) - 1
    for t in range(onset + 8, len(series)):
        fit = log_fit(series[max(onset, t - 7): t + 1])
        if fit.slope < min_slope / 2:
            return t - 1
    return end


def detect_exploding_gradient(trace: Trace, *, max_doubling: float = MAX_DOUBLING_STEPS,
                              min_growth: float = MIN_GROWTH_OVER_BASELINE, min_r2: float = MIN_R2) -> list[Symptom]:
    """Critical when the global gradient norm grows exponentially; evidence names the fastest-growing layers."""
    norms = trace.grad_norm
    found = find_growth(norms, max_doubling=max_doubling, min_growth=min_growth, min_r2=min_r2)
    if found is None:
        return []
    detect, onset, _ = found
    positive = np.isfinite(norms) & (norms > 0)
    cut = int(np.argmin(positive)) if not positive.all() else len(norms)
    end = _growth_segment(norms[:cut], onset, math.log(2) / max_doubling)
    fit = log_fit(norms[onset: end + 1]) if end > onset + 1 else found[2]
    overflow = int(trace.steps[cut]) if cut < len(norms) else None
    baseline = float(np.median(norms[:BASELINE_STEPS]))
    layers = _fastest_layers(trace, onset, end)
    steps_left = (math.log(FLOAT32_MAX / norms[end]) / fit.slope) if fit.slope > 0 and norms[end] > 0 else math.inf
    evidence = {
        "onset_step": int(trace.steps[onset]), "detected_step": int(trace.steps[detect]),
        "last_growth_step": int(trace.steps[end]),
        "growth_per_step": fit.factor_per_step, "doubling_steps": fit.doubling_steps, "r2": fit.r2,
        "grad_norm_at_onset": float(norms[onset]), "grad_norm_at_end": float(norms[end]),
        "baseline_grad_norm": baseline, "growth_over_baseline": float(norms[end] / baseline) if baseline else None,
        "first_nonfinite_step": overflow,
        "projected_steps_to_overflow": None if overflow is not None or not math.isfinite(steps_left)
        else round(steps_left),
        "fastest_layers": layers,
        "thresholds": {"max_doubling_steps": max_doubling, "min_r2": min_r2,
                       "min_growth_over_baseline": min_growth, "windows": list(GROWTH_WINDOWS)},
    }
    ahead = (f", {overflow - int(trace.steps[detect])} steps before it overflowed" if overflow is not None
             else "")
    message = (f"gradient norm grows exponentially: x{fit.factor_per_step:.2f} per step (doubling every "
               f"{fit.doubling_steps:.1f} steps, R^2 {fit.r2:.2f}) from step {evidence['onset_step']}; "
               f"detected at step {evidence['detected_step']}{ahead}")
    return [Symptom(SymptomKind.EXPLODING_GRADIENT, Severity.CRITICAL, int(trace.steps[detect]), message,
                    parameter=layers[0]["parameter"] if layers else None, evidence=evidence,
                    advice="clip the global gradient norm (gradscope recommend picks the threshold), "
                           "lower the learning rate, or add normalisation")]


def _fastest_layers(trace: Trace, onset: int, end: int, top: int = 3) -> list[dict[str, float | str]]:
    steps, norms = trace.grad_norms.series()
    mask = (steps >= trace.steps[onset]) & (steps <= trace.steps[end])
    if mask.sum() < 3:
        return []
    rates = []
    for j, name in enumerate(trace.info.param_names):
        col = norms[mask, j]
        if np.all(np.isfinite(col)) and np.all(col > 0):
            fit = log_fit(col)
            rates.append({"parameter": name, "growth_per_step": fit.factor_per_step, "r2": fit.r2})
    rates.sort(key=lambda r: -float(r["growth_per_step"]))
    return rates[:top]


def detect_weight_growth(trace: Trace) -> list[Symptom]:
    """Weight norms growing toward overflow: critical when exponential or near float32 range, else a warning."""
    weights = trace.weight_norm
    positive = np.isfinite(weights) & (weights > 0)
    cut = int(np.argmin(positive)) if not positive.all() else len(weights)
    series = weights[:cut]
    if len(series) < min(GROWTH_WINDOWS):
        return []
    baseline = float(np.median(series[:BASELINE_STEPS]))
    peak_at = int(np.argmax(series))
    peak = float(series[peak_at])
    found = find_growth(series, max_doubling=WEIGHT_MAX_DOUBLING_STEPS, min_growth=WEIGHT_MIN_GROWTH, min_r2=0.9)
    evidence = {"baseline_weight_norm": baseline, "max_weight_norm": peak,
                "growth_over_baseline": peak / baseline if baseline else None,
                "thresholds": {"max_doubling_steps": WEIGHT_MAX_DOUBLING_STEPS, "min_growth": WEIGHT_MIN_GROWTH,
                               "warning_growth": WEIGHT_GROWTH_WARNING, "near_overflow": WEIGHT_NEAR_OVERFLOW}}
    advice = "lower the learning rate, add weight decay, or clip gradients (gradscope recommend)"
    if found is not None:
        detect, onset, fit = found
        evidence |= {"onset_step": int(trace.steps[onset]), "growth_per_step": fit.factor_per_step,
                     "doubling_steps": fit.doubling_steps, "r2": fit.r2}
        return [Symptom(SymptomKind.WEIGHT_GROWTH, Severity.CRITICAL, int(trace.steps[detect]),
                        f"weight norm grows exponentially: x{fit.factor_per_step:.2f} per step from step "
                        f"{int(trace.steps[onset])}, {peak / baseline:.3g}x its start", evidence=evidence,
                        advice=advice)]
    if peak >= WEIGHT_NEAR_OVERFLOW:
        step = int(np.argmax(series >= WEIGHT_NEAR_OVERFLOW))
        return [Symptom(SymptomKind.WEIGHT_GROWTH, Severity.CRITICAL, int(trace.steps[step]),
                        f"weight norm reached {peak:.3g}, near float32 overflow", evidence=evidence, advice=advice)]
    if baseline > 0 and peak >= WEIGHT_GROWTH_WARNING * baseline:
        step = int(np.argmax(series >= WEIGHT_GROWTH_WARNING * baseline))
        return [Symptom(SymptomKind.WEIGHT_GROWTH, Severity.WARNING, int(trace.steps[step]),
                        f"weight norm grew {peak / baseline:.3g}x from {baseline:.3g} to {peak:.3g}",
                        evidence=evidence, advice=advice)]
    return []
