#!/usr/bin/env python
"""Memory of a run's trace against the number of steps: bounded in steps for the per-parameter series.

Two parts:

1. The real `Monitor` on a model with `--tensors` parameter tensors (1,000 by default, tiny ones so the run
   is about the trace, not the model), recording `--monitor-steps` steps on `--device`: `Trace.nbytes` at
   checkpoints, against what keeping every per-parameter norm would take.
2. The same `Trace` fed host rows directly (no torch work per step) up to `--steps` (100,000 by default, the
   issue's long run), to show the bound holds far past what part 1 can afford on a CPU.

Per-parameter series are kept as a recent window at full resolution plus a history that halves its resolution
when full (both sized by `recent`/`history`); the global series (loss, global norm, ...: 10 columns) are kept
in full, 59 bytes a step, and grow by doubling.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, setup_torch, table


def mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def checkpoints(total: int) -> list[int]:
    marks, k = [], 1000
    while k < total:
        marks += [m for m in (k, 2 * k, 5 * k) if m < total]
        k *= 10
    return sorted(set(marks + [total]))


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--tensors", type=int, default=1000, help="parameter tensors (default 1000)")
    p.add_argument("--steps", type=int, default=None, help="steps for the trace-only part (default 100000)")
    p.add_argument("--monitor-steps", type=int, default=None, help="steps with the real Monitor (default 5000)")
    p.add_argument("--recent", type=int, default=None, help="Monitor recent= (default: Monitor's default)")
    p.add_argument("--history", type=int, default=None, help="Monitor history= (default: Monitor's default)")
    args = p.parse_args()
    args.steps = args.steps or (20_000 if args.quick else 100_000)
    args.monitor_steps = args.monitor_steps or (1_000 if args.quick else 5_000)
    torch = setup_torch(args)
    import numpy as np

    from gradscope.monitor.monitor import Monitor

    sizes = {k: v for k, v in (("recent", args.recent), ("history", args.history)) if v}
    model = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(4)) for _ in range(args.tensors)])
    model.to(args.device)
    for param in model:
        param.grad = torch.randn_like(param)
    monitor = Monitor(model, **sizes)
    trace = monitor.trace
    per_param = trace.grad_norms.nbytes + trace.weight_norms.nbytes
    print(f"# trace_memory: {args.tensors} parameter tensors, device {args.device}, "
          f"recent={len(trace.grad_norms._recent)}, history={len(trace.grad_norms._history)}; "
          f"per-parameter series {mib(per_param)} from the start")
    everything = lambda steps: steps * args.tensors * 4 * 2  # float32 grad + weight norm per tensor per step

    rows, out = [], {"monitor": [], "trace_only": []}
    t0 = time.perf_counter()
    marks = checkpoints(args.monitor_steps)
    for step in range(args.monitor_steps):
        monitor.record(float(step))
        if step + 1 in marks:
            n = step + 1
            rows.append([f"{n:,}", mib(trace.nbytes), mib(everything(n)), f"{everything(n) / trace.nbytes:.1f}x"])
            out["monitor"].append({"steps": n, "trace_bytes": trace.nbytes, "unbounded_bytes": everything(n)})
    seconds = time.perf_counter() - t0
    print(f"\n1. Monitor.record ({seconds / args.monitor_steps * 1e3:.2f} ms a step here):")
    print(table(rows, ["steps", "Trace.nbytes", "all per-param norms", "saved"]))

    # 2. the same trace, fed host rows directly
    grads = np.abs(np.random.default_rng(0).normal(size=args.tensors))
    weights = grads + 1
    row = {"loss": 1.0, "grad_norm": 1.0, "weight_norm": 1.0}
    rows = []
    marks = checkpoints(args.steps)
    for step in range(args.monitor_steps, args.steps):
        trace.append({**row, "step": step}, grads, weights)
        if step + 1 in marks:
            n = step + 1
            rows.append([f"{n:,}", mib(trace.nbytes), mib(everything(n)), f"{everything(n) / trace.nbytes:.1f}x",
                         f"{trace.grad_norms.stride}"])
            out["trace_only"].append({"steps": n, "trace_bytes": trace.nbytes, "unbounded_bytes": everything(n)})
    print(f"\n2. the same Trace fed rows directly, continuing to {args.steps:,} steps:")
    print(table(rows, ["steps", "Trace.nbytes", "all per-param norms", "saved", "history stride"]))
    growth = trace.nbytes - per_param
    print(f"\nper-parameter part: {mib(trace.grad_norms.nbytes + trace.weight_norms.nbytes)} (constant); "
          f"global columns: {mib(growth)} for {len(trace):,} steps; peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    bounded = trace.grad_norms.nbytes + trace.weight_norms.nbytes == per_param
    print(f"bounded in steps (per-parameter memory unchanged from step 0): {'OK' if bounded else 'FAIL'}")
    if args.json:
        print(json.dumps(out, indent=2))
    if not bounded:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
