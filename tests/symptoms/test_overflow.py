"""norm_overflow: the float32 global norm is inf while every gradient element is finite, on a real model,
against what a plain loop's `clip_grad_norm_` returns."""

from __future__ import annotations

import math

import torch
from torch import nn

from gradscope.config.load import load_config
from gradscope.drivers.loop import train

FACTORIES = '''
import torch
from torch import nn


def build_model():
    torch.manual_seed(0)
    return nn.Linear(4, 1)


def build_data(steps=12, start=1e14):
    # L1 loss: the gradient of the weight is the input itself, so it grows 10x a step while the loss (the
    # output, ~1e19) stays finite in float32; the sum of 4 squares passes float32's range at inputs ~1e19.
    return [(torch.full((1, 4), start * 10.0 ** k), torch.zeros(1, 1)) for k in range(steps)]
'''

CONFIG = """
[model]
factory = "factories.py:build_model"
[data]
factory = "factories.py:build_data"
shuffle = false
[loss]
name = "L1Loss"
[optimizer]
name = "SGD"
lr = 1e-30
[run]
steps = 12
device = "cpu"
"""


def plain_first_inf(tmp_path) -> int:
    namespace: dict = {}
    exec(FACTORIES, namespace)
    model, batches = namespace["build_model"](), namespace["build_data"]()
    opt = torch.optim.SGD(model.parameters(), lr=1e-30)
    for step, (x, y) in enumerate(batches):
        opt.zero_grad()
        loss = nn.L1Loss()(model(x), y)
        loss.backward()
        assert math.isfinite(loss.item()) and all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])  # what clip_grad_norm_ uses
        if not math.isfinite(norm.item()):
            return step
        opt.step()
    raise AssertionError("the plain loop never saw an inf norm")


def test_norm_overflow_is_critical_at_the_plain_loops_first_inf(tmp_path):
    (tmp_path / "factories.py").write_text(FACTORIES)
    (tmp_path / "gradscope.toml").write_text(CONFIG)
    result = train(load_config(tmp_path / "gradscope.toml"), tmp_path / "run", write_plots=False)
    expected = plain_first_inf(tmp_path)
    assert 3 <= expected <= 8
    diagnosis = result.diagnosis
    assert diagnosis.verdict == "critical"
    assert diagnosis.summary.first_nonfinite_step == expected
    symptom = next(s for s in diagnosis.symptoms if s.kind.value == "norm_overflow")
    assert symptom.step == expected and symptom.severity.value == "critical"
    assert symptom.parameter == "weight"
    assert "clip_grad_norm_ returns inf" in symptom.message
    frame = result.trace.to_frame()
    # The trace keeps the exact norm (float64), not inf: the input is the gradient, 4 elements of 1e14 * 10**k.
    exact = 1e14 * 10.0 ** expected * 2.0  # sqrt(4) * x (the bias adds 1, negligible)
    assert math.isclose(frame["grad_norm"][expected], exact, rel_tol=1e-5)
    assert frame["norm_overflow"][expected] == 1 and frame["norm_overflow"][:expected].sum() == 0
