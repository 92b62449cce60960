"""The instrumented training loop against a plain torch loop with the same seed: same losses, norms, NaN step.

Every reference number comes from a loop a user would write (torch.manual_seed, build, zero_grad, loss,
backward, [clip_grad_norm_ / clip_grad_value_], step), never from gradscope. Configs pin device = "cpu" so the
comparison is like for like on a machine with a GPU too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from gradscope.clip.setting import Clip
from gradscope.config.load import load_config
from gradscope.drivers.loop import train
from gradscope.record import locate
from gradscope.record.locate import Location

REL = 1e-5

FACTORIES = '''
import torch
from torch import nn


def build_model(width=16, depth=2, dropout=0.0):
    layers, fan_in = [], 4
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, 1))
    return nn.Sequential(*layers)


def _xy(n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g) * scale
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def build_data(n=96, batch_size=32, scale=1.0, seed=0):
    """A list of batches: three per pass with the defaults."""
    x, y = _xy(n, scale, seed)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]


def build_generator(n=96, batch_size=32, seed=0):
    """A one-shot generator of batches: a new pass needs a new call."""
    x, y = _xy(n, 1.0, seed)
    return ((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size))


def build_dataset(n=96, seed=0):
    """A Dataset: gradscope batches it with [data] batch_size, shuffled by the run's seed."""
    x, y = _xy(n, 1.0, seed)
    return torch.utils.data.TensorDataset(x, y)


class Overflow(nn.Module):
    """Multiplies by 1e40 in two float32 steps: every positive input becomes +Inf."""

    def forward(self, x):
        return (x * 1e20) * 1e20


class BlowsUpInLayer3(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), Overflow(), nn.Linear(8, 1))

    def forward(self, x):
        return self.body(x)


def build_blows_up():
    return BlowsUpInLayer3()


class SqrtGate(nn.Module):
    """y = sqrt(|h| * w): finite at w = 0, but d/dw = |h| / (2 sqrt(|h| w)) is Inf there."""

    def __init__(self, width):
        super().__init__()
        self.w = nn.Parameter(torch.ones(width))
        with torch.no_grad():
            self.w[3] = 0.0

    def forward(self, h):
        return torch.sqrt(h.abs() * self.w)


class SqrtNet(nn.Module):
    def __init__(self):
        super().__init__()
        # Registered before the input layer: in registration order the culprit comes first, in backward
        # order (output to input) it is the first parameter whose gradient goes non-finite.
        self.gate = SqrtGate(8)
        self.inp = nn.Linear(4, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(self.gate(self.inp(x)))


def build_sqrt_net():
    return SqrtNet()


def nan_loss_at_step_5(model, batch):
    """MSE, plus NaN on the batch flagged as bad: the loss value is NaN, its gradient stays finite."""
    x, y, bad = batch
    loss = torch.nn.functional.mse_loss(model(x), y)
    return loss + float("nan") if bool(bad) else loss


def build_flagged(n=96, batch_size=16, seed=0, bad_batch=5):
    x, y = _xy(n, 1.0, seed)
    return [(x[i:i + batch_size], y[i:i + batch_size], torch.tensor(i // batch_size == bad_batch))
            for i in range(0, n, batch_size)]
'''


def config_text(*, model: str = "build_model", model_kwargs: str = "{}", data: str = "build_data",
                data_kwargs: str = "{}", optimizer: str = 'name = "SGD"\nlr = 0.05', steps: int = 12,
                seed: int = 0, loss: str = 'name = "MSELoss"', extra: str = "") -> str:
    return f"""
[model]
factory = "factories.py:{model}"
kwargs = {model_kwargs}

[data]
factory = "factories.py:{data}"
kwargs = {data_kwargs}
batch_size = 16

[loss]
{loss}

[optimizer]
{optimizer}

[run]
steps = {steps}
seed = {seed}
device = "cpu"
{extra}
"""


@pytest.fixture
def factories(tmp_path):
    path = tmp_path / "factories.py"
    path.write_text(FACTORIES)
    spec = importlib.util.spec_from_file_location(f"plain_factories_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(tmp_path, factories):
    """run(config text, **train kwargs) -> RunResult, from a fresh run folder each time."""
    counter = itertools.count()

    def go(text: str, clip: Clip | None = None, **kwargs):
        path = tmp_path / f"config{next(counter)}.toml"
        path.write_text(text)
        config = load_config(path)
        if clip is not None:
            config = dataclasses.replace(config, clip=clip)
        return train(config, tmp_path / f"run{next(counter)}", write_plots=False, **kwargs)

    return go


def plain_loop(make_model, batches, steps: int, *, seed: int = 0, lr: float = 0.05, optimizer: str = "SGD",
               clip_norm: float | None = None, clip_value: float | None = None):
    """The loop a user writes. Returns (losses, global grad norms before clipping, first non-finite step)."""
    torch.manual_seed(seed)
    model = make_model()
    data = batches()
    optim = getattr(torch.optim, optimizer)(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses, norms, first_bad = [], [], None
    stream = _cycle(data, batches)
    for step in range(steps):
        x, y = next(stream)
        optim.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        # The global norm as clip_grad_norm_ takes it, without calling it: with max_norm=inf it is not a pure
        # measurement, since a norm that overflows float32 (finite elements, |g| ~ 1e19) makes it scale every
        # gradient by inf / inf = NaN.
        per_param = [torch.linalg.vector_norm(p.grad) for p in model.parameters()]
        norm = torch.linalg.vector_norm(torch.stack(per_param))
        grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
        losses.append(loss.item())
        norms.append(norm.item())
        if first_bad is None and not (math.isfinite(loss.item()) and grads_finite):
            first_bad = step
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            break  # gradscope stops here too: nothing more to learn from NaN weights
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
        optim.step()
    return np.array(losses), np.array(norms), first_bad


def _cycle(first, make):
    data = first
    while True:
        iterator = iter(data)
        yield from iterator
        data = make() if iterator is data else data  # a one-shot generator: ask the factory again


def assert_close(actual, expected, rel=REL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rel, atol=0)


# -- the same numbers as a plain loop ------------------------------------------------------------------------

def test_losses_and_global_norms_match_a_plain_loop(run, factories):
    result = run(config_text(steps=12, seed=3))
    losses, norms, _ = plain_loop(factories.build_model, lambda: factories.build_data(), 12, seed=3)
    assert len(result.trace) == 12
    assert_close(result.trace.loss, losses)
    assert_close(result.trace.grad_norm, norms)
    assert result.diagnosis.verdict == "healthy"


def test_per_parameter_norms_add_up_to_the_global_norm(run):
    result = run(config_text(steps=5))
    per_param = result.trace.param_frame("grad").to_numpy()
    assert_close(np.sqrt((per_param ** 2).sum(axis=1)), result.trace.grad_norm)


def test_adam_and_another_seed_match_too(run, factories):
    result = run(config_text(steps=10, seed=7, optimizer='name = "Adam"\nlr = 0.01'))
    losses, norms, _ = plain_loop(factories.build_model, lambda: factories.build_data(), 10, seed=7, lr=0.01,
                                  optimizer="Adam")
    assert_close(result.trace.loss, losses)
    assert_close(result.trace.grad_norm, norms)


def test_first_nonfinite_step_is_the_plain_loops(run, factories):
    """Linear regression on inputs scaled by 3 (curvature ~18) with SGD at lr 0.15, past 2 / 18: the error
    grows ~1.7x a step until the loss overflows float32."""
    text = config_text(steps=200, model_kwargs="{ depth = 0 }", data_kwargs="{ scale = 3.0 }",
                       optimizer='name = "SGD"\nlr = 0.15')
    result = run(text)
    losses, norms, first_bad = plain_loop(lambda: factories.build_model(depth=0),
                                          lambda: factories.build_data(scale=3.0), 200, lr=0.15)
    assert first_bad is not None and first_bad >= 10  # it grows for a while before it overflows
    trace = result.trace
    bad = ~np.isfinite(trace.loss) | (trace.column("nonfinite_grads") > 0)
    assert int(np.flatnonzero(bad)[0]) == first_bad
    assert_close(trace.loss[:first_bad], losses[:first_bad])
    # Where the float32 norm overflows (its elements still finite), gradscope re-measures it in float64.
    finite = np.isfinite(norms[:first_bad])
    assert not finite.all()
    assert_close(trace.grad_norm[:first_bad][finite], norms[:first_bad][finite])
    assert np.isfinite(trace.grad_norm[:first_bad]).all()
    diagnosis = result.diagnosis
    assert diagnosis.verdict == "critical"
    assert diagnosis.summary.first_nonfinite_step in (first_bad - 1, first_bad)  # weights may go first
    nonfinite_steps = [s.step for s in diagnosis.symptoms if s.kind.value.startswith("nonfinite")]
    assert min(nonfinite_steps) in (first_bad - 1, first_bad)


@pytest.mark.parametrize("clip", [Clip("norm", 0.5), Clip("value", 0.05)], ids=["norm", "value"])
def test_clipping_matches_a_plain_loop_with_torch_clipping(run, factories, clip):
    text = config_text(steps=15, data_kwargs="{ scale = 2.0 }", optimizer='name = "SGD"\nlr = 0.05')
    result = run(text, clip=clip)
    losses, norms, _ = plain_loop(factories.build_model, lambda: factories.build_data(scale=2.0), 15, lr=0.05,
                                  clip_norm=clip.threshold if clip.mode == "norm" else None,
                                  clip_value=clip.threshold if clip.mode == "value" else None)
    assert_close(result.trace.loss, losses)
    assert_close(result.trace.grad_norm, norms)  # recorded before clipping
    clipped = result.trace.column("clipped")
    assert clipped.any()  # the threshold bites on these steps, so the test compares clipped updates
    if clip.mode == "norm":
        assert np.array_equal(clipped.astype(bool), norms > clip.threshold)
    assert result.diagnosis.summary.clip == {"mode": clip.mode, "threshold": clip.threshold}


def test_clip_table_in_the_config_is_applied(run, factories):
    result = run(config_text(steps=10, data_kwargs="{ scale = 2.0 }", extra="\n[clip]\nnorm = 0.5\n"))
    losses, _, _ = plain_loop(factories.build_model, lambda: factories.build_data(scale=2.0), 10,
                              clip_norm=0.5)
    assert_close(result.trace.loss, losses)


def test_the_same_config_twice_gives_identical_traces(run):
    text = config_text(steps=20, model_kwargs="{ dropout = 0.2 }", data="build_dataset")
    first, second = run(text), run(text)
    for column in ("loss", "grad_norm", "weight_norm", "grad_max_abs"):
        assert np.array_equal(first.trace.column(column), second.trace.column(column)), column
    grads = [result.trace.param_frame("grad").to_numpy() for result in (first, second)]
    assert np.array_equal(*grads)


def test_the_seed_changes_the_run(run):
    assert not np.array_equal(run(config_text(seed=0)).trace.loss, run(config_text(seed=1)).trace.loss)


# -- cycling the data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", ["build_data", "build_generator"])
def test_data_cycles_past_one_pass(run, factories, data):
    """Six batches a pass, 20 steps: more than three passes, each the same batches in the same order."""
    result = run(config_text(steps=20, data=data, data_kwargs="{ batch_size = 16 }"))
    make = getattr(factories, data)
    losses, norms, _ = plain_loop(factories.build_model, lambda: make(batch_size=16), 20)
    assert len(result.trace) == 20
    assert_close(result.trace.loss, losses)
    assert_close(result.trace.grad_norm, norms)


def test_a_dataset_is_batched_and_reshuffled_each_pass_with_the_run_seed(run, factories):
    result = run(config_text(steps=20, data="build_dataset", seed=5))

    def loader():
        return torch.utils.data.DataLoader(factories.build_dataset(), batch_size=16, shuffle=True,
                                           generator=torch.Generator().manual_seed(5))

    losses, norms, _ = plain_loop(factories.build_model, loader, 20, seed=5)
    assert_close(result.trace.loss, losses)
    assert_close(result.trace.grad_norm, norms)


# -- where it first went wrong ------------------------------------------------------------------------------

def test_a_nonfinite_forward_is_located_in_the_module_that_produced_it(run):
    result = run(config_text(model="build_blows_up"))
    symptoms = {s.kind.value: s for s in result.diagnosis.symptoms}
    loss = symptoms["nonfinite_loss"]
    assert (loss.step, loss.module) == (0, "body.2")
    assert loss.evidence["stage"] == "forward"
    assert "Overflow" in loss.evidence["detail"]
    assert symptoms["nonfinite_gradient"].module == "body.2"


def test_a_finite_forward_with_a_nonfinite_backward_names_the_parameter(run):
    result = run(config_text(model="build_sqrt_net"))
    symptoms = {s.kind.value: s for s in result.diagnosis.symptoms}
    assert np.isfinite(result.trace.loss[0])  # sqrt(0) = 0: the forward and the loss are finite
    grad = symptoms["nonfinite_gradient"]
    assert (grad.step, grad.parameter, grad.evidence["stage"]) == (0, "gate.w", "backward")
    assert "inp.weight" in grad.evidence["others"]  # the NaN spread on to the input layer


def test_the_run_stops_when_the_weights_are_nonfinite(run):
    result = run(config_text(model="build_sqrt_net", steps=50))
    trace = result.trace
    assert trace.info.stopped == "nonfinite_weights"
    assert len(trace) < 50
    assert not np.isfinite(trace.weight_norm[-1])  # the last row recorded is the first with NaN weights
    assert np.isfinite(trace.weight_norm[:-1]).all()
    assert result.diagnosis.steps_completed == len(trace)
    [weight] = [s for s in result.diagnosis.symptoms if s.kind.value == "nonfinite_weight"]
    assert weight.step == len(trace) - 2  # the optimizer.step() before that row made them


def test_locating_replays_dropout_without_disturbing_later_steps(run, monkeypatch):
    """Step 5's loss is NaN (its gradient is finite, so the run goes on); the replay that locates it re-runs
    the forward with the same dropout masks, and every later step is what it would be without the replay."""
    text = config_text(model_kwargs="{ dropout = 0.5 }", data="build_flagged", steps=14,
                       loss='step = "factories.py:nan_loss_at_step_5"')
    located = run(text)
    calls = []

    def no_replay(*args):
        calls.append(args)
        return Location("unknown")

    monkeypatch.setattr(locate, "locate_nonfinite", no_replay)
    plain = run(text)
    assert len(calls) == 1  # the run without the replay reached the bad step once, and skipped the replay
    loss = {s.kind.value: s for s in located.diagnosis.symptoms}["nonfinite_loss"]
    assert (loss.step, loss.evidence["stage"]) == (5, "loss")  # the replay ran and found the loss at fault
    assert np.isnan(located.trace.loss[5]) and np.isnan(plain.trace.loss[5])
    assert np.array_equal(located.trace.loss, plain.trace.loss, equal_nan=True)
    assert np.array_equal(located.trace.grad_norm, plain.trace.grad_norm)
