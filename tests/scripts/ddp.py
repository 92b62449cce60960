"""A torchrun DDP script (gloo, CPU): each rank its own batches, clip_grad_norm_ on the averaged gradients.
Rank 0 logs the global mean loss and what clip_grad_norm_ returned."""
import json
import sys

import torch
import torch.distributed as dist
from torch import nn

dist.init_process_group("gloo")
torch.set_num_threads(1)
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(100 + rank)
log = []
for step in range(4):
    x, y = torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    mean = loss.detach().clone()
    dist.all_reduce(mean)
    log.append({"loss": mean.item() / world, "grad_norm": norm.item()})
    optimizer.step()
    if rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(log, f)
dist.destroy_process_group()
