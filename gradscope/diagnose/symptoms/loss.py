"""Loss trends: divergence (it ends far above its start or its lowest level) and plateau (it does not train).

Both compare medians of the first and last tenth of the finite losses, so minibatch noise averages out,
and both look only at the finite prefix: a NaN is its own, critical, symptom.
"""

from __future__ import annotations

import math

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import number_text
from gradscope.stats import edge_levels, finite_prefix, log_noise, robust_sigma, rolling_median
from gradscope.trace.trace import Trace

THROWN_SIGMAS = 3.0  # a start level this many sigmas of the log loss's step noise above step 0's loss: thrown (a
#   first batch that low by chance, 3 sigmas, is one run in 700, and must then also end no lower than it)

LOSS_DIVERGENCE = Kind(
    "loss_divergence",
    "The loss ends far above where it started or above its lowest level: training is undoing itself.",
    lambda ev: f"start {number_text(ev['start_loss'])}, lowest {number_text(ev['lowest_level'])}, "
               f"end {number_text(ev['late_loss'])}",
    ends_stable_phase=True)  # from its step the loss stays above the bar: the norms there are not the normal regime
LOSS_PLATEAU = Kind(
    "loss_plateau", "The loss does not move: the model is not learning.",
    lambda ev: f"start {number_text(ev['start_loss'])}, end {number_text(ev['late_loss'])} "
               f"({0.0 - ev['improvement']:+.1%})",  # the loss's change (0.0 - : no "-0.0%")
    clipping_may_help=False)


def _levels(loss: np.ndarray, t: Thresholds) -> tuple[float, float, float, int]:
    """The start and late levels of the finite `loss`, its lowest level (the lowest median over a start-sized
    window: "lowest level", never "best", which the report's summary keeps for the lowest single loss) and the late
    window's length."""
    edges = edge_levels(loss, t.edge_fraction, t.start_steps)
    head = edges.head
    lowest = float(np.min(rolling_median(loss, head)[head - 1:])) if len(loss) >= head else edges.start
    return edges.start, edges.late, lowest, edges.window


def detect_loss_divergence(trace: Trace, thresholds: Thresholds = DEFAULT,
                           context: Context = NO_CONTEXT) -> list[Symptom]:
    """When the loss ends far above its start or its lowest level: critical when the run is broken (it ends at or
    above its start, or gave back `broken_lost_progress` of its progress, and stayed finite), else a warning."""
    t = thresholds
    loss = finite_prefix(trace.loss)
    if len(loss) < t.trend_min_steps:
        return []
    start, late, lowest, k = _levels(loss, t)
    noise = log_noise(loss)
    start = _divergence_start(loss, start, noise)
    lowest = min(lowest, start)
    scale = abs(start) if start else 1.0
    over_start = late - start >= (t.diverged_over_start - 1) * scale
    lost = ((start > lowest and late - lowest >= t.lost_progress * (start - lowest)
             and (lowest <= 0 or late >= t.lost_over_best * lowest))
            or _undid_its_training(noise, start, late, lowest, t))
    if not (over_start or lost):
        return []
    runaway = start > 0 and late >= t.runaway_over_start * start
    # The symptom shows from where the smoothed loss rose over the bar it broke for the last time (the final
    # excursion: the loss stays above the bar from there to the end).
    smooth = rolling_median(loss, 3)
    bar = start + (t.diverged_over_start - 1) * scale if over_start else lowest + t.lost_progress * (start - lowest)
    below = np.flatnonzero(smooth < bar)
    at = int(below[-1]) + 1 if len(below) else 1
    step = int(trace.steps[min(max(at, 1), len(loss) - 1)])
    if start > 0 and over_start:
        how = f"{late / start:.3g}x its start"
    elif lowest > 0:
        how = f"{late / lowest:.3g}x its lowest level"
    else:
        how = f"{late - lowest:.4g} above its lowest level"
    given_back = (late - lowest) / (start - lowest) if start > lowest else math.inf
    # A run that went NaN/Inf is critical for that (its own symptom comes first); here the trend is context.
    finite_run = len(loss) == len(trace.loss)
    broken = finite_run and (late >= start or given_back >= t.broken_lost_progress)
    verdict = ("the run is broken: it ends at or above where it started" if late >= start else
               f"the run is broken: it gave back {given_back:.0%} of its progress") if broken else \
        f"it gave back {given_back:.0%} of its progress" if start > lowest else "it never got below its start"
    return [Symptom(
        LOSS_DIVERGENCE, Severity.CRITICAL if broken else Severity.WARNING, step,
        f"loss diverges: its level (the median of {k} steps) ends at {late:.4g}, {how} ({start:.4g} at the start, "
        f"{lowest:.4g} at its lowest); {verdict}",
        evidence={"start_loss": start, "late_loss": late, "lowest_level": lowest, "window_steps": k,
                  "progress_given_back": given_back if math.isfinite(given_back) else None, "broken": broken,
                  "thresholds": {"over_start": t.diverged_over_start, "lost_progress": t.lost_progress,
                                 "over_best": t.lost_over_best, "runaway_over_start": t.runaway_over_start,
                                 "broken_lost_progress": t.broken_lost_progress},
                  "runaway": runaway},
        advice="lower the learning rate (or add warm-up/decay); if gradients spike, clip them "
               "(gradscope recommend)")]


def _divergence_start(loss: np.ndarray, start: float, noise: float) -> float:
    """The level a divergence is judged from: step 0's loss when the first updates threw the run (it jumped up at
    step 1 and stayed there: it diverged from step 0) or the loss is not positive, else the start level."""
    if _thrown_at_once(loss, start, noise) or not loss[0] > 0:
        return min(start, float(loss[0]))
    return start


def _thrown_at_once(loss: np.ndarray, start: float, noise: float) -> bool:
    """The start level stands THROWN_SIGMAS of the log loss's step `noise` above step 0's loss: the first updates
    threw the run. A lucky first batch of a noisy run is no throw (an MLP on a heavy-tailed target read 1.13 at step
    0 against a start level of 3.27, 2.3 sigmas, and was called diverged for ending at 2.04)."""
    return bool(loss[0] > 0 and start > loss[0] * math.exp(THROWN_SIGMAS * noise))


def _undid_its_training(noise: float, start: float, late: float, lowest: float, t: Thresholds) -> bool:
    """The loss came down beyond its noise (its lowest level `plateau_noise_max_improvement` under its start, and
    THROWN_SIGMAS of the log loss's step `noise`) and gave back `broken_lost_progress` of that: training undid itself,
    a broken run however close to its lowest level it ends, not a plateau (a conv net thrown back to chance by a
    OneCycle peak: levels 1.62 -> 1.51 -> 1.61, 1.07x its lowest level, under `lost_over_best`)."""
    return (lowest < (1 - t.plateau_noise_max_improvement) * start
            and lowest < start * math.exp(-THROWN_SIGMAS * noise)
            and late - lowest >= t.broken_lost_progress * (start - lowest))


def detect_loss_plateau(trace: Trace, thresholds: Thresholds = DEFAULT,
                        context: Context = NO_CONTEXT) -> list[Symptom]:
    """When, over the whole run, the loss improved by less than 1% of its start level: critical when it is no
    better than step 0's loss either (it never trained: broken), a warning when it stuck after a first drop, or
    when its first updates threw it up and it came back no lower than it began (the lr: it may yet train)."""
    t = thresholds
    loss = finite_prefix(trace.loss)
    if len(loss) < t.plateau_min_steps or len(loss) < len(trace.loss):
        return []
    start, late, lowest, k = _levels(loss, t)
    if abs(start) < 1e-8:
        return []  # already at zero: nothing left to train
    # The first updates threw the loss up, beyond its noise: coming back down from there is not training, and the
    # run is judged from step 0 (a GPT at chance, thrown 1.3x by lr 0.1, at chance again 40 steps on). A lucky
    # first batch of a noisy run is no throw: its start level stays.
    noise = log_noise(loss)
    thrown = _thrown_at_once(loss, start, noise)
    if thrown and lowest < (1 - t.plateau_noise_max_improvement) * float(loss[0]):
        return []  # it trained below step 0 at some point, then gave it back: loss_divergence's finding
    first = _divergence_start(loss, start, noise)  # loss_divergence's start level
    if _undid_its_training(noise, first, late, min(lowest, first), t):
        return []  # it trained and gave it back: loss_divergence's finding, from the same levels
    start = float(loss[0]) if thrown else start
    improvement = (start - late) / abs(start)
    within_noise = improvement < t.plateau_noise_max_improvement and not _falls_beyond_noise(loss, t)
    if (improvement >= t.plateau_max_improvement and not within_noise) or late > start * 1.5:
        return []
    # Less than 1% better than step 0 itself (before any update) after the whole run: it ends where it started,
    # up to noise, and the run is broken. A loss that fell in its first steps and then stuck is a warning.
    never = late >= (1 - t.plateau_max_improvement) * float(loss[0])
    story = (f", after its first updates threw it up to {float(np.max(loss[:t.start_steps])):.4g}" if thrown else
             ": the run is broken" if never else f", after a first drop from {float(loss[0]):.4g}")
    return [Symptom(
        LOSS_PLATEAU, Severity.CRITICAL if never and not thrown else Severity.WARNING, int(trace.steps[0]),
        f"loss does not train: {start:.4g} at the start, {late:.4g} at the end "
        f"({0.0 - improvement:+.1%} in {len(loss)} steps{', within its noise' if within_noise else ''}){story}",
        evidence={"start_loss": start, "late_loss": late, "improvement": improvement, "window_steps": k,
                  "within_noise": within_noise, "thrown_start": thrown,
                  "median_grad_norm": float(np.nanmedian(trace.grad_norm)),
                  "thresholds": {"max_improvement": t.plateau_max_improvement, "min_steps": t.plateau_min_steps}},
        advice="its first updates threw the loss above where it began, and it came back no lower: the learning "
               "rate is too high for this start, lower it or warm it up" if thrown else
               "a loss that stays level while it jumps from step to step (see early_instability, loss_spike) "
               "takes steps too large: lower the learning rate or warm it up; one that stays flat: check that "
               "gradients reach the weights (see vanishing_gradient), raise the learning rate, or check inputs "
               "and targets")]


def _falls_beyond_noise(loss: np.ndarray, t: Thresholds) -> bool:
    """Whether a least-squares line through log(loss) over the whole run falls by more than `plateau_noise_z`
    standard errors of its slope (the residuals' spread taken robustly: a few outlier batches do not hide a
    trend). A minibatch loss that only wobbles around one level does not, however its two end medians land."""
    if not (loss > 0).all():
        return True  # no log scale: the 1% rule alone decides
    y = np.log(loss)
    x = np.arange(len(y), dtype=np.float64) - (len(y) - 1) / 2
    sxx = float(x @ x)
    slope = float(x @ (y - y.mean())) / sxx
    sigma = robust_sigma(y - y.mean() - slope * x)
    return slope < -t.plateau_noise_z * sigma / math.sqrt(sxx)


DIVERGENCE = Detector((LOSS_DIVERGENCE,), detect_loss_divergence)
PLATEAU = Detector((LOSS_PLATEAU,), detect_loss_plateau)
