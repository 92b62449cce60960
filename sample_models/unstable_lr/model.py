"""A tanh MLP regression trained by full-batch gradient descent at a learning rate past its edge of stability.

Expected verdict: warning (loss spikes, the loss trains and then catapults, again and again; no NaN).
Gradient descent is stable only while the loss's sharpest curvature stays below 2 / lr. Training sharpens the
loss until it crosses that line (at lr = 0.15, after 100-250 steps): then the error along the sharpest
direction grows geometrically for a few steps, the loss jumps 5-10x and the gradient norm 10-100x, the weights
are thrown into a flatter region, and training resumes until the next catapult. The tanh units saturate, so
every burst ends on its own: the run stays finite, it just keeps undoing its own progress.
"""

import torch
from torch import nn


def build_model(width: int = 64, depth: int = 2) -> nn.Module:
    layers: list[nn.Module] = []
    fan_in = 8
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.Tanh()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1))
    return nn.Sequential(*layers)


def build_data(n: int = 512, seed: int = 0) -> list:
    """One batch of all n samples (full-batch gradient descent): y = sin(x . w) + x0 * x1 / 2 + noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, generator=g)
    y = torch.sin(x @ w).unsqueeze(1) + 0.5 * x[:, :1] * x[:, 1:2] + 0.1 * torch.randn(n, 1, generator=g)
    return [(x, y)]
