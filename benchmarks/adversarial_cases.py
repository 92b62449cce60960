"""Labelled adversarial runs: a tiny DCGAN (the PyTorch example's loop and layers, scaled to 8x8 images) trained on
synthetic images, one `gradscope.Monitor` per network, judged by `gradscope.diagnose.adversarial`.

    .venv/bin/python benchmarks/adversarial_cases.py [--cases a,b] [--steps N] [-v]

Each case trains netD and netG as the DCGAN example does (Sigmoid + BCELoss, Adam betas (0.5, 0.999); per step:
netD on a real batch and a detached fake one, then netG through netD with real labels), `monitor.record(loss)`
after each network's backward. The label comes from the plain numbers of the run, not from gradscope:
- healthy: neither side's loss is pinned near 0, both keep gradients, and netG's samples move toward the data
  (the mean squared distance between the real and the fake batches' per-pixel means falls by half or more);
- collapsed: netD's loss never exceeds 5% of its start over the last tenth of the run (it tells every real
  sample from every fake: the game is over).
Checks: healthy -> both sides' verdicts below critical and no adversarial_collapse; collapsed -> both critical
with adversarial_collapse and `collapsed()` true for the side that shows it. Beside them, the verdicts that the
single-run diagnosis (`diagnose_trace` on each trace alone) gives, as the issue found them.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradscope  # noqa: E402
from gradscope.diagnose.adversarial import collapsed, diagnose_adversarial  # noqa: E402
from gradscope.diagnose.diagnosis import diagnose_trace  # noqa: E402

NZ = 16


def netG() -> nn.Module:
    """DCGAN's generator at 8x8: a transposed conv from the noise to 4x4, BatchNorm, ReLU, one more to 8x8, Tanh."""
    return nn.Sequential(nn.ConvTranspose2d(NZ, 32, 4, 1, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
                         nn.ConvTranspose2d(32, 1, 4, 2, 1, bias=False), nn.Tanh())


def netD() -> nn.Module:
    """DCGAN's discriminator at 8x8: a strided conv, LeakyReLU(0.2), a conv to one logit, Sigmoid."""
    return nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(32, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def blob_images(n: int, seed: int = 0) -> torch.Tensor:
    """8x8 images in [-1, 1]: one Gaussian blob (width 1-2 px) at one of four corners' quadrants."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.arange(8.0)
    centre = torch.tensor([[2.0, 2.0], [2.0, 5.0], [5.0, 2.0], [5.0, 5.0]])[torch.randint(0, 4, (n,), generator=g)]
    centre = centre + 0.5 * torch.randn(n, 2, generator=g)
    width = 1.0 + torch.rand(n, 1, 1, generator=g)
    dy = (grid.view(1, 8, 1) - centre[:, 0].view(n, 1, 1)) ** 2
    dx = (grid.view(1, 1, 8) - centre[:, 1].view(n, 1, 1)) ** 2
    return (2 * torch.exp(-(dx + dy) / (2 * width ** 2)) - 1).unsqueeze(1)


def _init(m: nn.Module) -> None:
    """DCGAN's weights_init: N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


@dataclass
class GanRun:
    monitors: dict[str, gradscope.Monitor]
    losses: dict[str, np.ndarray]
    norms: dict[str, np.ndarray]
    start_gap: float  # mean squared distance between the real and fake batches' per-pixel means, first steps
    end_gap: float  # ... last steps


def train_gan(d_lr: float, g_lr: float, steps: int, seed: int = 0, batch: int = 64) -> GanRun:
    """The DCGAN example's loop on blob images; one Monitor per network records its loss after its backward."""
    torch.manual_seed(seed)
    data = blob_images(4096, seed)
    D, G = netD(), netG()
    D.apply(_init)
    G.apply(_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=d_lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=g_lr, betas=(0.5, 0.999))
    mon = {"netD": gradscope.Monitor(D, weight_every=1, label="netD"),
           "netG": gradscope.Monitor(G, weight_every=1, label="netG")}
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    gaps = []
    for _ in range(steps):
        real = data[torch.randint(0, len(data), (batch,))]
        D.zero_grad()
        err_real = criterion(D(real).view(-1), ones)
        err_real.backward()
        fake = G(torch.randn(batch, NZ, 1, 1))
        err_fake = criterion(D(fake.detach()).view(-1), zeros)
        err_fake.backward()
        mon["netD"].record(err_real + err_fake)
        opt_d.step()
        G.zero_grad()
        err_g = criterion(D(fake).view(-1), ones)
        err_g.backward()
        mon["netG"].record(err_g)
        opt_g.step()
        gaps.append(float(((real.mean(0) - fake.detach().mean(0)) ** 2).mean()))
    k = max(3, steps // 10)
    return GanRun(mon, {n: m.trace.loss.copy() for n, m in mon.items()},
                  {n: m.trace.grad_norm.copy() for n, m in mon.items()}, float(np.median(gaps[:k])),
                  float(np.median(gaps[-k:])))


def label(run: GanRun) -> str:
    """The case's label from the plain numbers (this file's criteria, not gradscope's)."""
    k = max(3, len(run.losses["netD"]) // 10)
    d_start, d_end = float(np.median(run.losses["netD"][:k])), float(np.median(run.losses["netD"][-k:]))
    g_start, g_end = float(np.median(run.norms["netG"][:k])), float(np.median(run.norms["netG"][-k:]))
    if float(run.losses["netD"][-k:].max()) < 0.05 * d_start:
        return "collapsed"
    if d_end > 0.05 * d_start and g_end > 1e-2 * g_start and run.end_gap <= 0.5 * run.start_gap:
        return "healthy"
    return "unclear"


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # "healthy" | "collapsed"
    description: str
    d_lr: float
    g_lr: float
    steps: int = 300
    seed: int = 0


CASES = [
    Case("dcgan_healthy", "healthy", "DCGAN at 8x8, the example's Adam lr 2e-4 for both networks", 2e-4, 2e-4),
    Case("dcgan_healthy_fast", "healthy", "DCGAN at 8x8, Adam lr 1e-3 for both networks", 1e-3, 1e-3, seed=1),
    Case("dcgan_d_overpowers", "collapsed", "DCGAN at 8x8, netD at Adam lr 2e-3 (10x the example's), netG at 1e-6 "
         "(a typo'd lr): netD wins outright, its loss goes to 0 while netG's rises", 2e-3, 1e-6),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="steps per case (default: the case's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every symptom")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = [n for n in args.cases.split(",") if n]
    failures = 0
    for case in CASES:
        if names and case.name not in names:
            continue
        t0 = time.perf_counter()
        run = train_gan(case.d_lr, case.g_lr, args.steps or case.steps, case.seed)
        traces = {n: m.trace for n, m in run.monitors.items()}
        game = diagnose_adversarial(traces)
        alone = {n: diagnose_trace(t).verdict for n, t in traces.items()}
        got = "collapsed" if any(collapsed(t) for t in traces.values()) else "healthy"
        verdicts = {n: d.verdict for n, d in game.items()}
        has_collapse = {n: "adversarial_collapse" in d.kinds() for n, d in game.items()}
        if case.expected == "healthy":
            ok = got == "healthy" and all(v != "critical" for v in verdicts.values()) and not any(has_collapse.values())
        else:
            ok = got == "collapsed" and all(v == "critical" for v in verdicts.values()) and all(has_collapse.values())
        plain = label(run)
        failures += not ok or plain != case.expected
        d_loss, g_loss = run.losses["netD"], run.losses["netG"]
        k = max(3, len(d_loss) // 10)
        print(f"{case.name:<22} label {plain:<9} (expected {case.expected:<9}) game: "
              f"{', '.join(f'{n} {v}' for n, v in verdicts.items())}; alone: "
              f"{', '.join(f'{n} {v}' for n, v in alone.items())}  {'ok' if ok and plain == case.expected else 'FAIL'}"
              f"  ({time.perf_counter() - t0:.0f}s)")
        print(f"   netD loss {np.median(d_loss[:k]):.3g} -> {np.median(d_loss[-k:]):.3g}, netG loss "
              f"{np.median(g_loss[:k]):.3g} -> {np.median(g_loss[-k:]):.3g}, netG grad norm "
              f"{np.median(run.norms['netG'][:k]):.3g} -> {np.median(run.norms['netG'][-k:]):.3g}, "
              f"real/fake mean gap {run.start_gap:.3g} -> {run.end_gap:.3g}")
        if args.verbose:
            for n, d in game.items():
                for s in d.symptoms:
                    print(f"     {n}: {s.severity.value} {s.kind.value} @{s.step}: {s.message}")
            for n, t in traces.items():
                for s in diagnose_trace(t).symptoms:
                    print(f"     alone {n}: {s.severity.value} {s.kind.value} @{s.step}: {s.message}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
