"""exploding_gradient: sustained exponential growth of the global gradient norm, flagged early; only that."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symptom_traces import FLOAT32_MAX, MLP_PARAMS, exploding_norms, lognormal, make_trace

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms import Severity, SymptomKind
from gradscope.diagnose.symptoms.growth import detect_exploding_gradient, find_growth
from gradscope.diagnose.symptoms.thresholds import DEFAULT as T

LOSS_OVERFLOW = math.sqrt(FLOAT32_MAX)  # an MSE loss ~ norm**2 overflows float32 when the norm passes this


def mse_like_run(norms: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Loss ~ (norm / level)**2; from the first step whose squared norm overflows float32, loss and norm are
    non-finite, as in a plain torch loop. Returns (loss, norms, first non-finite step)."""
    first = int(np.flatnonzero(~(norms < LOSS_OVERFLOW))[0])
    loss = (norms[: first + 1] / level) ** 2
    loss[first] = math.inf
    norms = norms[: first + 1].copy()
    norms[first] = math.nan
    return loss, norms, first


def exploding(trace):
    return [s for s in diagnose_trace(trace).symptoms if s.kind is SymptomKind.EXPLODING_GRADIENT]


@pytest.mark.parametrize("doubling", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("level", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize("calm", [0, 40])
def test_doubling_every_step_or_two_is_flagged_30_steps_before_the_first_overflow(doubling, level, calm):
    for seed in range(5):
        rng = np.random.default_rng(seed)
        norms, _ = exploding_norms(rng, calm=calm, doubling=doubling, level=level, sigma=0.3)
        loss, norms, first_bad = mse_like_run(norms, level)
        [symptom] = exploding(make_trace(loss, norms))
        assert symptom.severity is Severity.CRITICAL
        assert symptom.step <= first_bad - 30, (seed, symptom.step, first_bad)
        ev = symptom.evidence
        assert ev["first_nonfinite_step"] == first_bad
        assert ev["onset_step"] >= calm - 8  # the climb, not the calm baseline before it
        assert doubling / 2 <= ev["doubling_steps"] <= doubling * 2
        assert not ev["recovered"]


def test_exploding_names_the_fastest_growing_layer():
    n = 120
    rng = np.random.default_rng(0)
    layer = np.repeat(lognormal(rng, 0.2, n)[:, None], len(MLP_PARAMS), axis=1)
    growth = 2.0 ** (np.clip(np.arange(n) - 20, 0, None) / 2)
    layer[:, MLP_PARAMS.index("2.weight")] *= growth
    layer[:, MLP_PARAMS.index("4.weight")] *= np.sqrt(growth)
    norms = np.sqrt((layer ** 2).sum(axis=1))
    [symptom] = exploding(make_trace(norms ** 2, norms, layer_grads=layer))
    assert symptom.parameter == "2.weight"
    assert [x["parameter"] for x in symptom.evidence["fastest_layers"][:2]] == ["2.weight", "4.weight"]


@pytest.mark.parametrize("doubling, flagged", [(T.max_doubling_steps - 1, True),
                                               (T.max_doubling_steps + 1, False)])
def test_growth_must_double_at_least_every_12_steps(doubling, flagged):
    norms = 2.0 ** (np.arange(400) / doubling)  # reaches 1e7-1e10x its start: only the pace differs
    assert bool(detect_exploding_gradient(make_trace(np.ones(400), norms))) is flagged


@pytest.mark.parametrize("steps, flagged", [(27, False), (28, True)])
def test_growth_must_climb_100x_above_the_start(steps, flagged):
    """Doubling every step from step 20 until the run ends: at 64x (27 steps) or 128x (28 steps) its start."""
    norms = 2.0 ** np.clip(np.arange(steps) - 20, 0, None)
    assert norms[-1] / T.min_growth_over_baseline in (0.64, 1.28)
    assert bool(detect_exploding_gradient(make_trace(np.ones(steps), norms))) is flagged


@pytest.mark.parametrize("level, flagged", [(1e3, False), (1e5, True)])
def test_a_rise_that_settles_at_a_new_level_is_not_an_explosion(level, flagged):
    """Doubling every step to 1e3x, then holding for 60 steps (a layer coming alive): no symptom.
    A climb of 4 orders of magnitude or more is flagged even when it stops."""
    norms = np.minimum(2.0 ** np.clip(np.arange(140) - 20, 0, None), level)
    assert bool(detect_exploding_gradient(make_trace(np.ones(140), norms))) is flagged


@pytest.mark.parametrize("r2", [T.min_r2 - 0.02, T.min_r2 + 0.02])
def test_the_log_norm_must_lie_on_a_straight_line(r2):
    """An 8-step window: a slope plus a zig-zag orthogonal to it, sized so the fit has exactly this R^2."""
    t = np.arange(8) - 3.5
    zigzag = np.array([1, -1, -1, 1, 1, -1, -1, 1], float)  # mean 0 and orthogonal to t
    slope = math.log(2)  # doubling every step
    explained = slope ** 2 * float(t @ t)
    amplitude = math.sqrt(explained * (1 / r2 - 1) / 8)
    values = np.exp(slope * t + amplitude * zigzag)
    found = find_growth(values, max_doubling=T.max_doubling_steps, min_growth=1.0, windows=(8,))
    assert (found is not None) is (r2 >= T.min_r2)
    if found is not None:
        assert found[2].r2 == pytest.approx(r2)


def test_a_slower_rise_is_not_exploding():
    """Doubling every 20 steps for 400 steps: a million-fold, but at the pace of training dynamics."""
    rng = np.random.default_rng(1)
    norms = 2.0 ** (np.arange(400) / 20) * lognormal(rng, 0.2, 400)
    assert exploding(make_trace(np.linspace(2, 1, 400), norms)) == []


def test_a_single_spike_is_not_exploding():
    rng = np.random.default_rng(2)
    norms = lognormal(rng, 0.3, 200)
    norms[120] = 1e4
    kinds = diagnose_trace(make_trace(np.linspace(2, 1, 200), norms)).kinds()
    assert "exploding_gradient" not in kinds
    assert "gradient_spike" in kinds


@pytest.mark.parametrize("seed", range(10))
def test_noise_is_not_exploding(seed):
    rng = np.random.default_rng(seed)
    norms = lognormal(rng, 0.6, 500) * 10 ** rng.uniform(-3, 3)
    assert detect_exploding_gradient(make_trace(np.linspace(2, 1, 500), norms)) == []


def test_vanishing_norms_are_never_exploding():
    """Halving every 5 steps, down to 1e-30, and the climb back to the start after such a collapse."""
    t = np.arange(400)
    falling = 2.0 ** (-t / 5)
    assert detect_exploding_gradient(make_trace(np.ones(400), falling)) == []
    collapse_and_back = np.where(t < 100, 2.0 ** (-t / 5), 2.0 ** (-20 + (t - 100) / 2))
    collapse_and_back = np.minimum(collapse_and_back, 1.0)
    assert detect_exploding_gradient(make_trace(np.ones(400), collapse_and_back)) == []


def burst(n: int = 300, at: int = 150, steps: int = 12, factor: float = 2.0) -> np.ndarray:
    """A noisy calm norm with one burst: doubling each step for `steps` steps, then back to calm."""
    rng = np.random.default_rng(3)
    norms = 0.5 * lognormal(rng, 0.1, n)
    norms[at: at + steps] *= factor ** np.arange(1, steps + 1)
    return norms


def test_a_burst_that_falls_back_is_a_warning_not_a_runaway():
    """An edge-of-stability catapult: the norm climbs 4000x in 12 steps, the run recovers by itself."""
    [symptom] = exploding(make_trace(np.ones(300), burst()))
    assert symptom.severity is Severity.WARNING
    assert symptom.evidence["recovered"] is True
    assert "fell back" in symptom.message


def test_a_burst_that_ends_in_nan_is_critical():
    norms = burst()[:163]
    norms[-1] = math.nan
    [symptom] = exploding(make_trace(np.ones(163), norms))
    assert symptom.severity is Severity.CRITICAL
    assert symptom.evidence["first_nonfinite_step"] == 162


@pytest.mark.parametrize("settle, severity", [(T.recovered_within * 0.8, Severity.WARNING),
                                              (T.recovered_within * 1.25, Severity.CRITICAL)])
def test_recovery_means_ending_within_10x_of_the_level_before_the_burst(settle, severity):
    norms = burst()
    norms[165:] = 0.5 * settle  # the calm level is ~0.5
    [symptom] = exploding(make_trace(np.ones(300), norms))
    assert symptom.severity is severity


def test_a_climb_still_going_when_the_run_ends_is_critical_with_a_projection():
    norms = 2.0 ** (np.clip(np.arange(80) - 30, 0, None) / 2)
    [symptom] = exploding(make_trace(norms ** 2, norms))
    assert symptom.severity is Severity.CRITICAL
    assert symptom.evidence["first_nonfinite_step"] is None
    assert symptom.evidence["projected_steps_to_overflow"] == pytest.approx(
        2 * math.log2(FLOAT32_MAX / norms[-1]), abs=2)
