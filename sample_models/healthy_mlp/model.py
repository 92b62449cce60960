"""A small MLP classifier on Gaussian blobs, trained with Adam: the reference for a healthy run.

Expected verdict: healthy (the loss falls from ~1.6 to under 0.1; no symptom).
"""

import torch
from torch import nn


def build_model(width: int = 64) -> nn.Module:
    return nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 4))


def build_data(n: int = 2048, seed: int = 0, batch_size: int = 32) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 10, generator=g) * 1.5
    labels = torch.randint(0, 4, (n,), generator=g)
    x = centers[labels] + torch.randn(n, 10, generator=g)
    dataset = torch.utils.data.TensorDataset(x, labels)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                       generator=torch.Generator().manual_seed(seed))
