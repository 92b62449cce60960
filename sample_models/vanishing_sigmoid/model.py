"""A 12-layer sigmoid MLP: gradients vanish before they reach the early layers.

Expected verdict: critical (loss_plateau: it never trains, so the run is broken; vanishing_gradient says why;
never exploding).
The sigmoid's slope is at most 1/4, so each layer scales the backpropagated signal by ~0.15: the first layer's
gradients are about 1e-9 of the last layer's, and the early layers do not learn.
"""

import torch
from torch import nn


def build_model(depth: int = 12, width: int = 64) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(16, width), nn.Sigmoid()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.Sigmoid()]
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def build_data(n: int = 1024, seed: int = 0) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    y = ((x[:, 0] * x[:, 1]) > 0).long()
    return torch.utils.data.TensorDataset(x, y)
