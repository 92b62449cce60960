"""Vanishing gradients: early layers get gradients orders of magnitude smaller than late layers, or the
global gradient norm collapses while the loss has not improved.

Depth is approximated by registration order (`named_parameters()`), the order nearly every model defines its
layers in. Only weight matrices and kernels (2+ dimensions) are compared, and embeddings are left out: their
gradients are sparse, small by nature, and not a sign of anything.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import number_text
from gradscope.stats import finite_prefix
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace, first_nonfinite_step

JUMP_BEFORE_DEATH = 10.0  # a gradient norm this far above step 0's before units died: the updates killed them
LOSS_RISE_BEFORE_DEATH = 1.5  # or a loss that rose this far above its start

EXCLUDED_MODULES = ("Embedding", "EmbeddingBag")
COLLAPSE_MIN_STEPS = 20  # the collapse of the global norm needs this many finite steps


def _evidence_line(ev: dict) -> str:
    if "early_to_late_ratio" in ev:
        return f"early/late layer grad norm {ev['early_to_late_ratio']:.2g}"
    if "early_grad_norm" in ev:
        return f"grad norm {number_text(ev['early_grad_norm'])} -> {number_text(ev['late_grad_norm'])}"
    return f"{len(ev['dead_layers'])} of {ev['weight_layers']} weight matrices without gradient"


VANISHING_GRADIENT = Kind(
    "vanishing_gradient", "Gradients shrink to nothing before they reach the early layers, which stop learning.",
    _evidence_line, clipping_may_help=False, needs=(Measure.PARAM_GRAD_NORMS,))


def detect_vanishing_gradient(trace: Trace, thresholds: Thresholds = DEFAULT,
                              context: Context = NO_CONTEXT) -> list[Symptom]:
    """Warning with the early/late ratio and the layers at both ends, or the collapse of the global norm. A depth
    ratio in a run whose loss ends at `vanishing_trains_well` of its start or below is information (severity
    info): the early layers' small gradients did not stop it learning. In a run that does not train (its loss not
    `plateau_noise_max_improvement` below its start) a smaller ratio, `vanishing_ratio_untrained`, is the cause
    worth naming: the loss alone says only that it does not learn.

    Only the steps before `context.climb_onset` are compared across depth: once a run blows up, its dead early
    layers say nothing about vanishing.
    """
    t, before_step = thresholds, context.climb_onset
    found = _dead(trace, t, before_step) or _across_depth(trace, t, before_step) or _collapse(trace, t)
    if context.overflow_in is not None:  # the gradients behind a hidden overflow are zero: that is the cause
        advice = (f"these gradients are zero behind the overflow hidden in {context.overflow_in} "
                  "(activation_overflow): fix that first; the activation and the init are not the cause")
        found = [replace(s, advice=advice) for s in found]
    return found


def _weight_layers(trace: Trace) -> list[int]:
    info = trace.info
    modules = info.param_modules or [""] * len(info.param_names)
    return [j for j, (shape, mod) in enumerate(zip(info.param_shapes, modules, strict=True))
            if len(shape) >= 2 and mod not in EXCLUDED_MODULES]


def _dead(trace: Trace, t: Thresholds, before_step: int | None = None) -> list[Symptom]:
    """Most weight matrices get exactly zero gradient over the second half of the run: dead units (ReLUs
    stuck at zero, saturated gates). The loss can still move a little through the output bias."""
    layers = _weight_layers(trace)
    steps, norms = trace.grad_norms.series()
    if before_step is not None:
        norms, steps = norms[steps < before_step], steps[steps < before_step]
    if len(layers) < t.min_weight_layers or len(norms) < 2 * t.min_dead_steps:
        return []
    late = norms[len(norms) // 2:][:, layers]
    if not np.all(np.isfinite(late)):
        return []
    dead = [layers[i] for i in np.flatnonzero(np.all(late == 0.0, axis=0))]
    if len(dead) < t.dead_fraction * len(layers):
        return []
    names = [trace.info.param_names[j] for j in dead]
    start = int(steps[len(norms) // 2])
    alive = np.flatnonzero(np.any(norms[:, dead] != 0.0, axis=1))
    died = int(steps[alive[-1] + 1]) if len(alive) and alive[-1] + 1 < len(steps) else int(steps[0])
    story, advice = _before(trace, died)
    return [Symptom(
        VANISHING_GRADIENT, Severity.WARNING, start,
        f"gradients vanish: {len(dead)} of {len(layers)} weight matrices get no gradient at all from step "
        f"{died} on (dead units){story}", parameter=names[0],
        evidence={"dead_layers": names[:20], "weight_layers": len(layers), "died_at_step": died,
                  "thresholds": {"dead_fraction": t.dead_fraction}},
        advice=advice or "the units feeding these layers are dead (ReLUs stuck at zero, saturated sigmoid/tanh): "
                         "lower the learning rate, use LeakyReLU/GELU, normalise inputs, or re-initialise")]


def _before(trace: Trace, until: int) -> tuple[str, str]:
    """What happened before gradients died at step `until`: a jump of the gradient norm or the loss says the
    updates were too large (a too-high learning rate knocks ReLUs into their flat region), not the activation."""
    n = int(np.searchsorted(trace.steps, until))
    norms, loss, lr = trace.grad_norm[:n], trace.loss[:n], trace.column("lr")[:n]
    if n < 3 or not np.isfinite(norms[0]) or not norms[0] > 0 or not loss[0] > 0:
        return "", ""
    finite = np.isfinite(norms)
    peak = int(np.argmax(np.where(finite, norms, -np.inf)))
    jump, rise = float(norms[peak] / norms[0]), float(np.nanmax(loss) / loss[0])
    if jump < JUMP_BEFORE_DEATH and rise < LOSS_RISE_BEFORE_DEATH:
        return "", ""
    at_lr = f", lr {lr[peak]:.3g}" if np.isfinite(lr[peak]) else ""
    story = (f", after the gradient norm jumped {jump:.3g}x at step {int(trace.steps[peak])}{at_lr}" if
             jump >= JUMP_BEFORE_DEATH else f", after the loss rose to {rise:.3g}x its start{at_lr}")
    return story, ("the updates were too large before the units died (not the activation function): lower the "
                   "learning rate or warm it up, and clip the gradient norm (gradscope recommend); LeakyReLU/GELU "
                   "keep a gradient where ReLU has none")


def _signal_biases(trace: Trace) -> list[int]:
    """Biases of layers with a weight matrix: their gradient IS the backpropagated signal at that depth.

    With small-init tanh the weight gradients (signal x activation) stay flat with depth, because the signal
    shrinks backward while the activations shrink forward; the biases still show the signal vanishing.
    Normalisation layers' biases (no 2-D weight beside them) are left out."""
    info = trace.info
    shapes = dict(zip(info.param_names, info.param_shapes, strict=True))
    out = []
    for j, (name, shape) in enumerate(zip(info.param_names, info.param_shapes, strict=True)):
        head, _, leaf = name.rpartition(".")
        weight = f"{head}.{leaf.replace('bias', 'weight')}" if head else leaf.replace("bias", "weight")
        if len(shape) == 1 and "bias" in leaf and len(shapes.get(weight, [])) >= 2:
            out.append(j)
    return out


def _across_depth(trace: Trace, t: Thresholds, before_step: int | None = None) -> list[Symptom]:
    """Early layers' typical gradient norm against late layers': weight matrices first, then biases."""
    steps, norms = trace.grad_norms.series()
    bad = first_nonfinite_step(trace)
    if bad is not None:
        norms, steps = norms[steps < bad], steps[steps < bad]
    if before_step is not None:
        norms = norms[steps < before_step]
    if len(norms) < 3:
        return []
    kept = _loss_kept(trace, t)  # the loss's end over its start: how much the run trained, whatever the layers
    for what, layers in (("weight matrices", _weight_layers(trace)), ("biases", _signal_biases(trace))):
        if len(layers) >= t.min_weight_layers:
            found = _depth_ratio(trace, t, norms, layers, what, kept)
            if found:
                return found
    return []


def _depth_ratio(trace: Trace, t: Thresholds, norms: np.ndarray, layers: list[int], what: str,
                 kept: float | None) -> list[Symptom]:
    info = trace.info
    typical = np.median(norms[:, layers], axis=0)
    third = max(1, len(layers) // 3)
    early, late = float(np.median(typical[:third])), float(np.median(typical[-third:]))
    untrained = kept is not None and kept > 1 - t.plateau_noise_max_improvement
    bar = t.vanishing_ratio_untrained if untrained else t.vanishing_ratio
    if not late > 0 or not early / late < bar:  # NaN (no finite norm to compare) says nothing
        return []
    ratio = early / late
    smallest = layers[int(np.argmin(typical[:third]))]
    per_layer = {info.param_names[j]: float(v) for j, v in zip(layers, typical, strict=True)}
    trains = kept is not None and kept <= t.vanishing_trains_well
    return [Symptom(
        VANISHING_GRADIENT, Severity.INFO if trains else Severity.WARNING, int(trace.steps[0]),
        f"gradients vanish with depth: early {what} get {ratio:.2g}x the gradient norm of late ones "
        f"({info.param_names[layers[0]]}: {typical[0]:.2g}, {info.param_names[layers[-1]]}: {typical[-1]:.2g})"
        + (f"; the run trains well all the same (its loss ends at {kept:.2g}x its start)" if trains else ""),
        parameter=info.param_names[smallest],
        evidence={"compared": what, "early_to_late_ratio": ratio, "early_median_grad_norm": early,
                  "late_median_grad_norm": late, "layer_median_grad_norms": per_layer,
                  "loss_end_over_start": kept, "trains_well": trains,
                  "thresholds": {"ratio": bar, "min_layers": t.min_weight_layers,
                                 "trains_well": t.vanishing_trains_well}},
        advice=("nothing to fix while it trains this well; if the early layers should learn more, a "
                "variance-preserving initialisation (Kaiming/Xavier), normalisation or residual connections "
                "even out the gradients" if trains else "")
        or _before(trace, int(trace.steps[-1]) + 1)[1]
        or "clipping cannot help: use ReLU/GELU instead of sigmoid/tanh, add normalisation or residual "
           "connections, or a variance-preserving initialisation (Kaiming/Xavier)")]


def _loss_kept(trace: Trace, t: Thresholds) -> float | None:
    """The late loss over the start loss (medians of the last `edge_fraction` and the first `start_steps` of a
    finite run), None where that says nothing: a run that went non-finite, or a loss that is not positive."""
    loss = trace.loss
    if len(loss) < t.trend_min_steps or not np.all(np.isfinite(loss)):
        return None
    k = max(3, int(len(loss) * t.edge_fraction))
    start, late = float(np.median(loss[:max(3, min(k, t.start_steps))])), float(np.median(loss[-k:]))
    return late / start if start > 0 and late >= 0 else None


def _collapse(trace: Trace, t: Thresholds) -> list[Symptom]:
    norms = finite_prefix(trace.grad_norm)
    loss = finite_prefix(trace.loss)
    if len(norms) < COLLAPSE_MIN_STEPS or len(loss) < COLLAPSE_MIN_STEPS:
        return []
    k = max(3, len(norms) // 10)
    early, late = float(np.median(norms[:k])), float(np.median(norms[-k:]))
    start, end = float(np.median(loss[:k])), float(np.median(loss[-k:]))
    if early <= 0 or late >= t.collapse_ratio * early or start <= 0 or end < t.collapse_min_loss_left * start:
        return []
    step = int(trace.steps[int(np.argmax(norms < t.collapse_ratio * early))])
    return [Symptom(
        VANISHING_GRADIENT, Severity.WARNING, step,
        f"gradient norm collapsed from {early:.3g} to {late:.3g} while the loss stayed at {end:.4g}",
        evidence={"early_grad_norm": early, "late_grad_norm": late, "start_loss": start, "late_loss": end,
                  "thresholds": {"collapse_ratio": t.collapse_ratio, "min_loss_left": t.collapse_min_loss_left}},
        advice="units are saturating or dying (sigmoid/tanh saturation, dead ReLUs): lower the learning rate, "
               "use another activation or initialisation, or add normalisation")]


VANISHING = Detector((VANISHING_GRADIENT,), detect_vanishing_gradient)
