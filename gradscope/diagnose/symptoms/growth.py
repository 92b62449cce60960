"""Sustained exponential growth: of the gradient norm (exploding gradients) and of the weight norm.

An explosion in training steps is geometric: each update overshoots a little more (|1 - lr * curvature| > 1),
so log(norm) climbs on a straight line. The detector fits that line over trailing windows of several lengths,
as the run goes, and fires at the first step where the line is steep, straight and has already climbed far
above the run's starting level. Short windows catch fast explosions (doubling every step or two) within about
ten steps, tens of steps before float32 overflows; long windows catch slow, noisy ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import FLOAT32_MAX, number_text, ratio_text
from gradscope.stats import LogFit, log_fit
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace, first_nonfinite_step


def largest(trace: Trace) -> float:
    """The largest finite value of the run's own precision (float32's, or float64's for a float64 model)."""
    return float(np.finfo(trace.info.grad_dtype).max)


def steps_text(steps: float) -> str:
    """A doubling time: one decimal, two significant digits below one step (never "0.0 steps")."""
    return number_text(steps, ".2g" if abs(steps) < 1 else ".1f")


EXPLODING_GRADIENT = Kind(
    "exploding_gradient",
    "The gradient norm multiplies step after step: it will overflow unless the updates are bounded.",
    lambda ev: (f"x{ratio_text(ev['growth_per_step'])}/step, doubling {steps_text(ev['doubling_steps'])} steps, "
                f"R^2 {ev['r2']:.2f}, {number_text(ev['grad_norm_at_onset'])} -> "
                f"{number_text(ev['grad_norm_at_end'])}"),
    ends_stable_phase=True, needs=(Measure.GRAD_NORM,))
WEIGHT_GROWTH = Kind(
    "weight_growth", "The weights grow without bound: they are heading for overflow.",
    lambda ev: f"weight norm {number_text(ev['baseline_weight_norm'])} -> {number_text(ev['max_weight_norm'])}",
    ends_stable_phase=True, needs=(Measure.WEIGHT_NORMS,))


def find_growth(values: np.ndarray, *, max_doubling: float, min_growth: float, min_r2: float = DEFAULT.min_r2,
                windows: tuple[int, ...] = DEFAULT.growth_windows, baseline_steps: int = DEFAULT.baseline_steps,
                accept: Callable[[np.ndarray], bool] | None = None) -> tuple[int, int, LogFit] | None:
    """(detection step, onset step, fit) of the first sustained exponential rise in `values`, else None.

    Only the finite, positive prefix of `values` is used: growth is judged before anything overflowed.
    `accept(window_values)` can veto a window that passes the fit.
    """
    finite = np.isfinite(values) & (values > 0)
    cut = int(np.argmin(finite)) if not finite.all() else len(values)
    series = values[:cut]
    if len(series) < min(windows):
        return None
    baseline = float(np.median(series[:baseline_steps]))
    for t in range(min(windows) - 1, len(series)):
        if series[t] < min_growth * baseline:
            continue
        for window in windows:
            if window > t + 1:
                break
            values_in = series[t - window + 1: t + 1]
            fit = log_fit(values_in)
            if fit.grows(max_doubling, min_r2) and (accept is None or accept(values_in)):
                return t, t - window + 1, fit
    return None


def more_exponential_than_linear(window: np.ndarray) -> bool:
    """True when a straight line fits log(window) at least as well (R^2) as it fits the raw values.

    Steady growth from a small start (w = w0 + c * t: Adam's bounded steps, weights drifting at a constant
    rate) also draws a steep, straight-looking log line over a window: its log-slope is c / w. Only the raw
    values tell it apart: they lie on a straight line, exponential growth does not.
    """
    t = np.arange(len(window), dtype=np.float64)
    t -= t.mean()
    raw = window - window.mean()
    ss = float(raw @ raw)
    r2_raw = float(t @ raw) ** 2 / (float(t @ t) * ss) if ss > 0 else 1.0
    return log_fit(window).r2 >= r2_raw


def _growth_segment(series: np.ndarray, onset: int, min_slope: float) -> int:
    """The last step of the growth that began at `onset`: where the norm stops climbing at that pace."""
    end = len(series) - 1
    for t in range(onset + 8, len(series)):
        fit = log_fit(series[max(onset, t - 7): t + 1])
        if fit.slope < min_slope / 2:
            return t - 1
    return end


def detect_exploding_gradient(trace: Trace, thresholds: Thresholds = DEFAULT,
                              context: Context = NO_CONTEXT) -> list[Symptom]:
    """Critical when the global gradient norm grows exponentially; evidence names the fastest-growing layers."""
    t = thresholds
    max_doubling, min_growth, min_r2 = t.max_doubling_steps, t.min_growth_over_baseline, t.min_r2
    norms = trace.grad_norm
    found = find_growth(norms, max_doubling=max_doubling, min_growth=min_growth, min_r2=min_r2,
                        windows=t.growth_windows, baseline_steps=t.baseline_steps)
    if found is None:
        return []
    detect, onset, _ = found
    positive = np.isfinite(norms) & (norms > 0)
    cut = int(np.argmin(positive)) if not positive.all() else len(norms)
    end = _growth_segment(norms[:cut], onset, math.log(2) / max_doubling)
    fit = log_fit(norms[onset: end + 1]) if end > onset + 1 else found[2]
    gap = float(np.median(np.diff(trace.steps[onset: end + 1]))) if end > onset else 1.0
    fit = LogFit(fit.slope / max(gap, 1.0), fit.r2)  # per optimizer step: a log's rows may be k steps apart
    # The first step anything overflowed (the loss often first: MSE squares), or the norm left the fit's domain.
    firsts = [int(trace.steps[cut])] if cut < len(norms) else []
    nonfinite = first_nonfinite_step(trace)
    overflow = min([*firsts, *([nonfinite] if nonfinite is not None else [])], default=None)
    baseline = float(np.median(norms[:t.baseline_steps]))
    layers = _fastest_layers(trace, onset, end)
    steps_left = (math.log(largest(trace) / norms[end]) / fit.slope) if fit.slope > 0 and norms[end] > 0 else math.inf
    before = float(np.median(norms[max(0, onset - t.baseline_steps): onset + 1]))
    tail = norms[max(end + 1, len(norms) - t.recovery_tail_steps):]
    recovered = (overflow is None and len(tail) > 0 and end < len(norms) - 1
                 and float(np.median(tail)) <= t.recovered_within * before)
    # A rise that stopped long before the run ended and held its new level is a change of regime (a warm-up,
    # a zero-initialised layer coming alive), not a runaway: no symptom, unless it climbed 4 orders or more.
    settled_tail = norms[end + 1:]
    settled = (overflow is None and not recovered and len(settled_tail) >= t.settled_steps
               and np.all(np.isfinite(settled_tail))
               and (float(norms[end]) / t.recovered_within
                    <= float(np.median(settled_tail[-t.recovery_tail_steps:]))
                    <= t.recovered_within * float(norms[end]))
               and float(norms[end]) / max(before, 1e-300) < t.settled_max_growth)
    if settled:
        return []
    evidence = {
        "onset_step": int(trace.steps[onset]), "detected_step": int(trace.steps[detect]),
        "last_growth_step": int(trace.steps[end]),
        "growth_per_step": fit.factor_per_step, "doubling_steps": fit.doubling_steps, "r2": fit.r2,
        "grad_norm_at_onset": float(norms[onset]), "grad_norm_at_end": float(norms[end]),
        "baseline_grad_norm": baseline, "growth_over_baseline": float(norms[end] / baseline) if baseline else None,
        "first_nonfinite_step": overflow, "recovered": recovered,
        "projected_steps_to_overflow": None if overflow is not None or not math.isfinite(steps_left)
        else round(steps_left),
        "fastest_layers": layers,
        "thresholds": {"max_doubling_steps": max_doubling, "min_r2": min_r2,
                       "min_growth_over_baseline": min_growth, "windows": list(t.growth_windows),
                       "recovered_within": t.recovered_within},
    }
    lead = None if overflow is None else overflow - int(trace.steps[detect])
    ahead = f", {lead} steps before it overflowed" if lead is not None and lead > 0 else ""
    if recovered:
        message = (f"gradient norm grew exponentially from step {evidence['onset_step']} "
                   f"(x{ratio_text(fit.factor_per_step)} per step, {norms[end] / before:.3g}x in "
                   f"{end - onset + 1} steps), "
                   "then fell back: the run is at the edge of stability, each such burst throws the weights")
    else:
        message = (f"gradient norm grows exponentially: x{ratio_text(fit.factor_per_step)} per step (doubling every "
                   f"{steps_text(fit.doubling_steps)} steps, R^2 {fit.r2:.2f}) from step {evidence['onset_step']}; "
                   f"detected at step {evidence['detected_step']}{ahead}")
    return [Symptom(EXPLODING_GRADIENT, Severity.WARNING if recovered else Severity.CRITICAL,
                    int(trace.steps[detect]), message,
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


def detect_weight_growth(trace: Trace, thresholds: Thresholds = DEFAULT,
                         context: Context = NO_CONTEXT) -> list[Symptom]:
    """Weight norms growing toward overflow: critical when exponential or near the run's range, else a warning."""
    t = thresholds
    # weight_near_overflow is float32's (its norm overflows at ~1.8e19); a float64 run's range is wider.
    near_overflow = t.weight_near_overflow * math.sqrt(largest(trace) / FLOAT32_MAX)
    weights = trace.weight_norm
    positive = np.isfinite(weights) & (weights > 0)
    cut = int(np.argmin(positive)) if not positive.all() else len(weights)
    series = weights[:cut]
    if len(series) < min(t.growth_windows):
        return []
    # the start: the first steps' median (one noisy step does not set it), or the weights before any update where
    # those steps had already thrown them (an LBFGS run at 14.5 before step 0 read "from 3.09e+06"; a Lightning
    # run thrown from 1.8 to 831 in four steps, then 2,677, was no 100x rise over its first steps' median)
    baseline = min(float(series[0]), float(np.median(series[:t.baseline_steps])))
    peak_at = int(np.argmax(series))
    peak = float(series[peak_at])
    found = find_growth(series, max_doubling=t.weight_max_doubling_steps, min_growth=t.weight_min_growth,
                        min_r2=t.weight_min_r2, windows=t.growth_windows, baseline_steps=t.baseline_steps,
                        accept=more_exponential_than_linear)
    evidence = {"baseline_weight_norm": baseline, "max_weight_norm": peak,
                "growth_over_baseline": peak / baseline if baseline else None,
                "thresholds": {"max_doubling_steps": t.weight_max_doubling_steps, "min_growth": t.weight_min_growth,
                               "warning_growth": t.weight_growth_warning, "near_overflow": t.weight_near_overflow}}
    advice = "lower the learning rate, add weight decay, or clip gradients (gradscope recommend)"
    if found is not None:
        detect, onset, fit = found
        # Growth that stopped on its own long before the run ended (the last steps climb at a fraction of its
        # pace, nothing non-finite, far from overflow) threw the weights once: instability, not a runaway.
        tail = series[-t.settled_steps:]
        stopped = (cut == len(weights) and len(series) - detect > t.settled_steps and peak < near_overflow
                   and log_fit(tail).slope < fit.slope * t.weight_stopped_pace)
        evidence |= {"onset_step": int(trace.steps[onset]), "growth_per_step": fit.factor_per_step,
                     "doubling_steps": fit.doubling_steps, "r2": fit.r2, "stopped": stopped}
        how = (f"then stopped at {float(tail[-1]):.3g}" if stopped
               else f"{peak / baseline:.3g}x its start")
        return [Symptom(WEIGHT_GROWTH, Severity.WARNING if stopped else Severity.CRITICAL,
                        int(trace.steps[detect]),
                        f"weight norm grows exponentially: x{ratio_text(fit.factor_per_step)} per step from step "
                        f"{int(trace.steps[onset])}, {how}", evidence=evidence, advice=advice)]
    if peak >= near_overflow:
        step = int(np.argmax(series >= near_overflow))
        return [Symptom(WEIGHT_GROWTH, Severity.CRITICAL, int(trace.steps[step]),
                        f"weight norm reached {peak:.3g}, near {trace.info.grad_dtype} overflow", evidence=evidence,
                        advice=advice)]
    if baseline > 0 and peak >= t.weight_growth_warning * baseline:
        step = int(np.argmax(series >= t.weight_growth_warning * baseline))
        return [Symptom(WEIGHT_GROWTH, Severity.WARNING, int(trace.steps[step]),
                        f"weight norm grew {peak / baseline:.3g}x from {baseline:.3g} to {peak:.3g}",
                        evidence=evidence, advice=advice)]
    return []


EXPLODING = Detector((EXPLODING_GRADIENT,), detect_exploding_gradient)
WEIGHTS = Detector((WEIGHT_GROWTH,), detect_weight_growth)
