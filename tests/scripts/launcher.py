"""A launcher that starts its worker in a session of its own (as torchrun starts its ranks) and waits for it; a
signal kills the launcher at once, and the worker, which ignores SIGINT and SIGTERM (as a rank blocked in a
collective does), is left behind unless someone kills it. The worker trains and writes its pid and the
launcher's to argv[1]."""
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
subprocess.Popen([sys.executable, __file__, sys.argv[1], "worker"], start_new_session=True).wait()
