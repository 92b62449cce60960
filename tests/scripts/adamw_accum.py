"""nanoGPT's shape: AdamW, gradient accumulation x4 (each micro-batch loss divided by 4), clip_grad_norm_(1.0),
a warm-up cosine schedule. Logs the step's loss (the sum it backpropagated) and what clip_grad_norm_ returned."""
import json
import math
import sys

import torch
from torch import nn

torch.manual_seed(0)
ACCUM = 4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 50)

    def forward(self, idx):
        return self.head(torch.tanh(self.emb(idx)))


model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2, weight_decay=0.1)
schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 3) * 0.5 * (1 + math.cos(s / 20)))
data = torch.randint(0, 50, (512,))
log = []


def get_batch():
    i = torch.randint(0, 500, (8,))
    return data[i], data[i + 1]


for it in range(6):
    total = 0.0
    for micro in range(ACCUM):
        xb, yb = get_batch()
        loss = nn.functional.cross_entropy(model(xb), yb) / ACCUM
        total += loss.item()
        loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    log.append({"loss": total, "grad_norm": norm.item()})
    with open(sys.argv[1], "w") as f:
        json.dump(log, f)
