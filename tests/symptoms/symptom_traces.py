"""Hand-built traces for the detector tests: numpy only, no torch, no training.

`make_trace` turns whole columns into a `Trace`; the `healthy_*` generators draw noisy traces of runs that
train fine (minibatch noise, Adam's early transient, warm-up, a falling loss), seeded by a numpy Generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gradscope.trace.trace import Event, RunInfo, Trace

FLOAT32_MAX = float(np.finfo(np.float32).max)

# A small MLP's parameters in registration order (input side first), as `Monitor` would record them.
MLP_PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
MLP_SHAPES = [[32, 16], [32], [32, 32], [32], [32, 32], [32], [1, 32], [1]]


def mlp_info(names: Sequence[str] = MLP_PARAMS, shapes: Sequence[Sequence[int]] = MLP_SHAPES,
             modules: Sequence[str] | None = None, events: Sequence[Event] = ()) -> RunInfo:
    return RunInfo(list(names), [list(s) for s in shapes],
                   list(modules) if modules is not None else ["Linear"] * len(names), events=list(events))


def make_trace(loss: Sequence[float], grad_norm: Sequence[float] | None = None,
               weight_norm: Sequence[float] | None = None, *, layer_grads: np.ndarray | None = None,
               layer_weights: np.ndarray | None = None, nonfinite_grads: Sequence[int] | None = None,
               info: RunInfo | None = None, events: Sequence[Event] = ()) -> Trace:
    """A trace from whole columns. Unset columns get neutral values: a constant, finite weight norm, a
    gradient norm of 1, per-parameter norms that add up to the global ones, no non-finite gradients."""
    loss = np.asarray(loss, np.float64)
    n = len(loss)
    info = info or mlp_info(events=events)
    if events and not info.events:
        info.events = list(events)
    k = len(info.param_names)
    grad_norm = np.ones(n) if grad_norm is None else np.asarray(grad_norm, np.float64)
    weight_norm = np.full(n, 5.0) if weight_norm is None else np.asarray(weight_norm, np.float64)
    if layer_grads is None:
        layer_grads = np.repeat(grad_norm[:, None] / np.sqrt(k), k, axis=1)
    if layer_weights is None:
        layer_weights = np.repeat(weight_norm[:, None] / np.sqrt(k), k, axis=1)
    if nonfinite_grads is None:
        nonfinite_grads = (~np.isfinite(np.asarray(layer_grads))).sum(axis=1)
    columns = {"step": np.arange(n), "loss": loss, "grad_norm": grad_norm, "weight_norm": weight_norm,
               "nonfinite_grads": np.asarray(nonfinite_grads), "lr": np.full(n, 0.01),
               "grad_max_abs": grad_norm / 4, "seconds": np.arange(n) * 0.01}
    return Trace.from_columns(info, columns, layer_grads, layer_weights)


def lognormal(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(n))


def falling_loss(rng: np.random.Generator, n: int) -> np.ndarray:
    """A minibatch loss: exponential approach to a floor, multiplicative noise of 5-25%."""
    start = rng.uniform(0.5, 3.0)
    floor = start * rng.uniform(0.01, 0.4)
    tau = rng.uniform(20, 150)
    t = np.arange(n)
    return (floor + (start - floor) * np.exp(-t / tau)) * lognormal(rng, rng.uniform(0.05, 0.25), n)


def _weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Weight norm drifting by a few percent over the run, as trained weights do."""
    w0 = rng.uniform(2, 30)
    return w0 * (1 + rng.uniform(-0.05, 0.3) * np.arange(n) / n) * (1 + 1e-3 * rng.standard_normal(n))


def _layers(rng: np.random.Generator, grad_norm: np.ndarray, k: int = len(MLP_PARAMS)) -> np.ndarray:
    """Per-parameter norms: fixed shares of the global norm (within 30x of each other), each with noise."""
    shares = rng.uniform(0.1, 3.0, k)
    per = grad_norm[:, None] * shares[None, :] * lognormal(rng, 0.2, len(grad_norm) * k).reshape(-1, k)
    return per / np.sqrt((shares ** 2).sum())


def healthy_sgd(rng: np.random.Generator, n: int = 300) -> Trace:
    """Minibatch SGD: the gradient norm decays slowly toward a noise floor, lognormal noise up to 50%."""
    t = np.arange(n)
    g0 = 10 ** rng.uniform(-2, 1)
    decay = rng.uniform(0.2, 1.0)
    trend = decay + (1 - decay) * np.exp(-t / rng.uniform(30, 200))
    grad = g0 * trend * lognormal(rng, rng.uniform(0.1, 0.5), n)
    return make_trace(falling_loss(rng, n), grad, _weights(rng, n), layer_grads=_layers(rng, grad))


def healthy_adam_transient(rng: np.random.Generator, n: int = 300) -> Trace:
    """Adam's first steps: the gradient norm jumps 2-5x over the first 5-30 steps, then settles."""
    t = np.arange(n)
    g0 = 10 ** rng.uniform(-2, 1)
    peak = rng.uniform(2, 5)
    rise = rng.uniform(5, 30)
    bump = (peak - 1) * np.clip(t / rise, 0, 1) * np.exp(-np.clip(t - rise, 0, None) / rng.uniform(10, 60))
    grad = g0 * (1 + bump) * lognormal(rng, rng.uniform(0.1, 0.4), n)
    loss = falling_loss(rng, n)
    loss[: int(rise)] *= 1 + 0.3 * bump[: int(rise)] / peak  # the loss wobbles while the norm climbs
    return make_trace(loss, grad, _weights(rng, n), layer_grads=_layers(rng, grad))


def healthy_warmup(rng: np.random.Generator, n: int = 300) -> Trace:
    """Learning-rate warm-up: the gradient norm climbs a few x (2-8x, geometrically) over the warm-up."""
    t = np.arange(n)
    g0 = 10 ** rng.uniform(-2, 1)
    factor = rng.uniform(2, 8)
    warm = rng.uniform(20, 120)
    grad = g0 * factor ** np.clip(t / warm, 0, 1) * lognormal(rng, rng.uniform(0.05, 0.3), n)
    return make_trace(falling_loss(rng, n), grad, _weights(rng, n), layer_grads=_layers(rng, grad))


def healthy_converging(rng: np.random.Generator, n: int = 300) -> Trace:
    """A loss that falls by orders of magnitude (a regression fitting its data) with the gradient norm
    falling along with it: tiny late values whose relative noise is large."""
    t = np.arange(n)
    rate = rng.uniform(0.01, 0.05)
    noise = rng.uniform(0.1, 0.5)
    loss = rng.uniform(0.5, 5) * (np.exp(-rate * t) + 1e-4) * lognormal(rng, noise, n)
    grad = rng.uniform(0.5, 5) * np.sqrt(np.exp(-rate * t) + 1e-4) * lognormal(rng, noise, n)
    return make_trace(loss, grad, _weights(rng, n), layer_grads=_layers(rng, grad))


def healthy_converged_classifier(rng: np.random.Generator, n: int = 400) -> Trace:
    """A classifier trained to near-zero loss (Adam on separable data): late minibatch losses and gradient
    norms swing 10-30x from batch to batch (one hard example in a batch), noise of ~1 in log terms."""
    t = np.arange(n)
    floor = 10 ** rng.uniform(-4, -2.5)
    tau = rng.uniform(15, 40)
    clean = floor + (1.2 - floor) * np.exp(-t / tau)
    heavy = np.clip(t / (3 * tau), 0, 1) * rng.uniform(0.7, 1.1)  # the noise grows as the loss gets tiny
    loss = clean * np.exp(heavy * rng.standard_normal(n) + 0.1 * rng.standard_normal(n))
    grad = np.sqrt(clean) * np.exp(heavy * rng.standard_normal(n) + 0.1 * rng.standard_normal(n))
    return make_trace(loss, grad, _weights(rng, n), layer_grads=_layers(rng, grad))


HEALTHY: dict[str, Callable[[np.random.Generator], Trace]] = {
    "sgd_noise": healthy_sgd,
    "adam_transient": healthy_adam_transient,
    "warmup": healthy_warmup,
    "converging": healthy_converging,
    "converged_classifier": healthy_converged_classifier,
}


def noisy_baseline(rng: np.random.Generator, n: int, level: float = 1.0, sigma: float = 0.3) -> np.ndarray:
    return level * lognormal(rng, sigma, n)


def exploding_norms(rng: np.random.Generator, *, calm: int, doubling: float, level: float = 1.0,
                    sigma: float = 0.3, n: int = 400) -> tuple[np.ndarray, int]:
    """A noisy baseline for `calm` steps, then doubling every `doubling` steps (with noise) until float32
    overflows. Returns (norms with Inf from the overflow on, the first overflowing step)."""
    t = np.arange(n)
    growth = np.where(t < calm, 0.0, (t - calm) * np.log(2) / doubling)
    with np.errstate(over="ignore"):
        norms = level * np.exp(growth) * lognormal(rng, sigma if sigma else 0.0, n)
    over = np.flatnonzero(norms >= FLOAT32_MAX)
    first = int(over[0]) if len(over) else n
    norms[first:] = np.inf
    return norms, first
