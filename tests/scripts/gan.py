"""dcgan's shape: netD and netG, an Adam each, D's loss from a real and a fake backward. Logs each step."""
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
netG = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
netD = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
criterion = nn.BCEWithLogitsLoss()
optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))


def norm(net):
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()])).item()


log = {"netD": [], "netG": []}
for i in range(4):
    real = torch.randn(32, 8) + 2
    netD.zero_grad()
    errD_real = criterion(netD(real), torch.ones(32, 1))
    errD_real.backward()
    fake = netG(torch.randn(32, 4))
    errD_fake = criterion(netD(fake.detach()), torch.zeros(32, 1))
    errD_fake.backward()
    log["netD"].append({"loss": errD_real.item() + errD_fake.item(), "grad_norm": norm(netD)})
    optimizerD.step()
    netG.zero_grad()
    errG = criterion(netD(fake), torch.ones(32, 1))
    errG.backward()
    log["netG"].append({"loss": errG.item(), "grad_norm": norm(netG)})
    optimizerG.step()
    with open(sys.argv[1], "w") as f:
        json.dump(log, f)
