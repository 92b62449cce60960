"""A plain SGD MLP, the way a tutorial writes it; logs its losses and its own global gradient norm."""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loss_fn = nn.MSELoss()
x, y = torch.randn(256, 8), torch.randn(256, 1)
log = []
for epoch in range(2):
    for i in range(0, 256, 64):
        optimizer.zero_grad()
        loss = loss_fn(model(x[i:i + 64]), y[i:i + 64])
        loss.backward()
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
        log.append({"loss": loss.item(), "grad_norm": norm.item()})
        optimizer.step()
        with open(sys.argv[1], "w") as f:
            json.dump(log, f)
print(f"trained {len(log)} steps")
