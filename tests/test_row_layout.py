"""One step's row: where each statistic sits for every combination of weights taken / max-abs tracked / scaled,
and the numbers a real `Monitor` decodes from it against plain torch."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from gradscope.monitor.monitor import Monitor
from gradscope.monitor.row_layout import RowLayout

COMBINATIONS = list(itertools.product([False, True], repeat=3))
IDS = [f"weights={w}-max_abs={m}-scaled={s}" for w, m, s in COMBINATIONS]
REL = 1e-6


@pytest.mark.parametrize(("weights", "max_abs", "scaled"), COMBINATIONS, ids=IDS)
def test_every_slot_of_a_row_is_found_where_it_was_put(weights: bool, max_abs: bool, scaled: bool) -> None:
    n = 3
    layout = RowLayout.of(n, weights, max_abs, scaled)
    grads = torch.tensor([1.0, 2.0, 3.0])
    peaks = torch.tensor([10.0, 20.0, 30.0])
    weight_norms = torch.tensor([100.0, 200.0, 300.0])
    blocks = [grads, *([peaks] if max_abs else []), *([weight_norms] if weights else [])]
    row = layout.device_row(torch.cat(blocks), torch.tensor(7.0), torch.tensor([0.25]),
                            torch.tensor(4.0) if scaled else None)
    assert row.numel() == layout.width == n * (1 + weights + max_abs) + 2 + scaled

    decoded = layout.decode(row.numpy().astype(np.float64))
    divide = 4.0 if scaled else 1.0
    assert decoded.grads.tolist() == [1.0 / divide, 2.0 / divide, 3.0 / divide]
    assert decoded.total == 7.0 / divide
    assert decoded.loss == 0.25  # the loss is never scaled
    assert decoded.scale == (4.0 if scaled else None)
    assert (decoded.max_abs is None) == (not max_abs)
    if max_abs:
        assert decoded.max_abs.tolist() == [10.0 / divide, 20.0 / divide, 30.0 / divide]
    assert (decoded.weights is None) == (not weights)
    if weights:
        assert decoded.weights.tolist() == [100.0, 200.0, 300.0]  # weights are not scaled either


def test_a_row_of_the_wrong_width_is_refused() -> None:
    layout = RowLayout.of(2, True, False, False)
    with pytest.raises(ValueError, match="layout"):
        layout.decode(np.zeros(layout.width - 1))


def test_layouts_are_built_once_per_combination() -> None:
    assert RowLayout.of(5, True, True, False) is RowLayout.of(5, True, True, False)
    assert RowLayout.of(5, True, True, False) != RowLayout.of(5, True, False, False)


def model_with_grads(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.LayerNorm(6), nn.Linear(6, 1))
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    return model, nn.functional.mse_loss(model(x), y)


@pytest.mark.parametrize(("weights", "max_abs", "scaled"), COMBINATIONS, ids=IDS)
def test_a_real_monitor_decodes_each_combination_as_plain_torch_measures_it(weights: bool, max_abs: bool,
                                                                             scaled: bool) -> None:
    """Weights not taken: the second step of weight_every=2. Scaled: a GradScaler whose gradients were not
    unscaled before record."""
    model, loss = model_with_grads()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8) if scaled else None
    monitor = Monitor(model, scaler=scaler, weight_every=1 if weights else 2, track_max_abs=max_abs)
    if not weights:
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        monitor.record(0.0)  # step 0 takes the weights; step 1 below does not
        with torch.no_grad():
            model[0].weight.mul_(2.0)  # so a weight norm carried forward is told from one measured
        model.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaled else loss).backward()
    unscaled = [p.grad / (2.0**8 if scaled else 1.0) for p in model.parameters()]
    stats = monitor.record(loss)

    _, grad_rows = monitor.trace.grad_norms.series()
    assert grad_rows[-1] == pytest.approx([float(torch.linalg.vector_norm(g)) for g in unscaled], rel=REL)
    assert stats.grad_norm == pytest.approx(
        float(torch.nn.utils.get_total_norm(unscaled, 2.0)), rel=REL)
    assert stats.loss == pytest.approx(loss.item(), rel=REL)
    if max_abs:
        assert stats.grad_max_abs == pytest.approx(max(float(g.abs().max()) for g in unscaled), rel=REL)
    else:
        assert math.isnan(stats.grad_max_abs)
    current = [float(torch.linalg.vector_norm(p.detach())) for p in model.parameters()]
    _, weight_rows = monitor.trace.weight_norms.series()
    if weights:
        assert weight_rows[-1] == pytest.approx(current, rel=REL)
    else:  # carried forward from step 0, before the first weight was doubled
        assert weight_rows[-1][0] == pytest.approx(current[0] / 2, rel=REL)
        assert weight_rows[-1][1:] == pytest.approx(current[1:], rel=REL)
    assert stats.nonfinite_grads == () and stats.finite
