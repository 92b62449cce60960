"""vanishing_gradient: early layers' gradients far below late layers', or a collapsing global norm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symptom_traces import MLP_PARAMS, lognormal, make_trace, mlp_info

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms import Severity
from gradscope.diagnose.symptoms.thresholds import DEFAULT as T
from gradscope.diagnose.symptoms.vanishing import detect_vanishing_gradient

N = 150
# Four weight matrices (with biases), input side first: "early" is the first of them, "late" the last.
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
SHAPES = [[64, 16], [64], [64, 64], [64], [64, 64], [64], [2, 64], [2]]


def depth_trace(first_layer_ratio: float, *, modules=None, names=NAMES, shapes=SHAPES, seed: int = 0,
                loss=None):
    """Per-parameter norms: every parameter ~1 (noisy), the first weight matrix `first_layer_ratio` x that."""
    rng = np.random.default_rng(seed)
    layer = lognormal(rng, 0.2, N * len(names)).reshape(N, len(names))
    layer[:, 0] *= first_layer_ratio / np.median(layer[:, 0])  # medians: exactly the ratio ...
    layer[:, -2] /= np.median(layer[:, -2])  # ... over the last weight matrix's 1
    norms = np.sqrt((layer ** 2).sum(axis=1))
    info = mlp_info(names, shapes, modules)
    loss = np.linspace(0.7, 0.69, N) if loss is None else loss
    return make_trace(loss, norms, layer_grads=layer, info=info)


TRAINING = np.linspace(0.7, 0.5, N)  # its loss comes down (to 0.72x its start): not broken, not trained well


@pytest.mark.parametrize("ratio, flagged", [(T.vanishing_ratio * 0.95, True), (T.vanishing_ratio * 1.05, False)])
def test_vanishing_when_early_layers_get_a_thousandth_of_late_layers_gradient(ratio, flagged):
    found = detect_vanishing_gradient(depth_trace(ratio, loss=TRAINING))
    assert bool(found) is flagged
    if flagged:
        [symptom] = found
        assert (symptom.step, symptom.severity, symptom.parameter) == (0, Severity.WARNING, "0.weight")
        assert symptom.evidence["early_to_late_ratio"] == pytest.approx(ratio, rel=1e-6)


@pytest.mark.parametrize("ratio, flagged", [(T.vanishing_ratio_untrained * 0.95, True),
                                           (T.vanishing_ratio_untrained * 1.05, False)])
def test_in_a_run_that_does_not_train_a_hundredth_names_vanishing_as_the_cause(ratio, flagged):
    """The loss flat (0.70 -> 0.69, under 5% better): two orders of magnitude across depth are the cause worth
    naming (an 18-layer tanh MLP at chance was told only "check that gradients reach the weights"); in a run that
    trains, the same ratio is no finding."""
    found = detect_vanishing_gradient(depth_trace(ratio))
    assert bool(found) is flagged
    if flagged:
        assert found[0].severity is Severity.WARNING
        assert found[0].evidence["thresholds"]["ratio"] == T.vanishing_ratio_untrained
    assert detect_vanishing_gradient(depth_trace(ratio, loss=TRAINING)) == []


@pytest.mark.parametrize(("late", "severity"), [(0.05, Severity.INFO), (0.25, Severity.WARNING)])
def test_a_depth_ratio_in_a_run_that_trains_well_is_information(late, severity):
    # Issue 22: a wide bf16 MLP went 2.3 -> 0.05 under a real early/late ratio: its early layers' small
    # gradients did not stop it learning. A loss that ends at 0.25x its start is not that clear a case.
    loss = 2.3 * (late + (1 - late) * np.exp(-np.arange(N) / 20))
    [symptom] = detect_vanishing_gradient(depth_trace(1e-4, loss=loss))
    assert symptom.severity is severity and symptom.evidence["trains_well"] is (severity is Severity.INFO)
    expected = np.median(loss[-15:]) / np.median(loss[:10])  # the last tenth over the first 10 steps
    assert symptom.evidence["loss_end_over_start"] == pytest.approx(expected, rel=1e-9)  # the same float ops
    assert diagnose_trace(depth_trace(1e-4, loss=loss)).verdict == ("healthy" if late < 0.2 else "warning")


def test_embeddings_are_not_early_layers():
    """An embedding's gradient is sparse and small by nature: the same numbers with the first parameter
    owned by an nn.Embedding say nothing about depth."""
    modules = ["Embedding"] + ["Linear"] * (len(NAMES) - 1)
    names = ["embed.weight", *NAMES[1:]]
    assert detect_vanishing_gradient(depth_trace(1e-6, names=names, modules=modules)) == []
    assert detect_vanishing_gradient(depth_trace(1e-6, names=names)) != []


def test_biases_do_not_count_as_layers():
    """Depth needs three weight matrices: two matrices and their biases are too shallow to judge."""
    names, shapes = NAMES[:2] + NAMES[-2:], SHAPES[:2] + SHAPES[-2:]
    assert T.min_weight_layers == 3
    assert detect_vanishing_gradient(depth_trace(1e-6, names=names, shapes=shapes)) == []


def test_depth_is_judged_on_the_steps_before_anything_went_nonfinite():
    trace = depth_trace(1.0)
    rows = trace.grad_norms.series()[1]
    assert rows.shape == (N, len(NAMES))
    loss = np.linspace(0.7, 0.69, N)
    loss[100:] = math.nan
    layer = rows.copy()
    layer[100:, 0] = 0.0  # after the NaN the first layer gets nothing: that is not vanishing
    norms = np.sqrt((layer ** 2).sum(axis=1))
    trace = make_trace(loss, norms, layer_grads=layer, info=mlp_info(NAMES, SHAPES))
    assert detect_vanishing_gradient(trace) == []


def collapse_trace(collapse_to: float, late_loss: float = 0.69):
    """The global norm stays at 1 for 20 steps, falls to `collapse_to` by step 50 and stays; the loss goes
    from 0.7 to `late_loss` over the same steps."""
    t = np.arange(N)
    phase = np.clip((t - 20) / 30, 0, 1)
    norms = collapse_to ** phase
    loss = 0.7 + (late_loss - 0.7) * phase
    layer = np.repeat(norms[:, None] / 2, 4, axis=1)  # shallow: depth cannot be judged, only the collapse
    info = mlp_info(NAMES[:2] + NAMES[-2:], SHAPES[:2] + SHAPES[-2:])
    return make_trace(loss, norms, layer_grads=layer, info=info)


@pytest.mark.parametrize("ratio, flagged", [(T.collapse_ratio * 0.9, True), (T.collapse_ratio * 1.1, False)])
def test_vanishing_when_the_global_norm_collapses_ten_thousandfold(ratio, flagged):
    found = detect_vanishing_gradient(collapse_trace(ratio))
    assert bool(found) is flagged
    if flagged:
        [symptom] = found
        assert symptom.evidence["late_grad_norm"] == pytest.approx(ratio)
        assert 20 < symptom.step <= 50


@pytest.mark.parametrize("late_loss, flagged", [(0.7 * T.collapse_min_loss_left * 1.05, True),
                                                (0.7 * T.collapse_min_loss_left * 0.95, False)])
def test_a_collapse_after_the_loss_halved_is_convergence_not_vanishing(late_loss, flagged):
    assert bool(detect_vanishing_gradient(collapse_trace(1e-6, late_loss))) is flagged


@pytest.mark.parametrize("seed", range(3))
def test_vanishing_is_never_called_exploding(seed):
    """A deep-sigmoid-like trace: early layers 1e-6 of late ones, a flat noisy loss, tiny noisy norms."""
    diagnosis = diagnose_trace(depth_trace(1e-6, seed=seed))
    assert "vanishing_gradient" in diagnosis.kinds()
    assert "exploding_gradient" not in diagnosis.kinds()
    assert diagnosis.verdict == "warning"


def test_no_vanishing_reported_from_the_steps_of_an_explosion():
    """Once a ReLU net explodes its early layers die (zero gradients); that is part of the explosion."""
    n = 100
    t = np.arange(n)
    layer = np.ones((n, len(NAMES)))
    growth = 2.0 ** np.clip(t - 20, 0, None)
    layer *= growth[:, None]
    layer[20:, 0] = 1e-12  # the first layer's units died as the explosion began
    norms = np.sqrt((layer ** 2).sum(axis=1))
    norms[-1] = math.nan
    trace = make_trace(norms ** 2, norms, layer_grads=layer, info=mlp_info(NAMES, SHAPES))
    kinds = diagnose_trace(trace).kinds()
    assert "exploding_gradient" in kinds
    assert "vanishing_gradient" not in kinds


@pytest.mark.parametrize("dead, flagged", [(1, False), (2, True)])
def test_weight_matrices_with_no_gradient_at_all_are_dead_units(dead, flagged):
    """Half or more of the weight matrices at exactly zero gradient (dead ReLUs): vanishing. One unused
    layer alone is not."""
    rng = np.random.default_rng(0)
    layers = lognormal(rng, 0.3, 60)[:, None] * np.ones((60, len(MLP_PARAMS)))
    weights = [j for j, name in enumerate(MLP_PARAMS) if name.endswith("weight")]
    for j in weights[:dead]:
        layers[30:, j] = 0.0
    found = detect_vanishing_gradient(make_trace(np.full(60, 1.0), layer_grads=layers))
    assert bool(found) is flagged
    if flagged:
        assert "no gradient at all" in found[0].message and found[0].step == 30
        assert found[0].evidence["dead_layers"] == [MLP_PARAMS[j] for j in weights[:dead]]
        # the report's evidence cell (it used to fail on this evidence, which has no grad norms)
        assert found[0].evidence_line == f"{dead} of {len(weights)} weight matrices without gradient"


def test_biases_show_the_signal_vanishing_when_weight_gradients_stay_flat():
    """Small-init tanh: the weight gradients (signal x activation) are flat with depth, the bias gradients (the
    backpropagated signal itself) fall 1e5-fold: that is vanishing too."""
    rng = np.random.default_rng(0)
    layers = lognormal(rng, 0.2, 60)[:, None] * np.ones((60, len(MLP_PARAMS))) * 1e-5
    for depth, name in enumerate(["0.bias", "2.bias", "4.bias", "6.bias"]):
        layers[:, MLP_PARAMS.index(name)] *= 10.0 ** (depth * 5 / 3)  # 1e-5 at the input side .. 1 at the output
    [symptom] = detect_vanishing_gradient(make_trace(np.full(60, 1.0), layer_grads=layers))
    assert symptom.evidence["compared"] == "biases" and symptom.evidence["early_to_late_ratio"] < 1e-3
    assert symptom.parameter == "0.bias"


def test_units_that_died_after_a_gradient_jump_get_advice_about_the_updates():
    """A ReLU net at too high a learning rate: a jump of the gradient norm, then most weight matrices get no
    gradient at all. The advice is about the updates (lr, warm-up, clipping), not 'use ReLU instead of sigmoid'."""
    import numpy as np
    from symptom_traces import make_trace, mlp_info

    from gradscope.diagnose.symptoms.vanishing import detect_vanishing_gradient

    n = 100
    k = len(mlp_info().param_names)
    layers = np.ones((n, k))
    layers[5] = 50.0  # the jump
    layers[8:, :] = 0.0  # dead from step 8 on
    layers[8:, -1] = 0.3  # the output bias still learns
    norms = np.sqrt((layers**2).sum(1))
    loss = np.full(n, 1.0)
    [symptom] = detect_vanishing_gradient(make_trace(loss, norms, layer_grads=layers))
    assert symptom.evidence["died_at_step"] == 8
    assert "after the gradient norm jumped" in symptom.message and "at step 5" in symptom.message
    assert "lower the learning rate or warm it up" in symptom.advice
    assert "instead of sigmoid" not in symptom.advice
