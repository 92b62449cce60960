"""The device-to-host pending buffer: `sync_every=N` lands the same numbers as `sync_every=1`, bit for bit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from gradscope.monitor.monitor import Monitor
from gradscope.monitor.pending import PendingRows
from gradscope.monitor.row_layout import RowHeader, RowLayout


class SmallConvNet(nn.Module):
    """Conv, LayerNorm and a head in two dtypes (the grouped path), and a branch used on some steps only."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 1)
        self.side = nn.Linear(4, 1)
        self.gain = nn.Parameter(torch.ones(1, dtype=torch.float64))

    def forward(self, x: torch.Tensor, side: bool) -> torch.Tensor:
        h = self.norm(torch.relu(self.conv(x)).mean(dim=2))
        return (self.head(h) + (self.side(h) if side else 0.0)) * self.gain.float()


def train(model: nn.Module, steps: int, **kwargs) -> Monitor:
    """A plain AdamW loop with clip_norm_ on even steps and clip_value_ on odd ones; the side branch (so one
    gradient is None) on every third step."""
    g = torch.Generator().manual_seed(3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    monitor = Monitor(model, weight_every=2, track_max_abs=True, **kwargs)
    for step in range(steps):
        x, y = torch.randn(5, 2, 6, generator=g) * (1 + step), torch.randn(5, 1, generator=g)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x, side=step % 3 == 0), y)
        loss.backward()
        monitor.record(loss, lr=0.05)
        if step % 2 == 0:
            monitor.clip_norm_(4.0)
        else:
            monitor.clip_value_(2.0)
        optimizer.step()
    return monitor


@pytest.mark.parametrize("sync_every", [2, 5, 16])
def test_batched_copies_land_the_numbers_of_one_copy_a_step(sync_every: int) -> None:
    torch.manual_seed(0)
    model = SmallConvNet()  # two dtypes: one fused call per group and a gather
    steps = 11
    reference = train(copy.deepcopy(model), steps)
    batched = train(copy.deepcopy(model), steps, sync_every=sync_every)
    assert len(batched.trace) == steps - steps % sync_every  # full batches landed; the rest waits on the device
    left = batched.flush()
    assert [s.step for s in left] == list(range(steps - steps % sync_every, steps))
    assert batched.last == reference.last  # StepStats of the last step: loss, norms, peak, flags
    ours, theirs = batched.trace.to_frame(), reference.trace.to_frame()
    assert ours.drop(columns="seconds").equals(theirs.drop(columns="seconds"))
    assert theirs["clipped"].any() and not theirs["clipped"].all()
    for series in ("grad", "weight"):
        assert batched.trace.param_frame(series).equals(reference.trace.param_frame(series))
    for name, a, b in zip(batched.names, batched.params, reference.params, strict=True):
        assert torch.equal(a, b), name  # the clipping between copies did the same to the weights


def test_rows_of_different_widths_come_back_in_one_copy() -> None:
    pending = PendingRows()
    layouts = [RowLayout.of(2, True, False, False), RowLayout.of(2, False, True, True)]
    rows = [torch.arange(layout.width, dtype=torch.float32) + 10 * i for i, layout in enumerate(layouts)]
    for i, (row, layout) in enumerate(zip(rows, layouts, strict=True)):
        pending.add(row, RowHeader(i, layout, None, 0.0), peaks=row[2:4] if layout.max_abs else None)
        if i == 1:
            pending.flag_clipped(torch.tensor(True))
    assert len(pending) == 2 and torch.equal(pending.peaks, rows[1][2:4])

    landed = pending.take(torch.tensor(False))
    assert [header.step for _, header, _ in landed] == [0, 1]
    assert [clipped for _, _, clipped in landed] == [False, True]  # a row never flagged was not clipped
    for (host, _, _), row in zip(landed, rows, strict=True):
        assert host.dtype == np.float64 and host.tolist() == row.tolist()
    assert len(pending) == 0 and pending.peaks is None
    assert pending.take(torch.tensor(False)) == []
