"""RunRecorder driven as a third way in would drive it: a user's own plain loop, record / before_step / finish.

The config loop and both callbacks drive the same recorder (their own tests); here the recorder's contract itself:
its rows are the plain loop's numbers, the clip it applies is torch's, the first non-finite module is named from
a replay, the last update's weights are checked once under the model's own names, and `finish` writes the run
folder with one diagnosis.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from gradscope.clip.setting import Clip
from gradscope.record.locate import ForwardReplays
from gradscope.record.recorder import RunRecorder
from gradscope.sources.run_reader import read_trace
from gradscope.trace.trace import StopReason


def batches(n: int = 6, scale: float = 1.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(scale * torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)) for _ in range(n)]


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def test_rows_and_clipping_are_the_plain_loops(tmp_path):
    data = batches(scale=30.0)  # large inputs: the norm is over the threshold on most steps
    plain, recorded = mlp(), mlp()
    opt_plain = torch.optim.SGD(plain.parameters(), lr=0.01)
    opt_rec = torch.optim.SGD(recorded.parameters(), lr=0.01)
    recorder = RunRecorder(recorded, tmp_path / "run", clip=Clip("norm", 1.0))
    norms, losses = [], []
    for x, y in data:
        opt_plain.zero_grad()
        loss = nn.functional.mse_loss(plain(x), y)
        loss.backward()
        losses.append(float(loss.detach()))
        norms.append(float(torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)))
        opt_plain.step()

        opt_rec.zero_grad()
        loss = nn.functional.mse_loss(recorded(x), y)
        loss.backward()
        recorder.record(loss, lr=0.01)
        assert recorder.before_step()
        opt_rec.step()
    diagnosis = recorder.finish()
    # The same float32 arithmetic as clip_grad_norm_ (the recorder reuses its fused norms); the tolerance allows
    # a few float32 sums taken in another order.
    assert recorder.trace.grad_norm.tolist() == pytest.approx(norms, rel=1e-5)
    assert recorder.trace.loss.tolist() == pytest.approx(losses, rel=1e-5)
    assert recorder.trace.column("clipped").tolist() == [int(n > 1.0) for n in norms]
    for a, b in zip(plain.parameters(), recorded.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    run = read_trace(tmp_path / "run")
    assert len(run) == len(data) and run.info.clip_mode == "norm"
    assert json.loads((tmp_path / "run" / "diagnosis.json").read_text())["verdict"] == diagnosis.verdict


class Exploding(nn.Module):
    """A layer whose output turns NaN from step `at` on (a division by a batch statistic that hits zero)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x / 0.0 * 0.0 if self.calls > self.at else x


def test_first_nonfinite_module_is_named_from_a_forward_replay(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), Exploding(at=3), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    recorder = RunRecorder(model, tmp_path / "run")
    for x, y in batches(5):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        recorder.record(loss, replay=ForwardReplays(model, [lambda x=x: model(x)]))
        if recorder.before_step():
            optimizer.step()
    recorder.finish()
    events = {e.kind: e for e in recorder.trace.info.events}
    assert events["nonfinite_loss"].step == 3 and events["nonfinite_loss"].module == "1"
    assert events["nonfinite_loss"].stage == "forward" and "NaN" in events["nonfinite_loss"].detail


def test_last_updates_weights_are_checked_once_under_the_models_own_names(tmp_path):
    model = mlp()
    wrapped = nn.DataParallel(model)  # a wrapper's prefix (`module.`) must not reach the names
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    recorder = RunRecorder(wrapped, tmp_path / "run")
    data = batches(3)
    for i, (x, y) in enumerate(data):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(wrapped(x), y)
        loss.backward()
        recorder.record(loss)
        if i == len(data) - 1:
            optimizer.param_groups[0]["lr"] = math.inf  # the last update throws every weight to inf/NaN
        if recorder.before_step():
            optimizer.step()
    diagnosis = recorder.finish()
    event = next(e for e in recorder.trace.info.events if e.kind == "nonfinite_weight")
    assert event.step == len(data) - 1 and event.parameter == "0.weight"
    assert recorder.trace.info.stopped is StopReason.COMPLETED
    assert any(s.kind.value == "nonfinite_weight" for s in diagnosis.symptoms)


def test_the_guard_skips_an_update_the_caller_cannot_skip_by_dropping_its_gradients(tmp_path):
    model = mlp()
    recorder = RunRecorder(model, tmp_path / "run", clip=Clip("adaptive"))
    x, y = batches(1)[0]
    loss = nn.functional.mse_loss(model(x), y) * math.nan  # a bad batch
    loss.backward()
    recorder.record(loss)
    assert recorder.before_step(can_skip=False) is False
    assert all(p.grad is None for p in model.parameters())
    assert recorder.guard is not None and recorder.guard.skipped == 1
    recorder.finish(StopReason.INTERRUPTED)
    assert read_trace(tmp_path / "run").info.stopped is StopReason.INTERRUPTED
