"""The op-level overflow check (gradscope/record/op_overflow.py) on crafted modules: the first op that makes inf/NaN out
of finite inputs, the module it ran in, forward or backward, its counts and how far its inputs had grown, checked
against the same numbers computed by plain torch. Deliberate -inf masks are not overflows."""

from __future__ import annotations

import json

import torch
from torch import nn
from typer.testing import CliRunner

from gradscope.build.loading import LossComputer
from gradscope.cli import app
from gradscope.record.op_overflow import OverflowWatch, find_overflow
from gradscope.record.recipe import Recipe
from gradscope.record.replay import restore_rng, rng_snapshot

FP16_MAX = 65504.0


class HandRMSNorm(nn.Module):
    """x * rsqrt(mean(x^2)): x.pow(2) overflows float16 for |x| > 256 and the row becomes 0, finite."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 8)
        self.norm = HandRMSNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.norm(self.proj(x)))


def model_and_batch() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(Block(), nn.Linear(8, 1))
    return model, torch.randn(16, 4) * 300.0


def test_the_first_forward_overflow_is_the_norms_pow_and_the_loss_stays_finite() -> None:
    model, x = model_and_batch()
    with torch.autocast("cpu", dtype=torch.float16):
        h = model[0].proj(x)  # what the op's input is: the Linear's float16 output
    expected_inf = int(torch.isinf(h.pow(2)).sum())
    assert expected_inf > 0
    with OverflowWatch(model) as watch:
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(x).float().pow(2).mean()
        loss.backward()
    assert torch.isfinite(loss) and all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    found = watch.first["forward"]
    assert (found.op, found.module, found.module_type, found.phase, found.dtype) == (
        "aten.pow", "0.norm", "HandRMSNorm", "forward", "float16")
    assert (found.inf, found.nan, found.numel) == (expected_inf, 0, h.numel())
    assert found.input_max == float(h.detach().abs().max())
    assert "backward" not in watch.first  # the saturated rows pass back zeros, not inf
    assert found.describe().startswith(f"aten.pow in module 0.norm (HandRMSNorm) produced {expected_inf:,} inf of "
                                       f"{h.numel():,} float16 values in the forward; its inputs reached")
    assert "float16's largest value is 65,504" in found.describe()


def test_a_linear_past_65504_is_its_addmm() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.fill_(300.0)
    x = torch.full((2, 4), 100.0)  # 4 * 300 * 100 = 120,000 > 65,504
    with OverflowWatch(model) as watch, torch.autocast("cpu", dtype=torch.float16):
        out = model(x)
    assert bool(torch.isfinite(out).all())  # sigmoid(inf) = 1: hidden
    found = watch.earliest
    assert (found.op, found.module, found.module_type, found.inf, found.numel) == ("aten.addmm", "0", "Linear", 16, 16)
    assert found.input_max == 300.0


def test_in_place_overflow_is_judged_on_its_inputs_before_it_ran() -> None:
    class Boost(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.half().mul_(1000.0).clamp(-1, 1)

    with OverflowWatch(Boost()) as watch:
        Boost()(torch.full((3,), 100.0))
    # the module ran outside the watched instance's hooks: the op is found, the module is not named
    assert watch.earliest is not None and watch.earliest.op == "aten.mul_" and watch.earliest.inf == 3
    model = Boost()
    with OverflowWatch(model) as watch:
        model(torch.full((3,), 100.0))
    assert (watch.earliest.module, watch.earliest.module_type) == ("", "Boost")
    assert "in module (the model) (Boost)" in watch.earliest.describe()


def test_masks_and_propagated_infs_are_not_overflows() -> None:
    scores = torch.randn(2, 4, 4)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    with OverflowWatch(nn.Identity()) as watch, torch.autocast("cpu", dtype=torch.float16):
        masked = (scores @ scores.transpose(1, 2)).masked_fill(causal, float("-inf"))  # nanoGPT's mask
        additive = torch.full((4, 4), torch.finfo(torch.float32).min).triu(1).half()  # a finfo.min mask, cast
        where = torch.where(causal, torch.tensor(-1e9), scores[0].half())  # -1e9 is -inf in float16
        probs = torch.softmax(masked + additive + where, -1)
        (probs * 2).sum()
    assert bool(torch.isfinite(probs).all())
    assert watch.first == {}


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def test_backward_overflow_is_attributed_to_the_module_whose_forward_made_the_node() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), Scale(1e4), nn.Linear(8, 1))
    x = torch.randn(16, 4) * 1e-4
    with torch.autocast("cpu", dtype=torch.float16):
        hidden = model[:2](x).detach()  # ~5e3: the forward stays below 65,504
    # the head's weight gradient: the loss scale 100 per row, summed over 16 rows of `hidden`
    grad_w = (torch.full((16, 1), 100.0, dtype=torch.float16).t() @ hidden)
    assert bool(torch.isfinite(hidden).all()) and not bool(torch.isfinite(grad_w).all())
    with OverflowWatch(model) as watch:
        with torch.autocast("cpu", dtype=torch.float16):
            out = model(x)
        (out.float().sum() * 100.0).backward()
    found = watch.first["backward"]
    assert (found.op, found.module, found.module_type, found.phase, found.dtype) == (
        "aten.mm", "2", "Linear", "backward", "float16")
    assert (found.inf, found.numel) == (int(torch.isinf(grad_w).sum()), grad_w.numel())
    assert found.input_max == float(hidden.abs().max())
    assert "forward" not in watch.first


def test_find_overflow_replays_without_disturbing_the_run() -> None:
    model, x = model_and_batch()
    model.append(nn.BatchNorm1d(1))
    batch = (x, torch.zeros(16, 1))
    loss_fn = LossComputer(nn.MSELoss(), None, "test")
    recipe = Recipe.build(torch.device("cpu"), "fp16", 1)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    grads = [p.grad.clone() for p in model.parameters()]
    buffers = [b.clone() for b in model.buffers()]
    rng = rng_snapshot(torch.device("cpu"))
    before = torch.rand(3, generator=None)
    restore_rng(rng)
    found, loss = find_overflow(model, loss_fn, batch, rng, recipe)
    assert found["forward"].module == "0.norm" and loss == loss  # finite: not NaN
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
    assert all(torch.equal(b, c) for b, c in zip(model.buffers(), buffers, strict=True))
    assert torch.equal(torch.rand(3), before)  # the RNG goes on where the run left it


AMPLIFIED = '''
import torch
from torch import nn


class Amplify(nn.Module):
    def forward(self, x):
        return x * 1000.0  # finite in float32; past 65,504 in float16 once |x| > 65.5


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), Amplify(), nn.Linear(8, 1))


def build_data():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 4, generator=g) * 200.0, torch.randn(16, 1, generator=g)) for _ in range(4)]
'''


def test_the_first_nonfinite_loss_under_fp16_names_the_op_as_well_as_the_module(tmp_path) -> None:
    (tmp_path / "factories.py").write_text(AMPLIFIED)
    config = tmp_path / "gradscope.toml"
    config.write_text('[model]\nfactory = "factories.py:build_model"\n[data]\nfactory = "factories.py:build_data"\n'
                      '[loss]\nname = "MSELoss"\n[optimizer]\nname = "SGD"\nlr = 1e-12\n'
                      '[run]\nsteps = 3\ndevice = "cpu"\nprecision = "fp16"\n')
    result = CliRunner().invoke(app, ["diagnose", str(config), "--json", "--no-plots", "--out", str(tmp_path / "run")])
    doc = json.loads(result.stdout)
    loss = next(s for s in doc["symptoms"] if s["kind"] == "nonfinite_loss")
    assert loss["step"] == 0 and loss["module"] == "1"
    assert loss["message"].startswith(
        "loss became NaN at step 0: first non-finite output in module 1 (Amplify: 0 NaN, ")
    assert "; made by aten.mul (forward, float16, from inputs up to " in loss["message"]
    assert (loss["evidence"]["op"]["op"], loss["evidence"]["op"]["module_type"]) == ("aten.mul", "Amplify")
