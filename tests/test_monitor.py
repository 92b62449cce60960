"""`gradscope.Monitor` on small real torch models: norms, flags, clipping, AMP, memory, round-trip.

Every expected value comes from plain torch (`clip_grad_norm_`, `clip_grad_value_`, a per-parameter loop), never
from gradscope itself.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import gradscope
from gradscope.monitor.monitor import AMP_PERSISTENT_SKIPS, Monitor
from gradscope.trace.trace import COLUMNS

REL = 1e-6
# CI runs on CPU; on a machine with a GPU the device-sensitive tests run there too.
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


class TinyNet(nn.Module):
    """Parameters of several shapes and kinds; one frozen, one unused unless asked."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.conv = nn.Conv1d(8, 8, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 1)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.spare = nn.Linear(8, 1)  # has requires_grad but gets no gradient unless use_spare

    def forward(self, tokens: torch.Tensor, use_spare: bool = False) -> torch.Tensor:
        h = self.embed(tokens).transpose(1, 2)  # (batch, 8, seq)
        h = torch.tanh(self.conv(h)).mean(dim=2)
        h = self.norm(self.frozen(h))
        out = self.head(h)
        return out + self.spare(h) if use_spare else out


def tiny_batch(seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (6, 5), generator=g).to(device), torch.randn(6, 1, generator=g).to(device)


def mlp(seed: int = 0, width: int = 16, device: str = "cpu") -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
    return model.to(device)


def mlp_batches(n: int, seed: int = 1, scale: float = 1.0,
                device: str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [((torch.randn(8, 4, generator=g) * scale).to(device), torch.randn(8, 1, generator=g).to(device))
            for _ in range(n)]


def backward_tiny(model: TinyNet, seed: int = 0, use_spare: bool = True) -> torch.Tensor:
    tokens, target = tiny_batch(seed, next(model.parameters()).device.type)
    model.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(model(tokens, use_spare), target)
    loss.backward()
    return loss


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def last_grad_norms(monitor: Monitor) -> np.ndarray:
    _, values = monitor.trace.grad_norms.series()
    return values[-1]


def last_weight_norms(monitor: Monitor) -> np.ndarray:
    _, values = monitor.trace.weight_norms.series()
    return values[-1]


# -- norms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_spare", [True, False], ids=["all-grads", "one-grad-missing"])
def test_grad_norms_equal_a_plain_loop_and_clip_grad_norm(use_spare: bool, device: str) -> None:
    torch.manual_seed(0)
    model = TinyNet().to(device)
    monitor = Monitor(model)
    loss = backward_tiny(model, use_spare=use_spare)
    stats = monitor.record(loss)

    params = trainable(model)
    assert monitor.names == [n for n, p in model.named_parameters() if p.requires_grad]
    assert "frozen.weight" not in monitor.names
    expected = [0.0 if p.grad is None else float(torch.linalg.vector_norm(p.grad)) for p in params]
    assert last_grad_norms(monitor) == pytest.approx(expected, rel=REL)
    if not use_spare:
        assert last_grad_norms(monitor)[monitor.names.index("spare.weight")] == 0.0
    reference = float(torch.nn.utils.clip_grad_norm_(params, float("inf")))
    assert stats is not None and stats.step == 0
    assert stats.grad_norm == pytest.approx(reference, rel=REL)
    assert monitor.trace.grad_norm[-1] == pytest.approx(reference, rel=REL)
    assert stats.loss == pytest.approx(loss.item(), rel=REL)
    assert stats.nonfinite_grads == () and stats.finite


def test_weight_norms_equal_a_plain_loop(device: str) -> None:
    torch.manual_seed(0)
    model = TinyNet().to(device)
    monitor = Monitor(model, weight_every=1)
    stats = monitor.record(backward_tiny(model))
    expected = [float(torch.linalg.vector_norm(p.detach())) for p in trainable(model)]
    assert last_weight_norms(monitor) == pytest.approx(expected, rel=REL)
    assert stats.weight_norm == pytest.approx(math.sqrt(sum(x * x for x in expected)), rel=REL)
    assert monitor.trace.weight_norm[-1] == pytest.approx(stats.weight_norm, rel=REL)


def test_parameters_of_several_dtypes_take_the_grouped_path() -> None:
    torch.manual_seed(0)
    model = nn.ModuleDict({"a": nn.Linear(3, 4), "b": nn.Linear(4, 2).double(), "c": nn.Linear(2, 2)})
    for i, p in enumerate(model.parameters()):
        p.grad = torch.randn_like(p) * (i + 1)
    model["c"].bias.grad = None
    monitor = Monitor(model, weight_every=1, track_max_abs=True)
    for _ in range(2):  # the second step reuses the cached layout
        stats = monitor.record(torch.tensor(0.5))
    params = list(model.parameters())
    expected = [0.0 if p.grad is None else float(torch.linalg.vector_norm(p.grad.double())) for p in params]
    assert last_grad_norms(monitor) == pytest.approx(expected, rel=REL)
    assert last_weight_norms(monitor) == pytest.approx(
        [float(torch.linalg.vector_norm(p.detach().double())) for p in params], rel=REL)
    assert stats.grad_norm == pytest.approx(math.sqrt(sum(x * x for x in expected)), rel=REL)
    assert stats.grad_max_abs == pytest.approx(max(float(p.grad.abs().max()) for p in params if p.grad is not None),
                                               rel=REL)


def test_half_precision_norms_do_not_overflow() -> None:
    model = nn.Linear(64, 64).half()
    model.weight.grad = torch.full_like(model.weight, 1000.0)  # norm 64,000 x ... > float16's 65,504
    model.bias.grad = torch.zeros_like(model.bias)
    stats = Monitor(model).record(1.0)
    assert stats.nonfinite_grads == ()
    assert stats.grad_norm == pytest.approx(1000.0 * 64, rel=1e-3)


def test_record_and_clip_norm_never_read_device_data_between_syncs() -> None:
    """On the meta device tensors have no data: any .item(), float() or copy to the host would raise."""
    model = mlp(width=8).to("meta")
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    monitor = Monitor(model, weight_every=1, sync_every=100, track_max_abs=True)
    for step in range(3):
        if step == 2:
            model[2].bias.grad = None  # the grouped path too
        monitor.record(torch.tensor(1.0, device="meta"))
        monitor.clip_norm_(1.0)
        monitor.clip_value_(1.0)
    assert len(monitor.trace) == 0
    with pytest.raises(NotImplementedError):  # flush() is where the one copy happens
        monitor.flush()


# -- non-finite ----------------------------------------------------------------------------------------


def test_nonfinite_gradients_are_flagged_and_the_first_is_an_event(device: str) -> None:
    model = mlp(device=device)
    monitor = Monitor(model)
    batches = mlp_batches(4, device=device)
    bad_at = {1: ("2.weight", math.nan), 2: ("0.bias", math.inf)}
    for step, (x, y) in enumerate(batches):
        model.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        if step in bad_at:
            name, value = bad_at[step]
            dict(model.named_parameters())[name].grad.view(-1)[0] = value
        stats = monitor.record(loss)
        expected = (bad_at[step][0],) if step in bad_at else ()
        assert stats.nonfinite_grads == expected
        assert stats.finite == (step not in bad_at)
    assert list(monitor.trace.column("nonfinite_grads")) == [0, 1, 1, 0]
    events = [e for e in monitor.trace.info.events if e.kind == "nonfinite_gradient"]
    assert len(events) == 1 and events[0].step == 1 and events[0].parameter == "2.weight"
    diagnosis = monitor.diagnose()
    assert diagnosis.verdict == "critical"
    symptom = next(s for s in diagnosis.symptoms if s.kind.value == "nonfinite_gradient")
    assert symptom.step == 1 and symptom.parameter == "2.weight"


def test_nonfinite_loss_and_weight_are_flagged() -> None:
    model = mlp()
    monitor = Monitor(model, weight_every=1)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    monitor.record(torch.tensor(1.0))
    with torch.no_grad():
        model[2].weight[0, 0] = math.inf
    stats = monitor.record(torch.tensor(math.nan))
    assert not stats.loss_finite
    assert stats.nonfinite_weights == ("2.weight",)
    kinds = {e.kind: e for e in monitor.trace.info.events}
    assert kinds["nonfinite_loss"].step == 1
    assert kinds["nonfinite_weight"].parameter == "2.weight" and kinds["nonfinite_weight"].step == 0


def test_finite_gradient_whose_float32_norm_overflows_is_not_nonfinite(device: str) -> None:
    model = mlp(device=device)
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e20)  # every element finite; the sum of squares is not, in float32
    params = list(model.parameters())
    assert not math.isfinite(float(torch.linalg.vector_norm(params[0].grad)))
    monitor = Monitor(model)
    stats = monitor.record(torch.tensor(1.0))
    assert stats.nonfinite_grads == ()
    assert monitor.trace.column("nonfinite_grads")[-1] == 0
    numel = sum(p.numel() for p in params)
    assert stats.grad_norm == pytest.approx(1e20 * math.sqrt(numel), rel=REL)
    assert last_grad_norms(monitor)[0] == pytest.approx(1e20 * math.sqrt(params[0].numel()), rel=REL)
    assert not monitor.trace.info.events
    # Clipping uses the true norm: the gradients come out finite with the asked norm (clip_grad_norm_ gives 0s).
    monitor.clip_norm_(1.0)
    assert float(torch.linalg.vector_norm(torch.cat([p.grad.double().flatten() for p in params]))) == (
        pytest.approx(1.0, rel=1e-5))


# -- clipping ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_norm", [0.05, 1e6])
def test_clip_norm_equals_clip_grad_norm_exactly(max_norm: float, device: str) -> None:
    torch.manual_seed(0)
    plain = TinyNet().to(device)
    watched = copy.deepcopy(plain)
    backward_tiny(plain, use_spare=False)
    loss = backward_tiny(watched, use_spare=False)
    expected_total = torch.nn.utils.clip_grad_norm_(trainable(plain), max_norm)

    monitor = Monitor(watched)
    monitor.record(loss)
    total = monitor.clip_norm_(max_norm)
    assert torch.equal(total, expected_total)
    for (name, a), b in zip(plain.named_parameters(), watched.parameters(), strict=True):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            assert torch.equal(a.grad, b.grad), name
    assert monitor.trace.column("clipped")[-1] == int(float(expected_total) > max_norm)


def test_clip_norm_needs_record_first() -> None:
    with pytest.raises(RuntimeError, match="record"):
        Monitor(mlp()).clip_norm_(1.0)


def test_clip_norm_does_not_spread_a_nonfinite_norm(device: str) -> None:
    model = mlp(device=device)
    batches = mlp_batches(1, device=device)
    loss = nn.functional.mse_loss(model(batches[0][0]), batches[0][1])
    loss.backward()
    model[0].weight.grad[0, 0] = math.nan
    before = [p.grad.clone() for p in model.parameters()]
    monitor = Monitor(model)
    stats = monitor.record(loss)
    total = monitor.clip_norm_(1e-3)
    assert math.isnan(float(total)) and stats.nonfinite_grads == ("0.weight",)
    for b, p in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, b, rtol=0, atol=0, equal_nan=True)  # untouched: the NaN stays put
    assert monitor.trace.column("clipped")[-1] == 0


def test_clip_value_equals_clip_grad_value_and_marks_clipped(device: str) -> None:
    torch.manual_seed(0)
    plain = mlp(device=device)
    watched = copy.deepcopy(plain)
    monitor = Monitor(watched)
    clipped = []
    for step, (x, y) in enumerate(mlp_batches(3, scale=5.0, device=device)):
        for model in (plain, watched):
            model.zero_grad(set_to_none=True)
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
        peak = max(float(p.grad.abs().max()) for p in watched.parameters())
        threshold = peak / 2 if step != 1 else peak * 2  # bites on steps 0 and 2 only
        torch.nn.utils.clip_grad_value_(plain.parameters(), threshold)
        stats = monitor.record(loss)
        monitor.clip_value_(threshold)
        clipped.append(int(peak > threshold))
        for a, b in zip(plain.parameters(), watched.parameters(), strict=True):
            assert torch.equal(a.grad, b.grad)
        if step > 0:  # after the first clip_value_, record takes the peak in its single copy
            assert stats.grad_max_abs == pytest.approx(peak, rel=REL)
    assert clipped == [1, 0, 1]
    assert list(monitor.trace.column("clipped")) == clipped


# -- sync_every, weight_every --------------------------------------------------------------------------


def run_mlp(steps: int, clip: float | None = None, value: float | None = None, device: str = "cpu",
            **kwargs) -> Monitor:
    model = mlp(device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    monitor = Monitor(model, **kwargs)
    for x, y in mlp_batches(steps, device=device):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        monitor.record(loss, lr=0.05)
        if clip is not None:
            monitor.clip_norm_(clip)
        if value is not None:
            monitor.clip_value_(value)
        optimizer.step()
    return monitor


def assert_same_trace(a: Monitor, b: Monitor) -> None:
    fa, fb = a.trace.to_frame().drop(columns="seconds"), b.trace.to_frame().drop(columns="seconds")
    assert list(fa.columns) == [c for c in COLUMNS if c != "seconds"]
    assert fa.equals(fb), (fa, fb)
    for series in ("grad", "weight"):
        assert a.trace.param_frame(series).equals(b.trace.param_frame(series))


@pytest.mark.parametrize("clip", [{"clip": 0.3}, {"value": 0.05}], ids=["norm", "value"])
def test_sync_every_gives_the_same_trace_after_flush(clip: dict[str, float], device: str) -> None:
    steps = 10
    every_step = run_mlp(steps, device=device, **clip)
    batched = run_mlp(steps, sync_every=4, device=device, **clip)
    assert len(batched.trace) == 8  # two full batches landed; two steps still on the device
    batched.flush()
    assert len(batched.trace) == steps
    assert_same_trace(every_step, batched)
    assert every_step.trace.column("clipped").any()


def test_sync_every_returns_stats_only_when_they_land() -> None:
    model = mlp()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    monitor = Monitor(model, sync_every=3)
    assert [monitor.record(float(i)) for i in range(3)][:2] == [None, None]
    assert monitor.last is not None and monitor.last.step == 2
    monitor.record(7.0)
    landed = monitor.flush()
    assert [s.step for s in landed] == [3] and landed[0].loss == 7.0
    assert monitor.flush() == []


def test_weight_every_takes_weights_on_schedule_and_carries_them_forward() -> None:
    monitor = run_mlp(7, weight_every=3)
    reference = run_mlp(7, weight_every=1)
    weights = monitor.trace.weight_norm
    exact = reference.trace.weight_norm
    for step in range(7):
        measured = step - step % 3
        assert weights[step] == exact[measured]
    per_param = monitor.trace.param_frame("weight").to_numpy()
    per_param_exact = reference.trace.param_frame("weight").to_numpy()
    assert np.array_equal(per_param[5], per_param_exact[3])
    assert np.array_equal(monitor.trace.grad_norm, reference.trace.grad_norm)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        Monitor(mlp(), weight_every=0)
    with pytest.raises(ValueError):
        Monitor(mlp(), sync_every=0)
    frozen = mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no parameters"):
        Monitor(frozen)


# -- AMP -----------------------------------------------------------------------------------------------


def run_amp(steps: int, poison: set[int], *, unscale_first: bool = True,
            device: str = "cpu") -> tuple[Monitor, torch.amp.GradScaler, list[bool]]:
    """A GradScaler loop; on `poison` steps one scaled gradient element is set to inf by hand."""
    model = mlp(device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler(device, init_scale=2.0**10)
    monitor = Monitor(model, scaler=scaler)
    stepped = []
    for step, (x, y) in enumerate(mlp_batches(steps, device=device)):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        scaler.scale(loss).backward()
        if step in poison:
            model[2].weight.grad[0, 0] = math.inf
        if unscale_first:
            scaler.unscale_(optimizer)
        monitor.record(loss)
        before = model[0].weight.detach().clone()
        scaler.step(optimizer)
        scaler.update()
        stepped.append(not torch.equal(before, model[0].weight))
    return monitor, scaler, stepped


def test_amp_occasional_skips_are_counted_not_reported(device: str) -> None:
    monitor, scaler, stepped = run_amp(8, {2, 5}, device=device)
    assert stepped == [True, True, False, True, True, False, True, True]  # the scaler really skipped them
    assert scaler.get_scale() == 2.0**8
    assert list(monitor.trace.column("amp_skipped")) == [0, 0, 1, 0, 0, 1, 0, 0]
    assert not monitor.trace.column("nonfinite_grads").any()
    assert monitor.last.amp_skipped is False
    assert not any(e.kind == "nonfinite_gradient" for e in monitor.trace.info.events)
    diagnosis = monitor.diagnose()
    assert "nonfinite_gradient" not in diagnosis.kinds()
    assert diagnosis.summary.amp_skipped_steps == 2
    assert math.isfinite(diagnosis.summary.max_grad_norm)  # the skipped steps' inf norms are left out


def test_amp_persistent_skips_are_a_nonfinite_gradient(device: str) -> None:
    start = 2
    poison = set(range(start, start + AMP_PERSISTENT_SKIPS + 2))
    monitor, _, stepped = run_amp(start + AMP_PERSISTENT_SKIPS + 3, poison, device=device)
    skipped = monitor.trace.column("amp_skipped")
    flagged = monitor.trace.column("nonfinite_grads")
    reported_at = start + AMP_PERSISTENT_SKIPS - 1  # the AMP_PERSISTENT_SKIPS-th skip in a row
    # amp_skipped counts what the scaler skipped, as a plain loop does; past the streak they are findings too.
    assert list(skipped.astype(bool)) == [not s for s in stepped]
    assert skipped[start:start + len(poison)].all() and not skipped[start + len(poison):].any()
    assert not flagged[:reported_at].any() and flagged[reported_at:start + len(poison)].all()
    event = next(e for e in monitor.trace.info.events if e.kind == "nonfinite_gradient")
    assert event.step == reported_at and event.parameter == "2.weight"
    assert f"from step {start}" in event.detail
    diagnosis = monitor.diagnose()
    assert diagnosis.verdict == "critical" and "nonfinite_gradient" in diagnosis.kinds()


def test_amp_norms_are_of_unscaled_gradients_even_before_unscale(device: str) -> None:
    after, _, _ = run_amp(3, set(), unscale_first=True, device=device)
    before, _, _ = run_amp(3, set(), unscale_first=False, device=device)
    assert before.trace.grad_norm == pytest.approx(after.trace.grad_norm, rel=REL)
    assert before.trace.param_frame("grad").to_numpy() == pytest.approx(
        after.trace.param_frame("grad").to_numpy(), rel=REL)
    plain = run_mlp(3, device=device)  # same seeds, no AMP: lr differs, so compare the first step only
    assert after.trace.grad_norm[0] == pytest.approx(plain.trace.grad_norm[0], rel=REL)


# -- memory --------------------------------------------------------------------------------------------


def test_trace_memory_stays_bounded_for_a_1000_tensor_model() -> None:
    n_tensors, steps, recent, history = 1000, 200, 8, 16
    model = nn.ParameterList([nn.Parameter(torch.randn(2)) for _ in range(n_tensors)])
    for p in model:
        p.grad = torch.randn_like(p)
    monitor = Monitor(model, recent=recent, history=history)
    sizes = []
    for step in range(steps):
        monitor.record(float(step))
        if step % 50 == 0:
            sizes.append(monitor.trace.nbytes)
    sizes.append(monitor.trace.nbytes)
    assert len(set(sizes)) == 1, sizes  # nothing grew (the global columns start with room for 1,024 steps)
    everything = steps * n_tensors * 4 * 2  # float32 grad + weight norms of every step
    per_param = monitor.trace.grad_norms.nbytes + monitor.trace.weight_norms.nbytes
    assert per_param <= (recent + history) * (n_tensors * 4 + 8) * 2
    assert per_param < everything / 4
    kept, _ = monitor.trace.grad_norms.series()
    assert kept[0] == 0 and kept[-1] == steps - 1 and len(kept) < recent + history
    assert np.array_equal(kept[-recent:], np.arange(steps - recent, steps))  # the recent window in full
    assert len(monitor.trace) == steps  # the global series in full
    assert monitor.trace.grad_norm[-1] == pytest.approx(
        float(torch.nn.utils.clip_grad_norm_(list(model), float("inf"))), rel=REL)


# -- results -------------------------------------------------------------------------------------------


def test_diagnose_save_and_load_run_round_trip(tmp_path) -> None:
    monitor = run_mlp(12, clip=0.3)
    diagnosis = monitor.diagnose()
    assert diagnosis.verdict in ("healthy", "warning", "critical")
    assert diagnosis.steps_completed == 12
    run_dir = monitor.save(tmp_path / "runs" / "mine")
    run = gradscope.load_run(run_dir)
    assert run.diagnosis.verdict == diagnosis.verdict
    document = json.loads((run_dir / "diagnosis.json").read_text())
    assert document["verdict"] == diagnosis.verdict and document["run_dir"] == str(run_dir)
    frame = run.trace
    assert {"step", "loss", "grad_norm", "weight_norm", "clipped"} <= set(frame.columns)
    assert list(frame["step"]) == list(range(12))
    expected = monitor.trace.to_frame()
    for column in ("loss", "grad_norm", "weight_norm"):
        assert frame[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-9)
    assert list(frame["clipped"]) == list(expected["clipped"])
    assert list(run.grad_norms.columns) == monitor.names
    assert run.grad_norms.to_numpy() == pytest.approx(monitor.trace.param_frame("grad").to_numpy(), rel=1e-6)


def test_save_after_a_run_longer_than_the_per_parameter_window(tmp_path) -> None:
    model = mlp(width=4)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    monitor = Monitor(model, recent=4, history=8)
    for step in range(60):
        monitor.record(float(step))
    run = gradscope.load_run(monitor.save(tmp_path / "long"))
    assert list(run.trace["step"]) == list(range(60))  # the global series in full
    assert list(run.trace["loss"]) == [float(s) for s in range(60)]
    kept = list(run.grad_norms.index)
    assert kept[0] == 0 and kept[-4:] == [56, 57, 58, 59] and len(kept) < 60
    assert list(run.weight_norms.index) == kept
    assert run.diagnosis.steps_completed == 60
    rebuilt = run.rebuild_trace()  # per-parameter rows matched to their steps, not to row numbers
    assert len(rebuilt) == 60
    steps, norms = rebuilt.grad_norms.series()
    assert list(steps) == kept and norms.shape == (len(kept), len(monitor.names))


def test_diagnose_of_a_nan_run_is_critical() -> None:
    model = mlp()
    monitor = Monitor(model)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    for step in range(3):
        monitor.record(torch.tensor(math.nan if step == 2 else 1.0))
    diagnosis = monitor.diagnose()
    assert diagnosis.verdict == "critical"
    assert "nonfinite_loss" in diagnosis.kinds()


def test_import_gradscope_loads_no_torch_or_pandas() -> None:
    """Nor does a Monitor import torch._dynamo (2 s) in a process that never compiles nor builds a torch.optim
    optimizer (a script attached that updates its weights by hand)."""
    code = ("import sys, gradscope\n"
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))\n"
            "import torch\n"
            "model = torch.nn.Linear(2, 1)\n"
            "monitor = gradscope.Monitor(model)\n"
            "model(torch.ones(1, 2)).sum().backward()\n"
            "monitor.record(torch.tensor(1.0))\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "False"]


def test_a_noisy_run_whose_first_batch_was_lucky_is_not_called_diverged() -> None:
    """An MLP on a heavy-tailed target (sin(2 x0) + x1^2) under Adam, batches of 32 drawn at random: its first batch
    reads 1.13, its first ten 3.27 at the median, its last fifteen 2.04. It trained; judged from step 0's loss alone
    it was once called diverged and broken."""
    torch.manual_seed(0)
    x = torch.randn(1024, 16)
    y = torch.sin(x[:, :1] * 2) + x[:, 1:2] ** 2
    model = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    monitor = Monitor(model)
    losses = []
    for _ in range(150):
        i = torch.randint(0, 1024, (32,))
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[i]), y[i])
        loss.backward()
        monitor.record(loss)
        losses.append(float(loss))
        optimizer.step()
    assert np.median(losses[-15:]) < np.median(losses[:10]) and np.median(losses[-15:]) > 1.5 * losses[0]
    diagnosis = monitor.diagnose()
    assert "loss_divergence" not in [s.kind.value for s in diagnosis.symptoms]
