"""Adversarial training judged as a game (gradscope.diagnose.adversarial): real GANs recorded with one Monitor per
network, and traces built to one sign at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from symptom_traces import make_trace
from torch import nn

import gradscope
from gradscope.diagnose.adversarial import collapsed, diagnose_adversarial
from gradscope.diagnose.diagnosis import Diagnosis, diagnose_trace

N = 150


def ring(n: int, g: torch.Generator) -> torch.Tensor:
    """Points on a ring of eight Gaussians, radius 2."""
    angle = torch.randint(0, 8, (n,), generator=g).float() * (2 * math.pi / 8)
    return 2 * torch.stack([torch.cos(angle), torch.sin(angle)], 1) + 0.05 * torch.randn(n, 2, generator=g)


def train_gan(d_lr: float, g_lr: float, minimax: bool, steps: int = N) -> dict[str, gradscope.Monitor]:
    """A 2-D GAN as a user writes it: netD on a real and a detached fake batch, then netG through netD; one
    Monitor per network records its loss after its backward. `minimax`: netG minimises log(1 - D(G(z))) (the
    saturating loss of the GAN paper) instead of the non-saturating -log D(G(z))."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net_g = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    net_d = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=d_lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=g_lr, betas=(0.5, 0.999))
    monitors = {"netD": gradscope.Monitor(net_d, label="netD"), "netG": gradscope.Monitor(net_g, label="netG")}
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    for _ in range(steps):
        real, fake = ring(64, g), net_g(torch.randn(64, 4, generator=g))
        opt_d.zero_grad()
        loss_d = bce(net_d(real), ones) + bce(net_d(fake.detach()), zeros)
        loss_d.backward()
        monitors["netD"].record(loss_d)
        opt_d.step()
        opt_g.zero_grad()
        loss_g = -bce(net_d(fake), zeros) if minimax else bce(net_d(fake), ones)
        loss_g.backward()
        monitors["netG"].record(loss_g)
        opt_g.step()
    return monitors


@pytest.fixture(scope="module")
def balanced() -> dict[str, gradscope.Monitor]:
    return train_gan(1e-3, 1e-3, minimax=False)


@pytest.fixture(scope="module")
def overpowered() -> dict[str, gradscope.Monitor]:
    # netD at 100x netG's lr with the saturating generator loss: netD tells every real from every fake
    return train_gan(1e-2, 1e-4, minimax=True)


def test_a_balanced_gan_is_healthy_on_both_sides(balanced):
    traces = {name: m.trace for name, m in balanced.items()}
    game = diagnose_adversarial(traces)
    assert {name: d.verdict for name, d in game.items()} == {"netD": "healthy", "netG": "healthy"}
    assert not any(collapsed(t) for t in traces.values())
    assert game["netD"].to_dict()["adversarial"] == {"sides": ["netD", "netG"], "collapsed": []}


def test_a_discriminator_that_wins_outright_collapses_the_game(overpowered):
    traces = {name: m.trace for name, m in overpowered.items()}
    game = diagnose_adversarial(traces)
    for name, diagnosis in game.items():
        assert diagnosis.verdict == "critical" and diagnosis.symptoms[0].kind.value == "adversarial_collapse", name
    symptom = game["netD"].symptoms[0]
    assert symptom.evidence["side"] == "netD" and symptom.evidence["sign"] == "loss_pinned"
    assert symptom.evidence["late_loss"] < 0.05 * symptom.evidence["start_loss"]
    assert "netD" in game["netG"].symptoms[0].message and "clipping cannot" in symptom.advice
    assert collapsed(traces["netD"])


def test_a_collapse_round_trips_through_json(overpowered):
    game = diagnose_adversarial({name: m.trace for name, m in overpowered.items()})
    again = Diagnosis.from_dict(game["netG"].to_dict())
    assert again.kinds() == game["netG"].kinds() and again.symptoms[0].kind is game["netG"].symptoms[0].kind


def test_a_generator_loss_rising_while_the_discriminators_falls_is_the_game():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    noise = np.exp(0.05 * rng.standard_normal((2, 200)))
    loss_g = (0.7 + 1.3 * (1 - np.exp(-t / 40))) * noise[0]  # 0.7 -> 2.0: a divergence, alone
    loss_d = (1.39 - 0.8 * (1 - np.exp(-t / 40))) * noise[1]  # 1.39 -> 0.6: far from pinned at 0
    traces = {"netD": make_trace(loss_d), "netG": make_trace(loss_g)}
    assert "loss_divergence" in diagnose_trace(traces["netG"]).kinds()
    game = diagnose_adversarial(traces)
    assert {name: d.verdict for name, d in game.items()} == {"netD": "healthy", "netG": "healthy"}


def test_gradients_that_vanish_on_one_side_collapse_the_game():
    rng = np.random.default_rng(1)
    t = np.arange(200)
    steady = np.exp(0.05 * rng.standard_normal(200))
    fading = np.exp(-t / 15) * steady  # netG's norm falls 1e-5-fold: a Sigmoid saturated at 0 in front of it
    traces = {"netD": make_trace(1.2 * steady), "netG": make_trace(100 * steady, grad_norm=fading)}
    game = diagnose_adversarial(traces)
    [symptom] = [s for s in game["netG"].symptoms if s.kind.value == "adversarial_collapse"]
    assert symptom.evidence["sign"] == "gradients_vanished" and symptom.severity.value == "critical"
    assert game["netD"].verdict == "critical" and collapsed(traces["netG"]) and not collapsed(traces["netD"])


def test_a_loss_that_only_dips_to_zero_is_not_pinned():
    rng = np.random.default_rng(2)
    loss = 1.3 * np.exp(0.1 * rng.standard_normal(200))
    loss[-20::4] = 1e-3  # a quarter of the last tenth at ~0: the other steps are at the equilibrium
    assert not collapsed(make_trace(loss))
