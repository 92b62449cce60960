"""What the monitor reads from a real `torch.amp.GradScaler`: the scale while gradients are still scaled, and when
a run of skipped steps stops being the scaler settling and becomes a non-finite gradient."""

from __future__ import annotations

import torch
from torch import nn

from gradscope.monitor.amp import AMP_PERSISTENT_SKIPS, AmpWatch


def scaled_backward(scaler: torch.amp.GradScaler) -> tuple[nn.Module, torch.optim.Optimizer]:
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler.scale(model(torch.ones(2, 3)).sum()).backward()
    return model, optimizer


def test_the_scale_is_divided_only_while_the_gradients_are_scaled() -> None:
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**6)
    watch = AmpWatch(scaler)
    _, optimizer = scaled_backward(scaler)
    scale = watch.scale_to_divide(torch.device("cpu"))
    assert scale is not None and float(scale) == 2.0**6
    scaler.unscale_(optimizer)
    assert watch.scale_to_divide(torch.device("cpu")) is None


def test_no_scaler_or_a_disabled_one_is_never_divided_or_skipped() -> None:
    for watch in (AmpWatch(None), AmpWatch(torch.amp.GradScaler("cpu", enabled=False))):
        assert not watch.enabled() and watch.scale_to_divide(torch.device("cpu")) is None
        assert watch.skipped(nonfinite_grads=True, loss_finite=True) == (False, False)


def test_skips_in_a_row_become_persistent_and_a_finite_step_resets_them() -> None:
    watch = AmpWatch(torch.amp.GradScaler("cpu"))
    skipped = [watch.skipped(nonfinite_grads=True, loss_finite=True) for _ in range(AMP_PERSISTENT_SKIPS)]
    # Every one is a skip; the 20th in a row is reported as well (no longer the scaler's business alone).
    assert skipped == [(True, True)] * (AMP_PERSISTENT_SKIPS - 1) + [(True, False)]
    assert watch.persistent_detail(step=30) == (
        f"gradients not finite for {AMP_PERSISTENT_SKIPS} consecutive steps (from step 11) although the "
        "GradScaler kept lowering its scale")
    assert watch.skipped(nonfinite_grads=False, loss_finite=True) == (False, False)
    assert watch.streak == 0 and watch.persistent_detail(step=31) == ""
    # A non-finite loss: the scaler skips the step (a plain loop counts it), but it is a finding, not settling.
    assert watch.skipped(nonfinite_grads=True, loss_finite=False) == (True, False) and watch.streak == 1
