"""A ReLU RNN whose recurrent matrix has spectral radius 1.6: gradients explode through time.

Expected verdict: critical (non-finite gradients within the first steps; the re-run names the RNN).
The recurrent weights are orthogonal x 1.6, so a state is multiplied by 1.6 at each of the 40 time steps:
activations and backpropagated gradients grow by ~1.6**40 = 1e8, and one SGD step overflows the weights.
"""

import torch
from torch import nn


class SequenceRegressor(nn.Module):
    def __init__(self, hidden: int = 64, radius: float = 1.6) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size=4, hidden_size=hidden, nonlinearity="relu", batch_first=True)
        with torch.no_grad():
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.weight_hh_l0.mul_(radius)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_model(hidden: int = 64, radius: float = 1.6) -> nn.Module:
    return SequenceRegressor(hidden, radius)


def build_data(n: int = 512, seq_len: int = 40, seed: int = 0) -> torch.utils.data.TensorDataset:
    """Predict the sum of the first input channel: a task a stable RNN learns easily."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, 4, generator=g)
    y = x[:, :, 0].sum(dim=1, keepdim=True) / seq_len**0.5
    return torch.utils.data.TensorDataset(x, y)
