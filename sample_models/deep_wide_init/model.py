"""A 16-layer ReLU MLP initialised 3x too wide: activations and gradients explode with depth.

Expected verdict: critical (the loss is ~1e10 at step 0; the first SGD step sends the weights to Inf/NaN).
Each layer's weights have std 3 * sqrt(2 / fan_in) instead of Kaiming's sqrt(2 / fan_in), so every layer
multiplies the signal by ~3: 3**16 = 4e7 at the output, and the gradients are as large.
"""

import torch
from torch import nn


def build_model(depth: int = 16, width: int = 64, gain: float = 3.0) -> nn.Module:
    layers: list[nn.Module] = []
    fan_in = 16
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.normal_(linear.weight, std=gain * (2.0 / fan_in) ** 0.5)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def build_data(n: int = 1024, seed: int = 0, batch_size: int = 64) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    y = (x[:, :4].sum(dim=1, keepdim=True) > 0).float()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                                       generator=torch.Generator().manual_seed(seed))
