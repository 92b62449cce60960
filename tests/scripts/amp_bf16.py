"""An image classifier trained in bfloat16 autocast the way the PyTorch AMP recipe shows (no GradScaler is needed
for bf16): a DataLoader, SGD with momentum, a StepLR schedule, optional clip_grad_value_. Data generated in code."""

import argparse
import json
import os

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--clip-value", type=float, default=0.0, help="clip_grad_value_ threshold; 0: none")
args = parser.parse_args()

torch.manual_seed(0)
x = torch.randn(256, 3, 8, 8)
y = (x.mean(dim=(1, 2, 3)) > 0).long() + 2 * (x[:, 0].mean(dim=(1, 2)) > 0).long()
loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)

net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 32),
                    nn.ReLU(), nn.Linear(32, 4))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=8, gamma=0.5)
truth = open(os.environ["GS_TEST_TRUTH"], "a") if os.environ.get("GS_TEST_TRUTH") else None

step = 0
for epoch in range(args.epochs):
    for inputs, targets in loader:
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            output = net(inputs)
            loss = loss_fn(output, targets)
        loss.backward()
        if truth:  # the pre-clip global norm, computed by hand
            norm = torch.stack([p.grad.norm() for p in net.parameters()]).norm().item()
            truth.write(json.dumps({"step": step, "loss": loss.item(), "grad_norm": norm}) + "\n")
            truth.flush()
        if args.clip_value:
            torch.nn.utils.clip_grad_value_(net.parameters(), args.clip_value)
        opt.step()
        opt.zero_grad()
        scheduler.step()
        step += 1
    print(f"epoch {epoch}: loss {loss.item():.4f}, lr {scheduler.get_last_lr()[0]:.4f}")
