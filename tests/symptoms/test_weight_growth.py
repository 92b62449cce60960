"""weight_growth: critical when the weight norm grows exponentially or nears float32 range, else a warning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symptom_traces import lognormal, make_trace

from gradscope.diagnose.symptoms import Severity
from gradscope.diagnose.symptoms.growth import detect_weight_growth
from gradscope.diagnose.symptoms.thresholds import DEFAULT

N = 400
T = np.arange(N)


def weights_trace(weights: np.ndarray):
    return make_trace(np.ones(len(weights)), np.ones(len(weights)), weights)


@pytest.mark.parametrize("doubling, severity", [(DEFAULT.weight_max_doubling_steps - 1, Severity.CRITICAL),
                                                (DEFAULT.weight_max_doubling_steps + 1, Severity.WARNING)])
def test_exponential_weight_growth_must_double_every_25_steps_to_be_critical(doubling, severity):
    """Both grow 1e4-1e5x over the run: the faster one is exponential runaway, the slower a large rise."""
    [symptom] = detect_weight_growth(weights_trace(3.0 * 2.0 ** (T / doubling)))
    assert symptom.severity is severity
    if severity is Severity.CRITICAL:
        assert symptom.evidence["doubling_steps"] == pytest.approx(doubling, rel=0.05)


@pytest.mark.parametrize("top, found", [(DEFAULT.weight_min_growth * 0.95, False),
                                        (DEFAULT.weight_min_growth * 1.05, True)])
def test_exponential_growth_counts_once_the_norm_is_10x_its_start(top, found):
    """Doubling each step, then holding at 9.5x / 10.5x: a burst that stopped is a warning, not a runaway."""
    weights = np.minimum(2.0 ** np.clip(T - 50, 0, None), top)
    symptoms = detect_weight_growth(weights_trace(weights))
    assert bool(symptoms) is found
    if found:
        assert symptoms[0].severity is Severity.WARNING and symptoms[0].evidence["stopped"] is True


def test_exponential_growth_still_going_at_the_end_is_critical():
    weights = 2.0 ** np.clip(T - (N - 30), 0, None)  # doubling each step over the run's last 30 steps
    [symptom] = detect_weight_growth(weights_trace(weights))
    assert symptom.severity is Severity.CRITICAL and symptom.evidence["stopped"] is False


@pytest.mark.parametrize("end, found", [(DEFAULT.weight_growth_warning * 0.98, False),
                                        (DEFAULT.weight_growth_warning * 1.02, True)])
def test_a_slow_rise_is_a_warning_from_100x(end, found):
    weights = 1.0 + (end - 1.0) * np.clip(T - 8, 0, None) / (N - 9)  # 1 for 8 steps, then a line to 98 or 102
    symptoms = detect_weight_growth(weights_trace(weights))
    assert bool(symptoms) is found
    if found:
        [symptom] = symptoms
        assert symptom.severity is Severity.WARNING
        assert symptom.evidence["growth_over_baseline"] == pytest.approx(end)


@pytest.mark.parametrize("start, slope", [(1.0, 1.0), (0.1, 0.25), (0.01, 1.0)])
def test_steady_linear_growth_from_a_small_start_is_not_called_exponential(start, slope):
    """w = w0 + c t climbs fast in log terms at first (log-slope c / w), but it is not exponential."""
    symptoms = detect_weight_growth(weights_trace(start + slope * T))
    assert all(s.severity is Severity.WARNING for s in symptoms)
    assert all("exponentially" not in s.message for s in symptoms)


def test_noisy_exponential_growth_is_still_exponential():
    rng = np.random.default_rng(0)
    weights = 2.0 ** (T / 10) * lognormal(rng, 0.05, N)
    [symptom] = detect_weight_growth(weights_trace(weights))
    assert symptom.severity is Severity.CRITICAL
    assert symptom.step < 60


@pytest.mark.parametrize("peak, severity", [(DEFAULT.weight_near_overflow * 0.5, Severity.WARNING),
                                            (DEFAULT.weight_near_overflow * 2.0, Severity.CRITICAL)])
def test_a_weight_norm_near_float32_range_is_critical(peak, severity):
    weights = np.full(N, 5.0)
    weights[200:] = peak  # a jump, not exponential growth
    [symptom] = detect_weight_growth(weights_trace(weights))
    assert (symptom.severity, symptom.step) == (severity, 200)


def test_growth_is_judged_before_the_weights_went_nonfinite():
    weights = 3.0 * 2.0 ** (T / 5)
    weights[150:] = math.inf
    [symptom] = detect_weight_growth(weights_trace(weights))
    assert symptom.severity is Severity.CRITICAL
    assert symptom.step < 150


def test_trained_weights_drifting_a_few_percent_are_fine():
    rng = np.random.default_rng(1)
    weights = 12.0 * (1 + 0.3 * T / N) * lognormal(rng, 0.001, N)
    assert detect_weight_growth(weights_trace(weights)) == []


def test_weights_thrown_in_the_first_steps_are_judged_from_before_any_update():
    """The Lightning demo at lr 20: the weight norm 1.797 before step 0, 831 by step 4, 2,677 by the end; the
    median of the first steps (~830) said no 100x rise. Judged from the weights before any update: a warning from
    the step it passed 100x."""
    weights = np.concatenate([[1.797, 150.0, 420.0, 700.0, 831.0], np.linspace(840.0, 2677.0, 123)])
    [symptom] = detect_weight_growth(weights_trace(weights))
    assert symptom.severity is Severity.WARNING
    assert symptom.evidence["baseline_weight_norm"] == 1.797 and symptom.step == 2  # 420: 234x
