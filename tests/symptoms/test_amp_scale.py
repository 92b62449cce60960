"""amp_unsettled: skips while the GradScaler settles are normal; skips that keep coming are not."""

from __future__ import annotations

import numpy as np
import pytest
from symptom_traces import make_trace

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms.amp_scale import detect_amp_unsettled

N = 200


def trace_with_skips(skips: list[int]):
    rng = np.random.default_rng(0)
    loss = (0.2 + np.exp(-np.arange(N) / 50)) * np.exp(0.05 * rng.standard_normal(N))
    trace = make_trace(loss, np.exp(0.2 * rng.standard_normal(N)), np.full(N, 3.0))
    columns = {name: trace.column(name).copy() for name in ("step", "loss", "grad_norm", "weight_norm")}
    columns["amp_skipped"] = np.isin(np.arange(N), skips).astype(np.int8)
    from gradscope.trace.trace import Trace

    return Trace.from_columns(trace.info, columns)


def test_settling_skips_at_the_start_are_no_symptom():
    trace = trace_with_skips([0, 1, 2, 3, 4, 5, 9])  # the scale falls 2**6 and once more at step 9
    assert detect_amp_unsettled(trace) == []
    diagnosis = diagnose_trace(trace)
    assert "amp_unsettled" not in diagnosis.kinds() and diagnosis.summary.amp_skipped_steps == 7


@pytest.mark.parametrize(("late", "flagged"), [([60, 120], False), ([60, 90, 120], False),
                                               (list(range(40, 200, 15)), True)])
def test_skips_that_keep_coming_are_a_warning(late, flagged):
    found = detect_amp_unsettled(trace_with_skips([0, 1, 2, *late]))
    assert bool(found) is flagged
    if flagged:
        [symptom] = found
        assert symptom.severity.value == "warning" and symptom.step == late[0]
        assert symptom.evidence["late_skips"] == len(late)
        assert "bf16" in symptom.advice


def test_skips_at_the_very_start_take_the_first_used_step_norms():
    """A GradScaler that skips steps 0-5: their inf norms stand for nothing; the detectors see the first norms
    the run used (there is no step before them to carry forward)."""
    from gradscope.trace.trace import Trace

    rng = np.random.default_rng(1)
    loss = (0.2 + np.exp(-np.arange(N) / 50)) * np.exp(0.05 * rng.standard_normal(N))
    k = len(make_trace(np.ones(3)).info.param_names)
    layers = np.exp(0.2 * rng.standard_normal((N, k)))
    layers[:6] = np.inf
    grad = np.sqrt((layers**2).sum(1))
    base = make_trace(loss, grad, np.full(N, 3.0), layer_grads=layers, nonfinite_grads=np.zeros(N, int))
    columns = {name: base.column(name).copy() for name in ("step", "loss", "grad_norm", "weight_norm", "lr")}
    columns["amp_skipped"] = (np.arange(N) < 6).astype(np.int8)
    trace = Trace.from_columns(base.info, columns, layers, np.ones((N, k)))
    diagnosis = diagnose_trace(trace)
    assert diagnosis.symptoms == [], [s.message for s in diagnosis.symptoms]
    assert diagnosis.summary.amp_skipped_steps == 6
