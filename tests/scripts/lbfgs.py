"""time_sequence_prediction's shape: LBFGS with a closure. Logs the first closure evaluation of each step."""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
seq = nn.Sequential(nn.Linear(4, 12), nn.Tanh(), nn.Linear(12, 1))
x, y = torch.randn(64, 4), torch.randn(64, 1)
optimizer = torch.optim.LBFGS(seq.parameters(), lr=0.5, max_iter=5)
log = []
for i in range(4):
    evaluations = []

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(seq(x), y)
        loss.backward()
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in seq.parameters()]))
        evaluations.append({"loss": loss.item(), "grad_norm": norm.item()})
        return loss

    optimizer.step(closure)
    log.append(evaluations[0])
    with open(sys.argv[1], "w") as f:
        json.dump(log, f)
