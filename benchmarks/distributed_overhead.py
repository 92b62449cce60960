#!/usr/bin/env python
"""What the monitor's one collective per step costs under torch.distributed, against the training step.

Two ranks on CPU (gloo), one torch thread each, an MLP trained under FSDP2 (`fully_shard` per layer, then the
root) or DDP, each rank on its half of the batch. Measured on rank 0, in the same run:

- `step`: zero_grad, forward, backward (with FSDP2's or DDP's own collectives), SGD step;
- `step + record`: the same with `Monitor.record(loss)` after backward;
- `collective`: `RankReduce.reduce` alone, the monitor's one all_reduce of [squared norms, loss, peaks];
- `local norms`: `NormKernels.measure` alone, the fused norms of this rank's shards.

Every figure is a median over rounds (wall clock: a collective's time is mostly waiting for the other rank, which
CPU time would leave out); rounds rotate the order of the variants; ratios are to `step` from the same round.
Run: `python benchmarks/distributed_overhead.py [--quick] [--parallel fsdp|ddp] [--json]` (it starts itself
under torchrun with 2 processes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS = ("step", "step + record", "collective", "local norms")


def options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parallel", default="fsdp,ddp", help="comma-separated: fsdp, ddp (default both)")
    p.add_argument("--quick", action="store_true", help="fewer rounds (about 30 s)")
    p.add_argument("--width", type=int, default=256, help="MLP width (default 256)")
    p.add_argument("--layers", type=int, default=16, help="Linear layers (default 16: 32 parameter tensors)")
    p.add_argument("--batch", type=int, default=64, help="global batch (default 64: 32 per rank)")
    p.add_argument("--json", action="store_true", help="also print one JSON document")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args()


def launch(args: argparse.Namespace) -> None:
    """Start this script under torchrun, 2 processes, one thread each."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               __file__, "--worker", *sys.argv[1:]]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    raise SystemExit(subprocess.call(command, env=env))


def timed(fn: Any, repeat: int) -> float:
    import torch.distributed as dist

    dist.barrier()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.distributed as dist
    from torch import nn

    from gradscope import Monitor
    from gradscope.drivers.distributed import wrap
    from gradscope.monitor.row_layout import RowLayout

    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(args.layers):
        layers += [nn.Linear(args.width, args.width), nn.ReLU()]
    model = wrap(nn.Sequential(*layers[:-1]), kind, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    monitor = Monitor(model, weight_every=2)
    per_rank = args.batch // dist.get_world_size()
    x, y = torch.randn(per_rank, args.width), torch.randn(per_rank, args.width)

    def step(record: bool) -> None:
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        if record:
            monitor.record(loss)
        opt.step()

    step(True)
    kernels, ranks = monitor._kernels, monitor._ranks
    layout = RowLayout.of(kernels.n, False, False, False)
    grads = ranks.grads(monitor.params)
    loss = torch.ones(1)

    def local_norms() -> None:
        kernels.measure(grads, False, False)

    def collective() -> None:
        norms, total = kernels.measure(grads, False, False)
        ranks.reduce(norms, total, loss, layout)

    calls = {"step": lambda: step(False), "step + record": lambda: step(True), "collective": collective,
             "local norms": local_norms}
    repeats = {"step": 4, "step + record": 4, "collective": 40, "local norms": 40}
    rounds = 6 if args.quick else 20
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):  # the same order on both ranks: their collectives must pair up
        for v in VARIANTS[r % 4:] + VARIANTS[:r % 4]:
            times[v].append(timed(calls[v], repeats[v]))
    # "collective" includes the local norms it reduces: its own cost is the difference.
    own = [c - n for c, n in zip(times["collective"], times["local norms"], strict=True)]
    ratio = {"collective / step": statistics.median(o / s for o, s in zip(own, times["step"], strict=True)),
             "record / step": statistics.median((r - s) / s for r, s in
                                                zip(times["step + record"], times["step"], strict=True))}
    return {"parallel": kind, "params": kernels.n, "median_seconds": {v: statistics.median(t) for v, t in
                                                                       times.items()},
            "collective_seconds": statistics.median(own), **ratio}


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    results = [measure(kind, args) for kind in args.parallel.split(",")]
    if dist.get_rank() == 0:
        print(f"torch {torch.__version__}, 2 ranks (gloo, CPU, 1 thread each), {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}; MLP {args.layers} x {args.width}, global batch {args.batch}")
        print(f"{'parallel':<8} {'tensors':>7} {'step':>9} {'+record':>9} {'collective':>10} "
              f"{'collective/step':>15} {'record/step':>11}")
        for r in results:
            t = r["median_seconds"]
            print(f"{r['parallel']:<8} {r['params']:>7} {t['step'] * 1e3:>7.2f}ms {t['step + record'] * 1e3:>7.2f}ms "
                  f"{r['collective_seconds'] * 1e6:>8.0f}us {r['collective / step']:>14.2%} "
                  f"{r['record / step']:>11.2%}")
        if args.json:
            print(json.dumps(results, indent=2))
    dist.destroy_process_group()


if __name__ == "__main__":
    parsed = options()
    if parsed.worker:
        worker(parsed)
    else:
        launch(parsed)
