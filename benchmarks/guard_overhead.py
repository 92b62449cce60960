#!/usr/bin/env python
"""What `Guard.step` adds to a training step of the benchmark transformer, against a plain step in the same run.

The ~26M-parameter transformer of benchmarks/_common.py, AdamW, one step = zero_grad, forward, backward,
[call], optimizer.step(). Variants, interleaved in shuffled rounds (benchmarks/_common.interleaved):

- bare step;
- `monitor.record(loss)` (what the guard builds on);
- `guard.step(loss)` not engaged (a healthy run: record + its decisions on host floats);
- `guard.step(loss)` engaged with a threshold under every norm (it clips every step with `clip_norm_`, one
  fused multiply over the gradients: the worst case);
- `clip_grad_norm_(params, 1.0)`, the fixed clip users write.

On CPU each call is also timed inside the step: `call / bare` (its own time over the bare step) is the steadier
estimate of what it adds, since whole-step times on a shared machine vary by more than the 0.5% target.
Run: `python benchmarks/guard_overhead.py [--quick] [--device cuda] [--threads N]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import (
    Clock,
    build_transformer,
    clock_kind,
    describe,
    fmt_time,
    interleaved,
    median,
    paired,
    parser,
    setup_torch,
    spread,
    table,
)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=None, help="batch (default 8 on CPU, 1 with --quick, 32 on CUDA)")
    p.add_argument("--seq", type=int, default=None, help="sequence length (default 128 / 512 on CUDA)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, --quick 3)")
    args = p.parse_args()
    torch = setup_torch(args)
    from gradscope.clip.guard import Guard
    from gradscope.monitor.monitor import Monitor

    cuda = args.device == "cuda"
    batch = args.batch or (32 if cuda else (1 if args.quick else 8))
    seq = args.seq or (512 if cuda else 128)
    rounds = args.rounds or (3 if args.quick else 5)
    print(describe(torch, args), flush=True)
    torch.manual_seed(0)
    model = build_transformer(torch).to(args.device)
    tokens = torch.randint(0, 1000, (batch, seq), device=args.device)
    targets = torch.randint(0, 1000, (batch, seq), device=args.device)

    def loss_fn() -> Any:
        return torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), targets.flatten())

    params = [p for p in model.parameters()]
    print(f"transformer: {sum(p.numel() for p in params) / 1e6:.1f}M parameters in {len(params)} tensors, "
          f"batch {batch} x {seq}", flush=True)
    clock = Clock(torch, args.device, clock_kind(args))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    monitor = Monitor(model, recent=64, history=256)
    # ramp=False: the start ramp clips only a run's first ~6 steps; "idle" is every step after it, "clipping" a
    # step it clips (the ramp's steps cost what these do)
    idle = Guard(model, recent=64, history=256, ramp=False)
    engaged = Guard(model, recent=64, history=256, ramp=False)
    engaged.threshold = 1e-6  # under every norm: clip_norm_ runs every step
    inside: dict[str, list[float]] = {}

    def step(extra: Any = None, label: str = "") -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        if extra is not None:
            if not cuda:  # the call's own time; on CUDA a sync here would change what is measured
                t = clock()
                extra(loss)
                inside.setdefault(label, []).append(clock() - t)
            else:
                extra(loss)
        optimizer.step()

    variants: dict[str, Any] = {
        "bare step": lambda: step(),
        "monitor.record": lambda: step(monitor.record, "monitor.record"),
        "guard.step (idle)": lambda: step(idle.step, "guard.step (idle)"),
        "guard.step (clipping)": lambda: step(engaged.step, "guard.step (clipping)"),
        "clip_grad_norm_(1.0)": lambda: step(lambda _l: torch.nn.utils.clip_grad_norm_(params, 1.0),
                                             "clip_grad_norm_(1.0)"),
    }
    times, inner = interleaved(variants, rounds, clock, target=0.05, warmup=1)
    bare = times["bare step"]
    rows, out = [], {}
    for label, t in times.items():
        ratios = paired(t, bare)
        own = inside.get(label, [])[-rounds * inner[label]:]
        added = median(own) / median(bare) if own else None
        rows.append([label, fmt_time(median(t)), f"+-{spread(t):.1%}", f"{median(ratios):.4f}",
                     fmt_time(median(own)) if own else "-", f"{added:.2%}" if added is not None else "-"])
        out[label] = {"step_s": median(t), "ratio_to_bare": median(ratios), "own_s": median(own) if own else None,
                      "own_over_bare": added}
    print(table(rows, ["variant", "step", "noise", "/ bare", "call", "call / bare"]), flush=True)
    assert engaged.clipped > 0 and idle.threshold is None
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
