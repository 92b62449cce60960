"""A launcher in torchrun's shape: it starts its worker in a session of its own, passes SIGINT/SIGTERM on to it,
and waits for it. The worker trains, writes its pid and the launcher's to argv[1], and ignores both signals (as
a rank blocked in a collective does), so it can only be killed."""
import os
import signal
import subprocess
import sys

if sys.argv[2:] == ["worker"]:
    import torch
    from torch import nn

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(sys.argv[1], "w") as f:
        f.write(f"{os.getpid()} {os.getppid()}\n")
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    while True:
        optimizer.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        optimizer.step()
worker = subprocess.Popen([sys.executable, __file__, sys.argv[1], "worker"], start_new_session=True)
for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda s, _f: worker.send_signal(s))
worker.wait()
