"""A model whose activations blow up: at a large learning rate the exp in `Scale` overflows to inf."""
import torch
from torch import nn

torch.manual_seed(0)


class Scale(nn.Module):
    def forward(self, x):
        return torch.exp(x)


model = nn.Sequential(nn.Linear(4, 8), Scale(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=3.0)
x, y = torch.randn(32, 4), torch.randn(32, 1)
for step in range(30):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
