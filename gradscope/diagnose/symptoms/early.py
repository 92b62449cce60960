"""An unstable start: the loss rises well above where it started in the first steps, or the gradient norm jumps
far above its starting level while the loss gets worse.

The spike detectors compare a step with its last `spike_window` steps; the first steps have no such history,
and that is where a learning rate too high for a start without warm-up shows (Adam's first updates are
lr-sized whatever the gradient). There the start of the run is the reference: the loss and gradient norm of
step 0, before any update. A run that then settles can look healthy at a glance while it sits on a plateau far
above what a warm-up reaches; the advice names the lr of the step where it showed.
"""

from __future__ import annotations

import math

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import number_text, ratio_text
from gradscope.stats import finite_prefix, log_noise
from gradscope.trace.trace import Trace

EARLY_INSTABILITY = Kind(
    "early_instability",
    "The first updates made the run worse: a learning rate too high for a start without warm-up.",
    lambda ev: f"loss x{ev['loss_ratio']:.3g} of its start by step {ev['peak_step']}, grad norm "
               f"x{ev['grad_ratio']:.3g}, lr {number_text(ev.get('lr'))}")


def detect_early_instability(trace: Trace, thresholds: Thresholds = DEFAULT,
                             context: Context = NO_CONTEXT) -> list[Symptom]:
    """Warning when, within the first `early_steps`, the loss over `early_window` consecutive steps sits on
    average (geometric mean) >= `early_loss_rise` x step 0's, and beyond `early_noise_sigmas` of its noise; or
    when a shorter rise comes with a gradient-norm jump and the run then settles high (`_thrown`).

    A window, not one step: minibatch noise is independent from step to step, an overshooting update is not
    (the loss stays up for several steps). The gradient norm is evidence, not a trigger: measured against
    step 0 alone, Adam's healthy early transients reach 5-10x.
    """
    t = thresholds
    k = t.early_window
    if context.climb_onset is not None and context.climb_onset <= t.early_steps + k:
        return []  # the rise is the start of an exponential climb: the exploding-gradient symptom tells it
    loss = finite_prefix(trace.loss)
    norms = trace.grad_norm[:len(loss)]
    if len(loss) < max(t.early_min_steps, k + 1) or not loss[0] > 0 or not np.all(loss[1:] > 0):
        return []
    end = min(len(loss) - k, t.early_steps)
    logs = np.log(loss[1:end + k] / loss[0])
    rise = np.array([logs[i:i + k].mean() for i in range(end)])  # window i covers steps i+1 .. i+k
    # The window's mean has the noise of k steps, step 0 that of one: sigma * sqrt(1 + 1/k) together.
    bar = max(math.log(t.early_loss_rise), t.early_noise_sigmas * log_noise(loss) * math.sqrt(1 + 1 / k))
    hits = np.flatnonzero(rise >= bar)
    lr = trace.column("lr")[:len(loss)]
    if len(hits):
        first = int(hits[0]) + 1
        return [_symptom(trace, first, int(np.argmax(loss[:end + k])), loss, norms, lr, math.exp(bar))]
    first = _thrown(loss, norms, t)
    if first is None:
        return []
    return [_symptom(trace, first, int(np.argmax(loss[:end + k])), loss, norms, lr, t.early_jump_loss_rise)]


def _thrown(loss: np.ndarray, norms: np.ndarray, t: Thresholds) -> int | None:
    """The first step of a start thrown off course, or None: a loss >= `early_jump_loss_rise` x step 0's (beyond
    `early_noise_sigmas` of one step's noise) with the gradient norm >= `early_jump_grad_ratio` x step 0's by then,
    in a run that then settles high: its late loss stays >= `early_jump_settles_above` x its start. Shorter than
    the window's rise, so it needs both signs at once and the cost they left: Adam's healthy transients (a 2-5x
    norm while the loss wobbles up to ~1.25x) go on to fall far below their start."""
    if not norms[0] > 0 or not np.isfinite(norms[0]):
        return None
    k = max(3, int(len(loss) * t.edge_fraction))
    if np.median(loss[-k:]) < t.early_jump_settles_above * loss[0]:
        return None
    bar = max(math.log(t.early_jump_loss_rise), t.early_noise_sigmas * log_noise(loss) * math.sqrt(2))
    end = min(len(loss), t.early_steps + 1)
    jumped = np.fmax.accumulate(np.nan_to_num(norms[:end], nan=0.0)) >= t.early_jump_grad_ratio * norms[0]
    hits = np.flatnonzero((np.log(loss[:end] / loss[0]) >= bar) & jumped)
    return int(hits[0]) if len(hits) else None


def _symptom(trace: Trace, first: int, peak: int, loss: np.ndarray, norms: np.ndarray, lr: np.ndarray,
             bar: float) -> Symptom:
    loss_ratio = float(loss[peak] / loss[0])
    grad_ratio = float(np.nanmax(norms[:peak + 2]) / norms[0]) if norms[0] > 0 else math.nan
    step_lr = float(lr[first]) if math.isfinite(lr[first]) else None
    peak_lr = float(np.nanmax(lr)) if np.isfinite(lr).any() else None
    warming = step_lr is not None and peak_lr is not None and step_lr < 0.99 * peak_lr and lr[0] < step_lr
    step = int(trace.steps[first])
    at_lr = f" (lr {number_text(step_lr)})" if step_lr is not None else ""
    warmup = None if warming else min(max(10, 5 * (peak + 1)), max(1, len(loss) // 2))  # at most half the run
    advice = (f"the lr was still warming up at step {step}{at_lr}: lengthen the warm-up or lower the peak lr"
              if warmup is None else
              f"warm up the learning rate from 0 over the first {warmup} steps, or lower it{at_lr}")
    return Symptom(
        EARLY_INSTABILITY, Severity.WARNING, step,
        f"unstable start: the loss rose to {ratio_text(loss_ratio)}x its start by step {int(trace.steps[peak])} "
        f"({number_text(float(loss[0]))} -> {number_text(float(loss[peak]))}), the gradient norm to "
        f"{ratio_text(grad_ratio, '.1f')}x{at_lr}",
        evidence={"start_loss": float(loss[0]), "peak_loss": float(loss[peak]), "peak_step": int(trace.steps[peak]),
                  "loss_ratio": loss_ratio, "start_grad_norm": float(norms[0]), "grad_ratio": grad_ratio,
                  "lr": step_lr, "warming_up": bool(warming), "loss_bar": bar,
                  **({"warmup_steps": warmup} if warmup is not None else {})},
        advice=advice)


EARLY = Detector((EARLY_INSTABILITY,), detect_early_instability)
