"""loss_divergence (ends far above its start or best) and loss_plateau (does not train)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symptom_traces import make_trace

from gradscope.diagnose.symptoms import Severity
from gradscope.diagnose.symptoms.loss import detect_loss_divergence, detect_loss_plateau
from gradscope.diagnose.symptoms.thresholds import DEFAULT as T

N = 200


def three_levels(start: float, best: float, late: float, n: int = N) -> np.ndarray:
    """Flat at `start` for 20 steps, down to `best` until 60% of the run, then flat at `late` to the end."""
    loss = np.empty(n)
    loss[:20] = start
    loss[20: int(0.6 * n)] = best
    loss[int(0.6 * n):] = late
    return loss


@pytest.mark.parametrize("late, flagged", [(1.0 + (T.diverged_over_start - 1) * 0.98, False),
                                           (1.0 + (T.diverged_over_start - 1) * 1.02, True)])
def test_divergence_when_the_loss_ends_1_5x_above_its_start(late, flagged):
    loss = three_levels(1.0, 1.0, late)
    found = detect_loss_divergence(make_trace(loss))
    assert bool(found) is flagged
    if flagged:
        [symptom] = found
        assert symptom.severity is Severity.CRITICAL  # it ends above where it started: the run is broken
        assert "the run is broken: it ends at or above where it started" in symptom.message
        assert symptom.step == pytest.approx(int(0.6 * N), abs=1)  # where it went over the bar (smoothed)
        assert symptom.evidence["late_loss"] == pytest.approx(late)


@pytest.mark.parametrize("late, runaway", [(T.runaway_over_start * 0.98, False), (T.runaway_over_start * 1.02, True)])
def test_a_loss_that_ends_above_its_start_is_critical_runaway_or_not(late, runaway):
    """Without NaN or exponential growth, a run whose loss ends above where it started is still broken."""
    [symptom] = detect_loss_divergence(make_trace(three_levels(1.0, 1.0, late)))
    assert symptom.severity is Severity.CRITICAL
    assert symptom.evidence["runaway"] is runaway


@pytest.mark.parametrize("given_back, severity", [(0.6, Severity.WARNING),
                                                  (T.broken_lost_progress * 0.97, Severity.WARNING),
                                                  (T.broken_lost_progress * 1.03, Severity.CRITICAL),
                                                  (0.99, Severity.CRITICAL)])
def test_giving_back_nearly_all_progress_is_critical(given_back, severity):
    """A ResNet-like run: 2.3 -> 0.12, then back up. Part of the progress lost is a warning; (nearly) all is
    a broken run."""
    start, best = 2.3, 0.12
    [symptom] = detect_loss_divergence(make_trace(three_levels(start, best, best + given_back * (start - best))))
    assert symptom.severity is severity
    assert symptom.evidence["progress_given_back"] == pytest.approx(given_back)
    assert symptom.evidence["broken"] is (severity is Severity.CRITICAL)


@pytest.mark.parametrize("fraction, flagged", [(T.lost_progress * 0.96, False), (T.lost_progress * 1.04, True)])
def test_divergence_when_it_gives_back_half_of_what_it_learned(fraction, flagged):
    start, best = 2.0, 0.5
    late = best + fraction * (start - best)  # 1.22 or 1.28: below its start, far above its lowest level
    found = detect_loss_divergence(make_trace(three_levels(start, best, late)))
    assert bool(found) is flagged
    if flagged:
        assert found[0].evidence["lowest_level"] == pytest.approx(best)
        assert "its lowest level" in found[0].message


@pytest.mark.parametrize("over_best, flagged", [(T.lost_over_best * 0.98, False),
                                                (T.lost_over_best * 1.02, True)])
def test_giving_back_progress_needs_the_loss_1_5x_above_its_best(over_best, flagged):
    """It learned little (1.0 -> 0.96, under the 5% a plateau calls noise), so giving it back is still only noise
    unless it lands 1.5x up."""
    late = 0.96 * over_best  # 1.41 or 1.47, under 1.5x the start
    assert bool(detect_loss_divergence(make_trace(three_levels(1.0, 0.96, late)))) is flagged


@pytest.mark.parametrize("sigma, undone", [(0.0, True), (0.01, True), (0.06, False)])
def test_a_run_that_trained_and_went_back_to_its_start_is_broken_however_close_to_its_lowest_level(sigma, undone):
    """A classifier thrown back to chance (a conv net under a OneCycle peak: levels 1.62 -> 1.51 -> 1.61, 1.07x its
    lowest level) did train and undid it: a broken run's divergence, not a plateau "after a first drop". With a
    step noise of 6% the same dip of 7% is within three sigmas of that noise, and the run is left to the plateau."""
    z = np.random.default_rng(0).standard_normal(N)
    loss = three_levels(1.62, 1.51, 1.61) * np.exp(sigma * z)
    divergence, plateau = detect_loss_divergence(make_trace(loss)), detect_loss_plateau(make_trace(loss))
    if undone:
        [symptom] = divergence
        assert symptom.severity is Severity.CRITICAL and "the run is broken: it gave back" in symptom.message
        assert plateau == []
    else:
        assert divergence == [] and plateau


def test_divergence_looks_only_at_the_finite_losses():
    loss = np.linspace(2.0, 0.5, N)
    loss[150:] = math.nan
    assert detect_loss_divergence(make_trace(loss)) == []


def test_a_run_that_never_improved_is_said_so_not_inf_percent():
    """A loss that climbs from its first step and then overflows: no progress to give back, so no 'inf%'."""
    loss = 252.4 * np.exp(np.linspace(0.0, 40.0, N))
    loss[-5:] = math.inf
    [found] = detect_loss_divergence(make_trace(loss))
    assert "never got below its start" in found.message and "inf%" not in found.message


def test_a_falling_noisy_loss_does_not_diverge():
    rng = np.random.default_rng(0)
    loss = (0.2 + 2 * np.exp(-np.arange(N) / 40)) * np.exp(0.2 * rng.standard_normal(N))
    assert detect_loss_divergence(make_trace(loss)) == []


@pytest.mark.parametrize("improvement, flagged", [(T.plateau_max_improvement * 0.5, True),
                                                  (T.plateau_max_improvement * 1.5, False)])
def test_plateau_when_the_loss_improves_less_than_1_percent(improvement, flagged):
    loss = np.full(N, 1.6)
    loss[N // 2:] = 1.6 * (1 - improvement)
    found = detect_loss_plateau(make_trace(loss))
    assert bool(found) is flagged
    if flagged:
        [symptom] = found
        assert (symptom.step, symptom.severity) == (0, Severity.CRITICAL)  # it never trained: broken
        assert symptom.evidence["improvement"] == pytest.approx(improvement)


@pytest.mark.parametrize("steps, flagged", [(T.plateau_min_steps - 1, False), (T.plateau_min_steps, True)])
def test_plateau_needs_20_steps(steps, flagged):
    assert bool(detect_loss_plateau(make_trace(np.full(steps, 0.69)))) is flagged


def test_no_plateau_at_zero_loss_or_on_a_rising_loss_or_after_nan():
    assert detect_loss_plateau(make_trace(np.zeros(N))) == []
    assert detect_loss_plateau(make_trace(three_levels(1.0, 1.0, 2.0))) == []  # that is divergence
    flat_then_nan = np.full(N, 1.0)
    flat_then_nan[-5:] = math.nan
    assert detect_loss_plateau(make_trace(flat_then_nan)) == []


@pytest.mark.parametrize("late", [1.6 * 0.995, 1.6, 1.6 * 1.05])
def test_a_plateau_is_a_broken_run_whether_it_ends_a_little_below_or_above(late):
    loss = np.full(N, 1.6)
    loss[N // 2:] = late
    [symptom] = detect_loss_plateau(make_trace(loss))
    assert symptom.severity is Severity.CRITICAL and "the run is broken" in symptom.message


def test_a_plateau_after_a_first_drop_is_a_warning():
    loss = np.full(N, 1.6)
    loss[0] = 2.4  # step 0, before any update: the first updates helped, then it stuck
    [symptom] = detect_loss_plateau(make_trace(loss))
    assert symptom.severity is Severity.WARNING and "after a first drop from 2.4" in symptom.message



def wobbling(sigma: float = 0.3, n: int = N) -> np.ndarray:
    """Minibatch noise around one level: the same 20 log-noise values over and over, their order alternated, so
    there is no trend at all; the first 10 steps take the larger half of them (a start median above the end's)."""
    base = np.linspace(-1.6, 1.6, 20)
    pattern = np.concatenate([base[::2], base[1::2]])
    z = np.tile(pattern, n // 20)
    z[:10] = np.sort(base)[6:16]  # the start window: a median a little above the level
    return 0.42 * np.exp(sigma * z)


def test_a_loss_that_only_wobbles_around_one_level_is_a_plateau_though_its_end_medians_differ():
    loss = wobbling()
    start, late = np.median(loss[:10]), np.median(loss[-20:])
    assert T.plateau_max_improvement < (start - late) / start < T.plateau_noise_max_improvement  # past the 1% rule
    [symptom] = detect_loss_plateau(make_trace(loss))
    assert symptom.evidence["within_noise"] and "within its noise" in symptom.message


@pytest.mark.parametrize("seed", range(8))
def test_a_noisy_loss_that_trains_slowly_is_no_plateau(seed):
    # 30% minibatch noise over a decline of 30% in 200 steps: a trend of ~5 standard errors of the fitted slope
    loss = 0.42 * np.linspace(1.0, 0.7, N) * np.exp(0.3 * np.random.default_rng(seed).standard_normal(N))
    assert detect_loss_plateau(make_trace(loss)) == []


def thrown_then_back(rng: np.random.Generator, n: int = 40) -> np.ndarray:
    """A GPT at chance (log 65 = 4.17) thrown 1.3x by its first updates, back at chance later on, with the 2%
    step noise of the measured run (its log loss's robust sigma: 0.023)."""
    head = [4.17, 4.35, 4.94, 5.38, 4.78, 4.55, 4.70, 4.69, 4.46, 4.51]
    return np.concatenate([head, 4.19 * np.exp(0.02 * rng.standard_normal(n - len(head)))])


def test_a_run_thrown_up_at_the_start_and_back_where_it_began_does_not_train():
    """Its start level (the median of its first 10 steps, 4.6) holds the thrown losses: coming back down to 4.19
    from there is 9% "better", yet the run ends where step 0 began. Judged from step 0 it does not train (a
    warning: the lr threw it, and it may yet train), and the advice is the learning rate, not a higher one."""
    loss = thrown_then_back(np.random.default_rng(0))
    [symptom] = detect_loss_plateau(make_trace(loss))
    assert symptom.severity is Severity.WARNING and symptom.evidence["thrown_start"]
    assert "after its first updates threw it up to 5.38" in symptom.message
    assert symptom.evidence["start_loss"] == pytest.approx(4.17) and "lower it or warm it up" in symptom.advice


@pytest.mark.parametrize("seed", range(8))
def test_a_lucky_first_batch_of_a_noisy_run_is_no_throw(seed):
    """30% minibatch noise, step 0 a batch 2.5 sigmas below the level, a 30% decline: the start level stays the
    median (a first loss that low is the noise, not the others thrown up), and the run is no plateau."""
    z = np.random.default_rng(seed).standard_normal(N)
    z[0] = -2.5
    loss = 0.42 * np.linspace(1.0, 0.7, N) * np.exp(0.3 * z)
    assert detect_loss_plateau(make_trace(loss)) == []


def test_a_thrown_run_that_trained_and_gave_it_back_is_left_to_divergence():
    """Thrown up, then down to half its start, then back where it began (an 8-layer ReLU MLP at Adam lr 0.1): it
    did train for a while, and losing it again is loss_divergence's finding, not a plateau's."""
    loss = thrown_then_back(np.random.default_rng(0), n=60)
    loss[15:35] = 2.0
    assert detect_loss_plateau(make_trace(loss)) == []
    assert detect_loss_divergence(make_trace(loss))
