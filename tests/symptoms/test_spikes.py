"""gradient_spike and loss_spike: one step far above the recent median, by ratio and robust (log) z-score."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symptom_traces import MLP_PARAMS, make_trace

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms import Severity, SymptomKind
from gradscope.diagnose.symptoms.spikes import detect_gradient_spike, detect_loss_spike
from gradscope.diagnose.symptoms.thresholds import DEFAULT as T
from gradscope.stats import MAD_TO_SIGMA

CALM = 2 * T.spike_window  # steps before the candidate spike
AT = CALM


def with_spike(base: np.ndarray, value: float, tail: int = 10) -> np.ndarray:
    """`base` (CALM steps), the spike at step CALM, then `tail` steps at the base's last value."""
    return np.concatenate([base, [value], np.full(tail, base[-1])])


def zigzag(spread: float, level: float = 1.0) -> np.ndarray:
    """A baseline whose log alternates +-spread: every 20-step window has median log 0 and MAD = spread."""
    return level * np.exp(spread * np.where(np.arange(CALM) % 2 == 0, 1.0, -1.0))


@pytest.mark.parametrize("ratio, flagged", [(T.grad_spike_ratio * 0.99, False),
                                            (T.grad_spike_ratio * 1.01, True)])
def test_gradient_spike_must_be_10x_the_recent_median(ratio, flagged):
    norms = with_spike(np.full(CALM, 2.0), 2.0 * ratio)
    found = detect_gradient_spike(make_trace(np.ones(len(norms)), norms))
    assert bool(found) is flagged
    if flagged:
        [symptom] = found
        assert (symptom.step, symptom.severity) == (AT, Severity.WARNING)
        assert symptom.evidence["ratio"] == pytest.approx(ratio)


@pytest.mark.parametrize("ratio, flagged", [(T.loss_spike_ratio * 0.99, False),
                                            (T.loss_spike_ratio * 1.01, True)])
def test_loss_spike_must_be_3x_the_recent_median(ratio, flagged):
    loss = with_spike(np.full(CALM, 0.5), 0.5 * ratio)
    found = detect_loss_spike(make_trace(loss))
    assert bool(found) is flagged
    if flagged:
        assert found[0].step == AT
        assert found[0].evidence["ratio"] == pytest.approx(ratio)


@pytest.mark.parametrize("z", [T.spike_z * 0.97, T.spike_z * 1.03])
@pytest.mark.parametrize("detector, value", [(detect_gradient_spike, 40.0), (detect_loss_spike, 8.0)])
def test_spike_must_be_8_robust_sigmas_above_on_the_log_scale(detector, value, z):
    """The same jump is a spike over a calm baseline and noise over a baseline whose log swings widely."""
    spread = math.log(value) / (z * MAD_TO_SIGMA)  # log(value) - median log = z * 1.4826 * MAD
    series = with_spike(zigzag(spread), value)
    trace = make_trace(series, series) if detector is detect_gradient_spike else make_trace(series)
    found = detector(trace)
    assert bool(found) is (z >= T.spike_z)
    if found:
        assert found[0].step == AT
        assert found[0].evidence["robust_z"] == pytest.approx(z, rel=1e-6)


@pytest.mark.parametrize("rise, flagged", [(T.min_rise_over_early * 0.98, False),
                                           (T.min_rise_over_early * 1.02, True)])
def test_near_convergence_a_spike_must_rise_a_tenth_of_the_early_level(rise, flagged):
    """The loss starts at 1, trains down to 1e-3 and then jumps: 100x its median, but is it anything?"""
    early = np.full(T.spike_window, 1.0)
    trained = np.full(CALM, 1e-3)
    loss = np.concatenate([early, trained, [1e-3 + rise], np.full(10, 1e-3)])
    found = detect_loss_spike(make_trace(loss))
    assert bool(found) is flagged
    norms = loss.copy()
    assert bool(detect_gradient_spike(make_trace(np.ones(len(norms)), norms))) is flagged


def test_spikes_are_counted_and_the_first_reported():
    base = np.full(100, 1.0)
    for at in (30, 55, 80):
        base[at] = 50.0
    [symptom] = detect_gradient_spike(make_trace(np.ones(100), base))
    assert symptom.step == 30
    assert symptom.evidence["count"] == 3
    assert symptom.evidence["steps"] == [30, 55, 80]


def test_one_spike_does_not_hide_the_next():
    norms = np.full(60, 1.0)
    norms[25] = 1000.0
    norms[30] = 20.0
    [symptom] = detect_gradient_spike(make_trace(np.ones(60), norms))
    assert symptom.evidence["steps"] == [25, 30]


def test_gradient_spike_names_the_layer_that_spiked():
    n = 60
    layer = np.ones((n, len(MLP_PARAMS)))
    layer[45, MLP_PARAMS.index("4.weight")] = 300.0
    norms = np.sqrt((layer ** 2).sum(axis=1))
    [symptom] = detect_gradient_spike(make_trace(np.ones(n), norms, layer_grads=layer))
    assert (symptom.step, symptom.parameter) == (45, "4.weight")


def test_loss_that_can_be_negative_has_no_loss_spikes():
    loss = with_spike(np.full(CALM, 0.5), 5.0)
    loss[3] = -0.1
    assert detect_loss_spike(make_trace(loss)) == []


def test_nonfinite_steps_are_left_to_the_nonfinite_detector():
    norms = np.full(60, 1.0)
    norms[40] = math.inf
    norms[41] = math.nan
    assert detect_gradient_spike(make_trace(np.ones(60), norms)) == []


def test_no_spike_in_the_first_window():
    norms = np.full(60, 1.0)
    norms[T.spike_window - 1] = 100.0
    assert detect_gradient_spike(make_trace(np.ones(60), norms)) == []


def test_spikes_inside_an_exponential_climb_are_the_climb():
    """The steps of an explosion each jump far above the median before them; they are reported once, as
    exploding_gradient, not as a list of spikes."""
    norms = 2.0 ** np.clip(np.arange(90) - 40, 0, None)
    norms[-1] = math.nan
    loss = norms ** 2
    kinds = diagnose_trace(make_trace(loss, norms)).kinds()
    assert "exploding_gradient" in kinds
    assert "gradient_spike" not in kinds and "loss_spike" not in kinds


def test_both_spikes_show_in_the_diagnosis_as_warnings():
    rng = np.random.default_rng(0)
    loss = np.linspace(2, 0.5, 120) * np.exp(0.05 * rng.standard_normal(120))
    norms = np.exp(0.1 * rng.standard_normal(120))
    loss[70] *= 8
    norms[69] *= 40
    diagnosis = diagnose_trace(make_trace(loss, norms))
    assert diagnosis.verdict == "warning"
    steps = {s.kind: s.step for s in diagnosis.symptoms}
    assert steps == {SymptomKind.GRADIENT_SPIKE: 69, SymptomKind.LOSS_SPIKE: 70}


@pytest.mark.parametrize(("after", "severity"), [([0.55, 0.5], Severity.INFO), ([0.5, 0.8], Severity.WARNING),
                                                  ([0.9, 0.9], Severity.WARNING)])
def test_a_loss_spike_back_at_its_level_at_once_was_one_batch(after, severity):
    """The loss of a step is its batch's, before its update: one step at 4x with the next two back within 1.5x
    of the level is a hard batch (information); a loss still up one or two steps later is an update that
    overshot (a warning)."""
    loss = np.concatenate([np.full(CALM, 0.5), [2.0], after, np.full(10, 0.5)])
    [symptom] = detect_loss_spike(make_trace(loss))
    assert symptom.severity == severity and symptom.evidence["back_at_once"] is (severity == Severity.INFO)
    assert ("a batch far harder than the rest" in symptom.message) is (severity == Severity.INFO)


def test_pytorchs_polynomial_regression_example_is_healthy_with_its_heavy_tailed_batch():
    """pytorch/examples' regression/main.py, its loop as it is (a degree-4 polynomial of N(0, 1) inputs, smooth L1,
    plain SGD at 0.1 by hand, until the loss is under 1e-3): x^4 is heavy-tailed, and one batch in a few hundred
    is far harder than the rest. The run converges; a loss spike there is information, not a warning."""
    import torch
    import torch.nn.functional as F  # noqa: N812 (the example's own name)

    import gradscope

    torch.manual_seed(0)
    w_target, b_target = torch.randn(4, 1) * 5, torch.randn(1) * 5
    fc = torch.nn.Linear(4, 1)
    monitor = gradscope.Monitor(fc)
    loss = math.inf
    while loss >= 1e-3:
        x = torch.randn(32).unsqueeze(1)
        x = torch.cat([x ** i for i in range(1, 5)], 1)
        fc.zero_grad()
        output = F.smooth_l1_loss(fc(x), x.mm(w_target) + b_target.item())
        loss = output.item()
        output.backward()
        monitor.record(output)
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)
    diagnosis = monitor.diagnose()
    spikes = [s for s in diagnosis.symptoms if s.kind == SymptomKind.LOSS_SPIKE]
    assert spikes and all(s.severity == Severity.INFO for s in spikes)  # the premise: it has its hard batch
    assert diagnosis.verdict == "healthy", [s.message for s in diagnosis.symptoms]
