"""A tanh RNN that reads a sequence and predicts a sum: the model and data of examples/rnn.toml."""

import torch
from torch import nn


class SequenceRegressor(nn.Module):
    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size=4, hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_model(hidden: int = 64) -> nn.Module:
    return SequenceRegressor(hidden)


def build_data(seq_len: int = 50, n: int = 512, seed: int = 0) -> torch.utils.data.TensorDataset:
    """A Dataset: [data] batch_size batches it. Target: the first channel's sum, scaled to unit variance."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x[:, :, 0].sum(dim=1, keepdim=True) / seq_len**0.5)


def compute_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """For `[loss] step`: any batch shape, any loss (here the same MSE the config's [loss] gives)."""
    x, y = batch
    return nn.functional.mse_loss(model(x), y)
