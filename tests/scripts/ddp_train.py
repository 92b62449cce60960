"""Data-parallel training under torchrun, as the PyTorch DDP tutorial writes it: init_process_group from the
environment torchrun sets (gloo on CPU), DistributedSampler, DDP, clip_grad_norm_ on the synchronised gradients.

    torchrun --nproc-per-node 2 tests/scripts/ddp_train.py

The tests' truth, written by rank 0: the loss averaged over the ranks and what clip_grad_norm_ returned."""

import argparse
import json
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--max_norm", type=float, default=1.0)
args = parser.parse_args()

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
x = torch.randn(128, 10)
y = (x @ torch.linspace(-1, 1, 10)).unsqueeze(1)
dataset = TensorDataset(x, y)
sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=0)
loader = DataLoader(dataset, batch_size=16, sampler=sampler)
model = DDP(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1)))
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
truth = open(os.environ["GS_TEST_TRUTH"], "a") if os.environ.get("GS_TEST_TRUTH") and rank == 0 else None

step = 0
for epoch in range(args.epochs):
    sampler.set_epoch(epoch)
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_norm)
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        if truth:
            truth.write(json.dumps({"step": step, "loss": mean_loss.item() / world, "grad_norm": norm.item()}) + "\n")
            truth.flush()
        optimizer.step()
        step += 1
    if rank == 0:
        print(f"epoch {epoch}: loss {loss.item():.4f}")
dist.destroy_process_group()
