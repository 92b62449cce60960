"""Linear regression on unscaled features with SGD just past its stability limit.

Expected verdict: critical (exploding_gradient flagged tens of steps before the values overflow).
The features have scales up to 10, so the loss's largest curvature is about 2 * 100 = 200 and SGD with
lr = 0.0115 multiplies the error along that direction by |1 - lr * 200| ~ 1.3 each step: the gradient norm
grows geometrically, the loss by the square of that, until float32 overflows near step 300.
"""

import torch
from torch import nn


def build_model(features: int = 8) -> nn.Module:
    return nn.Linear(features, 1)


def build_data(n: int = 2048, features: int = 8, seed: int = 0, batch_size: int = 128) -> list:
    """A list of (inputs, targets) batches; feature j has scale 10 ** (j / (features - 1))."""
    g = torch.Generator().manual_seed(seed)
    scales = 10 ** (torch.arange(features) / (features - 1))
    x = torch.randn(n, features, generator=g) * scales
    w = torch.randn(features, 1, generator=g)
    y = x @ w + 0.1 * torch.randn(n, 1, generator=g)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
