"""An MLP classifier trained with SGD + momentum at a learning rate ten times too high (0.03).

Expected verdict: warning (the loss gives back what it learned and jumps around; no NaN).
The updates overshoot the sharp directions of the loss, so the loss keeps jumping back up instead of settling.
"""

import torch
from torch import nn


def build_model(width: int = 128) -> nn.Module:
    return nn.Sequential(nn.Linear(20, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 5))


def build_data(n: int = 2048, seed: int = 0) -> torch.utils.data.TensorDataset:
    """Five Gaussian classes in 20 dimensions, unscaled features (scales 1 to 30), 10% noisy labels."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(5, 20, generator=g) * 2
    labels = torch.randint(0, 5, (n,), generator=g)
    x = centers[labels] + torch.randn(n, 20, generator=g)
    x = x * torch.linspace(1, 30, 20)
    flip = torch.rand(n, generator=g) < 0.1  # 10% label noise: the loss cannot reach zero
    labels = torch.where(flip, torch.randint(0, 5, (n,), generator=g), labels)
    return torch.utils.data.TensorDataset(x, labels)
