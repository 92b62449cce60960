"""Healthy runs for `benchmarks/guard_regret.py` ("healthy-3"): hard tasks whose loss sits on a plateau for tens of
steps at a high but healthy learning rate, the runs that a rule for "stalled" starts must leave alone.

A model stalled near chance by a too-high learning rate shows the guard nothing (no loss rise, no spike, no
climb). Its large steps and flat loss look like a stall, and so do these runs: MLPs learning which quadrant pair
the signs of two input products name (XOR-like: no linear feature gives it away), flat for 30-60 steps, whose
weights take steps of 10-30% of their norm under Adam at lr 0.02-0.05. A rule that restarted such a start, judged
at step 12 or confirmed at step 48 with the loss not 20% down (2026-12-07, dropped), moved runs of this kind by
+62% to +145%. One run of the family that a clip does rescue (SGD momentum at lr 0.1) is here too.

Written after that rule, to keep it out: labelled from the plain loop of benchmarks/recommend_regret.py (unclipped
run and the 13-point grid, fresh_labels.verify's default rules). Seeds 301-307 (the two SGD momentum runs share
307).

Same form as guard_cases_healthy.py: `FACTORIES` join guard_cases.py's namespace, `HEALTHY3` is built on first
access.

    .venv/bin/python benchmarks/guard_cases_plateau.py [--cases a,b] [-v]   # verify every label

Labels as verified (plain loop, one torch thread), unclipped / first loss -> the grid's best (at clip):
  healthy
    p3_tanh_mlp_signs_adam_lr03         0.316 / 1.394 -> 0.304 (1), 4%
    p3_tanh_mlp_signs_adam_lr05         0.291 / 1.418 -> 0.291 (3.16)
    p3_relu_mlp_signs_adam_lr03         0.260 / 1.390 -> 0.260 (10)
    p3_deep_relu_mlp_signs_adamw_lr02   0.289 / 1.391 -> 0.289 (3.16)
    p3_gelu_mlp_parity_adam_lr003       0.478 / 0.690 -> 0.478 (1)
    p3_relu_mlp_signs_sgd_mom_lr03      0.395 / 1.395 -> 0.395 (3.16)
  unstable
    u3_relu_mlp_signs_sgd_mom_lr1       0.525 / 1.395 -> 0.208 (0.316), 60%
Dropped while writing (their labels failed): the tanh MLP at width 128 under Adam lr 0.02 (a clip gained 10%) and
0.03 (6%), the ReLU MLP at width 128 under Adam lr 0.02 (9%), the GELU parity MLP at Adam lr 0.01 (a clip of 1e-3
gained 23%), a tanh MLP at plain SGD lr 0.5 (never left chance) and lr 2 (a clip gained 16%).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from fresh_labels import check_labels, lazy_cases
from fresh_labels import factory_section as _m
from fresh_labels import make_case as _case
from regret_cases import Case
from torch import nn

Dataset = torch.utils.data.TensorDataset


# -- models and data ------------------------------------------------------------------------------------------

def build_act_mlp(inputs: int = 16, width: int = 64, depth: int = 2, outputs: int = 4,
                  activation: str = "tanh") -> nn.Module:
    """`depth` Linear+activation layers of `width` (torch's default init), then a linear head."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}[activation]
    layers: list[nn.Module] = []
    n_in = inputs
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), act()]
        n_in = width
    return nn.Sequential(*layers, nn.Linear(n_in, outputs))


def sign_quadrants(n: int = 2048, inputs: int = 16, seed: int = 0) -> Dataset:
    """4 classes from the signs of x0*x1 and x2*x3 (the other inputs are noise): no linear feature separates them,
    and a small MLP sits near chance for tens of steps before it finds the products."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long() + 2 * (x[:, 2] * x[:, 3] > 0).long()
    return Dataset(x, y)


def bit_parity(n: int = 2048, inputs: int = 12, bits: int = 3, seed: int = 0) -> Dataset:
    """2 classes: the parity of the signs of the first `bits` inputs (the rest are noise)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, inputs, generator=g)
    y = ((x[:, :bits] > 0).sum(1) % 2).long()
    return Dataset(x, y)


FACTORIES = {"build_act_mlp": build_act_mlp, "sign_quadrants": sign_quadrants, "bit_parity": bit_parity}


# -- cases ----------------------------------------------------------------------------------------------------

_SIGNS = _m("sign_quadrants", "n = 2048, inputs = 16")
_PARITY = _m("bit_parity", "n = 2048, inputs = 12, bits = 3")
_TANH2 = _m("build_act_mlp", 'inputs = 16, width = 64, depth = 2, outputs = 4, activation = "tanh"')
_RELU2W = _m("build_act_mlp", 'inputs = 16, width = 128, depth = 2, outputs = 4, activation = "relu"')
_RELU4 = _m("build_act_mlp", 'inputs = 16, width = 64, depth = 4, outputs = 4, activation = "relu"')
_GELU3 = _m("build_act_mlp", 'inputs = 12, width = 64, depth = 3, outputs = 2, activation = "gelu"')
_CE = "CrossEntropyLoss"

SPECS: list[tuple[Case, str]] = [
    (_case("p3_tanh_mlp_signs_adam_lr03", "feed-forward", "tanh MLP (2x64) on sign quadrants, Adam lr 0.03: flat "
           "for ~40 steps", _TANH2, _SIGNS, 64, _CE, 'name = "Adam"\nlr = 0.03', 150, 301), "healthy"),
    (_case("p3_tanh_mlp_signs_adam_lr05", "feed-forward", "tanh MLP (2x64) on sign quadrants, Adam lr 0.05",
           _TANH2, _SIGNS, 64, _CE, 'name = "Adam"\nlr = 0.05', 150, 302), "healthy"),
    (_case("p3_relu_mlp_signs_adam_lr03", "feed-forward", "ReLU MLP (2x128) on sign quadrants, Adam lr 0.03",
           _RELU2W, _SIGNS, 64, _CE, 'name = "Adam"\nlr = 0.03', 200, 304), "healthy"),
    (_case("p3_deep_relu_mlp_signs_adamw_lr02", "feed-forward", "ReLU MLP (4x64) on sign quadrants, AdamW lr "
           "0.02", _RELU4, _SIGNS, 64, _CE, 'name = "AdamW"\nlr = 0.02\nweight_decay = 0.01', 200, 305), "healthy"),
    (_case("p3_gelu_mlp_parity_adam_lr003", "feed-forward", "GELU MLP (3x64) on 3-bit parity, Adam lr 3e-3",
           _GELU3, _PARITY, 64, _CE, 'name = "Adam"\nlr = 3e-3', 200, 306), "healthy"),
    (_case("p3_relu_mlp_signs_sgd_mom_lr03", "feed-forward", "ReLU MLP (2x128) on sign quadrants, SGD lr 0.03 "
           "momentum 0.9", _RELU2W, _SIGNS, 64, _CE, 'name = "SGD"\nlr = 0.03\nmomentum = 0.9', 200, 307), "healthy"),
    (_case("u3_relu_mlp_signs_sgd_mom_lr1", "feed-forward", "ReLU MLP (2x128) on sign quadrants, SGD lr 0.1 "
           "momentum 0.9: near chance for ~60 steps, then bounces", _RELU2W, _SIGNS, 64, _CE,
           'name = "SGD"\nlr = 0.1\nmomentum = 0.9', 200, 307), "unstable"),
]

SPLIT = "healthy-3"
__getattr__ = lazy_cases("HEALTHY3", SPECS, SPLIT)  # PEP 562: HEALTHY3 is built on first access


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import guard_cases  # the TOMLs name factories of every case module: they resolve in guard_cases' namespace

    raise SystemExit(check_labels(SPECS, guard_cases, SPLIT))
