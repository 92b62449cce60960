"""A script that trains until stopped, with a helper process of its own (as a DataLoader worker would be).
Writes its pid and its helper's pid to argv[1] first."""
import subprocess
import sys

import torch
from torch import nn

helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(sys.argv[1], "w") as f:
    f.write(f"{__import__('os').getpid()} {helper.pid}\n")
print("training until stopped", flush=True)  # the script's own stdout: gradscope's stderr
model = nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
while True:
    optimizer.zero_grad()
    model(torch.randn(8, 4)).pow(2).mean().backward()
    optimizer.step()
