"""early_instability: an unstable start, judged against step 0 (there is no spike_window of history yet)."""

from __future__ import annotations

import numpy as np
import pytest
from symptom_traces import HEALTHY, make_trace

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms.base import Context
from gradscope.diagnose.symptoms.early import detect_early_instability
from gradscope.diagnose.symptoms.thresholds import DEFAULT as T

N = 120
# Measured on a Hugging Face Llama (random init) at AdamW lr 0.1 without warm-up (see the thresholds' comment).
LLAMA_LOSS = [4.19, 4.32, 4.84, 6.64, 5.45, 4.8, 4.42, 4.38, 4.2, 4.21, 4.11, 4.0]
LLAMA_NORM = [0.836, 2.07, 2.22, 3.63, 2.84, 1.21, 0.889, 0.642, 0.556, 0.544, 0.496, 0.54]


def llama_like(rise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The measured start (its excursion over step 0 scaled by `rise`), then a slow plateau around 3.7."""
    start = np.array(LLAMA_LOSS)
    start[1:] = start[0] + rise * (start[1:] - start[0])
    tail = 3.7 + 0.3 * np.exp(-np.arange(N - len(start)) / 30)
    rng = np.random.default_rng(0)
    loss = np.concatenate([start, tail * np.exp(0.01 * rng.standard_normal(len(tail)))])
    norms = np.concatenate([LLAMA_NORM, 0.3 * np.exp(0.2 * rng.standard_normal(N - len(LLAMA_NORM)))])
    return loss, norms


def with_lr(trace_loss, norms, lr):
    from gradscope.trace.trace import Trace

    base = make_trace(trace_loss, norms)
    columns = {name: base.column(name).copy() for name in ("step", "loss", "grad_norm", "weight_norm")}
    columns["lr"] = lr
    return Trace.from_columns(base.info, columns)


def test_the_measured_llama_start_is_a_warning_with_its_lr():
    loss, norms = llama_like()
    [symptom] = detect_early_instability(with_lr(loss, norms, np.full(N, 0.1)))
    assert symptom.severity.value == "warning" and symptom.step == 1
    assert symptom.evidence["peak_step"] == 3 and symptom.evidence["loss_ratio"] == pytest.approx(6.64 / 4.19)
    assert symptom.evidence["lr"] == 0.1 and symptom.evidence["warming_up"] is False
    assert symptom.evidence["warmup_steps"] == 20  # five times the steps to its peak (step 3)
    assert "over the first 20 steps" in symptom.advice and "lr 0.1" in symptom.advice


@pytest.mark.parametrize(("rise", "flagged"), [(0.6, False), (1.0, True)])
def test_the_window_must_sit_above_the_bar(rise, flagged):
    # At 0.6 of the measured excursion the 4-step window averages ~1.16x step 0: below 1.25x. The gradient norm
    # is kept under 4x its start here, so the shorter rule (a rise with a jump, then a plateau) stays out of it.
    loss, norms = llama_like(rise)
    assert bool(detect_early_instability(make_trace(loss, np.minimum(norms, 3.0 * norms[0])))) is flagged


def issue_22_start(late: float) -> tuple[np.ndarray, np.ndarray]:
    """Issue 22's Llama at AdamW lr 5e-2 without warm-up: 1.31x its start by step 5 with a 6x gradient-norm
    jump; then the loss falls toward `late` (as a fraction of its start)."""
    rng = np.random.default_rng(5)
    head = 4.2 * np.array([1.0, 0.97, 1.04, 1.12, 1.2, 1.31, 1.15, 1.05, 1.0, 0.97, 0.95, 0.93])
    norm_head = np.array([0.5, 1.1, 1.6, 2.2, 2.6, 3.0, 1.9, 1.2, 0.9, 0.8, 0.7, 0.6])
    t = np.arange(N - len(head))
    tail = 4.2 * (late + (0.93 - late) * np.exp(-t / 15)) * np.exp(0.01 * rng.standard_normal(len(t)))
    norms = np.concatenate([norm_head, 0.5 * np.exp(0.2 * rng.standard_normal(len(t)))])
    return np.concatenate([head, tail]), norms


def test_a_start_thrown_by_its_first_updates_that_settles_high_is_a_warning():
    loss, norms = issue_22_start(late=0.75)  # a plateau far above what a warm-up reaches
    [symptom] = detect_early_instability(make_trace(loss, norms))
    assert symptom.severity.value == "warning" and symptom.step == 5
    assert symptom.evidence["loss_ratio"] == pytest.approx(1.31) and symptom.evidence["grad_ratio"] == pytest.approx(6)
    assert symptom.evidence["warmup_steps"] == 30 and "over the first 30 steps" in symptom.advice


def test_the_same_start_that_goes_on_to_train_well_is_silent():
    loss, norms = issue_22_start(late=0.3)  # it recovers and falls far below its start: a transient
    assert detect_early_instability(make_trace(loss, norms)) == []


def test_a_rise_without_a_gradient_jump_is_not_thrown():
    loss, norms = issue_22_start(late=0.75)
    assert detect_early_instability(make_trace(loss, np.minimum(norms, 3.0 * norms[0]))) == []


def test_one_noisy_step_is_not_an_unstable_start():
    rng = np.random.default_rng(3)
    loss = (1 + np.exp(-np.arange(N) / 30)) * np.exp(0.02 * rng.standard_normal(N))
    loss[4] = loss[0] * 3.0  # one bad minibatch: the window of 4 averages it away
    assert detect_early_instability(make_trace(loss)) == []


def test_noisy_losses_raise_the_bar():
    rng = np.random.default_rng(4)
    noise = np.exp(0.3 * rng.standard_normal(N))  # minibatch log-noise 0.3: 4 sigmas is far above 1.25x
    loss, _ = llama_like()
    assert detect_early_instability(make_trace(loss * noise)) == []  # the bar is e^(4 x 0.3 x 1.12) ~ 3.8x


def test_a_rise_during_warm_up_says_so():
    loss, norms = llama_like()
    lr = np.minimum(np.arange(N) / 30, 1.0) * 0.1
    [symptom] = detect_early_instability(with_lr(loss, norms, lr))
    assert symptom.evidence["warming_up"] is True and "lengthen the warm-up" in symptom.advice


def test_an_exponential_climb_from_the_start_is_told_by_exploding_gradient():
    loss, norms = llama_like()
    assert detect_early_instability(make_trace(loss, norms), T, Context(climb_onset=5)) == []


@pytest.mark.parametrize("family", sorted(HEALTHY))
def test_healthy_starts_are_silent(family):
    for seed in range(60):
        assert detect_early_instability(HEALTHY[family](np.random.default_rng(seed))) == [], (family, seed)


def test_the_verdict_is_a_warning():
    loss, norms = llama_like()
    diagnosis = diagnose_trace(make_trace(loss, norms))
    assert diagnosis.verdict == "warning" and "early_instability" in diagnosis.kinds()
