"""NaN/Inf in the loss, gradients and weights: step, parameter and module, from events and from columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from symptom_traces import MLP_PARAMS, make_trace

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms import Severity, SymptomKind
from gradscope.diagnose.symptoms.nonfinite import detect_nonfinite
from gradscope.sources.run_reader import read_trace
from gradscope.trace.trace import Event

N = 30


def by_kind(symptoms):
    return {s.kind: s for s in symptoms}


@pytest.mark.parametrize("bad, text", [(math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf")])
def test_nonfinite_loss_from_the_column(bad, text):
    loss = np.linspace(2.0, 1.0, N)
    loss[17:] = bad
    found = by_kind(detect_nonfinite(make_trace(loss)))
    symptom = found[SymptomKind.NONFINITE_LOSS]
    assert (symptom.step, symptom.severity) == (17, Severity.CRITICAL)
    assert f"loss became {text} at step 17" in symptom.message
    assert np.array_equal(symptom.evidence["value"], bad, equal_nan=True)
    assert symptom.evidence["last_finite_loss"] == pytest.approx(loss[16])
    assert set(found) == {SymptomKind.NONFINITE_LOSS}


def test_largest_finite_float32_loss_is_not_nonfinite():
    loss = np.full(N, 3.0e38)
    assert detect_nonfinite(make_trace(loss)) == []


def test_nonfinite_loss_event_names_the_module():
    loss = np.ones(N)
    loss[9:] = math.nan
    event = Event("nonfinite_loss", 9, module="layers.2", stage="forward", detail="Scale: 0 NaN, 32 Inf")
    symptom = by_kind(detect_nonfinite(make_trace(loss, events=[event])))[SymptomKind.NONFINITE_LOSS]
    assert (symptom.step, symptom.module) == (9, "layers.2")
    assert "layers.2" in symptom.message and "step 9" in symptom.message


def test_nonfinite_gradient_from_columns_names_the_bad_parameter_nearest_the_output():
    layer = np.ones((N, len(MLP_PARAMS)))
    layer[12:, MLP_PARAMS.index("2.weight")] = math.inf
    layer[12:, MLP_PARAMS.index("4.weight")] = math.nan
    norms = np.ones(N)
    norms[12:] = math.nan
    symptom = by_kind(detect_nonfinite(make_trace(np.ones(N), norms, layer_grads=layer)))[
        SymptomKind.NONFINITE_GRADIENT]
    # Backward runs from the output: without a replay, the bad parameter registered last met it first.
    assert (symptom.step, symptom.parameter) == (12, "4.weight")
    assert symptom.evidence["parameters_affected"] == 2
    assert symptom.evidence["last_finite_grad_norm"] == pytest.approx(1.0)


def test_nonfinite_gradient_event_from_the_replay_wins_over_the_columns():
    layer = np.ones((N, len(MLP_PARAMS)))
    layer[5:, :4] = math.inf
    event = Event("nonfinite_gradient", 5, parameter="0.weight", stage="backward",
                  others=("0.bias", "2.weight"))
    symptom = by_kind(detect_nonfinite(make_trace(np.ones(N), layer_grads=layer, events=[event])))[
        SymptomKind.NONFINITE_GRADIENT]
    assert (symptom.step, symptom.parameter) == (5, "0.weight")
    assert symptom.evidence["others"] == ["0.bias", "2.weight"]
    assert "in 0.weight" in symptom.message


def test_nonfinite_gradient_after_a_bad_forward_says_so():
    loss = np.ones(N)
    loss[7:] = math.inf
    layer = np.ones((N, len(MLP_PARAMS)))
    layer[7:] = math.nan
    events = [Event("nonfinite_loss", 7, module="4", stage="forward"),
              Event("nonfinite_gradient", 7, module="4", stage="forward")]
    found = by_kind(detect_nonfinite(make_trace(loss, layer_grads=layer, events=events)))
    assert found[SymptomKind.NONFINITE_GRADIENT].step == 7
    assert "forward output of module 4" in found[SymptomKind.NONFINITE_GRADIENT].message


@pytest.mark.parametrize("row, step", [(0, 0), (1, 0), (20, 19)])
def test_nonfinite_weight_from_the_column_is_the_step_before(row, step):
    """Row i's weight norm is of the weights step i's forward used: step i-1's optimizer.step() made them."""
    weights = np.full(N, 4.0)
    weights[row:] = math.inf
    found = by_kind(detect_nonfinite(make_trace(np.ones(N), weight_norm=weights)))
    symptom = found[SymptomKind.NONFINITE_WEIGHT]
    assert (symptom.step, symptom.severity) == (step, Severity.CRITICAL)


def test_nonfinite_weight_event_names_the_parameter():
    weights = np.full(N, 4.0)
    weights[21:] = math.nan
    event = Event("nonfinite_weight", 20, parameter="6.weight", stage="step", others=("6.bias",))
    symptom = by_kind(detect_nonfinite(make_trace(np.ones(N), weight_norm=weights, events=[event])))[
        SymptomKind.NONFINITE_WEIGHT]
    assert (symptom.step, symptom.parameter) == (20, "6.weight")
    assert "6.weight" in symptom.message


def test_all_three_kinds_make_the_verdict_critical_and_come_first():
    loss = np.linspace(1, 2, N)
    loss[25:] = math.nan
    norms = np.ones(N)
    norms[25:] = math.nan
    layer = np.ones((N, len(MLP_PARAMS)))
    layer[25:] = math.nan
    weights = np.full(N, 3.0)
    weights[26:] = math.nan
    diagnosis = diagnose_trace(make_trace(loss, norms, weights, layer_grads=layer))
    assert diagnosis.verdict == "critical"
    kinds = diagnosis.kinds()
    assert kinds[:3] == ["nonfinite_loss", "nonfinite_gradient", "nonfinite_weight"]
    assert diagnosis.summary.first_nonfinite_step == 25


def test_a_finite_run_has_no_nonfinite_symptom():
    assert detect_nonfinite(make_trace(np.linspace(3, 1, N), np.full(N, 2.0))) == []


def test_a_trace_with_gaps_names_steps_not_rows(tmp_path):
    """A run folder whose trace.csv lost rows 10-17 (damaged by hand, dropped on reading): the NaN weights
    recorded at step 30 come from the update of step 29, the NaN gradients are at step 30 with their count,
    wherever those rows now sit (row 22). Counting rows instead of steps put the weights at step 21."""
    n = 36
    weight_norm = np.full(n, 5.0)
    weight_norm[30:] = math.nan
    layer_grads = np.ones((n, len(MLP_PARAMS)))
    layer_grads[30:, :2] = math.inf
    make_trace(np.linspace(2.0, 1.0, n), weight_norm=weight_norm, layer_grads=layer_grads).write_csvs(tmp_path)
    lines = (tmp_path / "trace.csv").read_text().splitlines(keepends=True)
    damaged = lines[:11] + ["not,a,row\n"] * 8 + lines[19:]  # the header, steps 0-9, then garbage for 10-17
    (tmp_path / "trace.csv").write_text("".join(damaged))
    trace = read_trace(tmp_path)
    assert len(trace) == n - 8 and trace.index_of(30) == 22 and trace.index_of(12) is None
    found = by_kind(detect_nonfinite(trace))
    weights, grads = found[SymptomKind.NONFINITE_WEIGHT], found[SymptomKind.NONFINITE_GRADIENT]
    assert weights.step == 29 and "at step 29" in weights.message
    assert grads.step == 30 and grads.evidence["parameters_affected"] == 2
    assert grads.parameter == MLP_PARAMS[1]  # the last registered of the bad ones: nearest the output
