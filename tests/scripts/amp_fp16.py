"""Mixed precision as the AMP recipe writes it: autocast(float16), a GradScaler whose first scale is too large
(its first steps are skipped), unscale_ then clip_grad_norm_. Logs the unscaled loss and what the clip returned."""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
scaler = torch.amp.GradScaler("cpu", init_scale=2.0**20)
x, y = torch.randn(64, 8), torch.randn(64, 1)
log = []
for step in range(8):
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=torch.float16):
        loss = nn.functional.mse_loss(model(x).float(), y)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    log.append({"loss": loss.item(), "grad_norm": norm.item(), "scale": scaler.get_scale()})
    with open(sys.argv[1], "w") as f:
        json.dump(log, f)
