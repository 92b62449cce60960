"""One `Thresholds` object for every detector: the defaults are the documented ones, and `Monitor.diagnose`
and `diagnose_trace` take changed ones (an unknown name fails, naming the valid ones)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import gradscope
from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.diagnose.symptoms import Thresholds

SPIKE_STEP = 40


def monitored_run_with_one_8x_gradient_step() -> gradscope.Monitor:
    """A small MLP on a fixed batch; at SPIKE_STEP the targets are 6x larger, so that step's gradient norm is
    ~8.6x the recent median: below the default 10x of a gradient spike, and the loss jumps too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = x.sum(dim=1, keepdim=True)
    monitor = gradscope.Monitor(model)
    for step in range(60):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y * 6 if step == SPIKE_STEP else y)
        loss.backward()
        monitor.record(loss)
        optimizer.step()
    return monitor


def test_monitor_diagnose_takes_thresholds_by_keyword():
    monitor = monitored_run_with_one_8x_gradient_step()
    norms = monitor.trace.grad_norm
    assert 5 < norms[SPIKE_STEP] / norms[SPIKE_STEP - 1] < 10  # the premise: between 5x and the default 10x
    assert [s.kind.value for s in monitor.diagnose().symptoms] == ["loss_spike"]
    lowered = monitor.diagnose(grad_spike_ratio=5.0, loss_spike_ratio=100.0)
    [spike] = lowered.symptoms
    assert (spike.kind.value, spike.step) == ("gradient_spike", SPIKE_STEP)
    assert spike.evidence["thresholds"]["ratio"] == 5.0
    assert lowered.to_dict() == diagnose_trace(
        monitor.trace, thresholds=Thresholds(grad_spike_ratio=5.0, loss_spike_ratio=100.0)).to_dict()


def test_an_unknown_threshold_is_a_type_error_naming_the_valid_ones():
    monitor = monitored_run_with_one_8x_gradient_step()
    with pytest.raises(TypeError, match=r"unknown threshold 'spike_ratio' \(valid: spike_window, grad_spike_ratio, "
                                        r"loss_spike_ratio, .*vanishing_ratio"):
        monitor.diagnose(spike_ratio=5.0)


def test_thresholds_are_frozen_and_exported():
    assert gradscope.Thresholds is Thresholds
    with pytest.raises(dataclasses.FrozenInstanceError):
        Thresholds().spike_z = 1.0  # type: ignore[misc]
