"""Healthy training is noisy: none of these traces may raise a single symptom, whatever the seed.

Each family draws its own scales, noise levels and time constants from the seed (see symptom_traces.py):
minibatch SGD noise up to 50%, Adam's 2-5x early jump of the gradient norm, warm-up raising the norm 2-8x,
a loss falling by orders of magnitude whose tiny late values are relatively very noisy, and a classifier
trained to near-zero loss whose minibatch losses and norms swing 10-30x from batch to batch.
"""

from __future__ import annotations

import numpy as np
import pytest
from symptom_traces import HEALTHY

from gradscope.diagnose.diagnosis import diagnose_trace

SEEDS = 60


@pytest.mark.parametrize("family", sorted(HEALTHY))
def test_healthy_noisy_traces_raise_no_symptom(family):
    flagged = {}
    for seed in range(SEEDS):
        diagnosis = diagnose_trace(HEALTHY[family](np.random.default_rng(seed)))
        if diagnosis.symptoms:
            flagged[seed] = [(s.kind.value, s.step, s.message) for s in diagnosis.symptoms]
    assert flagged == {}


@pytest.mark.parametrize("family", sorted(HEALTHY))
def test_the_generators_are_what_they_claim(family):
    """Guard the test above against vacuous traces: finite, falling loss, norms that move."""
    for seed in range(5):
        trace = HEALTHY[family](np.random.default_rng(seed))
        loss, norms = trace.loss, trace.grad_norm
        assert np.isfinite(loss).all() and np.isfinite(norms).all()
        assert np.median(loss[-30:]) < 0.9 * np.median(loss[:30])
        assert np.std(np.log(norms)) > 0.05
