"""Labelled runs for `benchmarks/log_accuracy.py`: does `gradscope diagnose LOG` read the logs of runs already done
right, in every format and at every cadence?

Each case is a plain torch loop (small models, data generated in code from a seeded generator, CPU, well under a
second) that records, at every optimizer step (counted from 1, as the Trainer does), the loss, the gradient norm
`clip_grad_norm_` returns before clipping (after `GradScaler.unscale_`), the lr, and whether a GradScaler skipped
the step. log_accuracy.py writes those numbers with each format's real writer, at every step and every 10th.

Labels, chosen from the plain loop alone (its numbers, never gradscope's report) and re-checked by `check`:

    healthy    the loss ends below half its start, nothing non-finite, no spike: verdict healthy
    unstable   no NaN/Inf; the loss spikes far above its recent level (outlier batches) or rises in the first
               steps (an lr too high without warm-up), then trains: verdict warning
    exploding  the gradient norm grows geometrically until the loss overflows: critical, first non-finite step
    vanishing  the first layer's gradient norm stays under 1/100 of the last one's (a deep tanh net, small
               init) and the loss does not train (ends above 0.9x its start): the run is broken, critical. A log
               holds only the global norm: the cause (vanishing_gradient) is unchecked, the broken run is not
    amp        fp32 with a GradScaler whose first scale overflows: it skips steps at the start, a normal skip,
               each an inf/NaN norm with a finite loss; otherwise healthy: verdict healthy
    nonfinite  a NaN in an input batch, or log(0) in the loss: critical at that step, which never recovers

Another cases module (a blind split) can be passed to log_accuracy.py with `--cases MODULE`: it defines `CASES`,
a list of objects with `name`, `kind`, `expected` (the verdict) and `rows()` as here; or `FILES`, a list of
objects with `path`, `format`, `every`, `expected` and `first_nonfinite_step` (the log's own step number, or None)
for log files already written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VERDICT = {"healthy": "healthy", "unstable": "warning", "exploding": "critical", "vanishing": "critical",
           "amp": "healthy", "nonfinite": "critical"}


@dataclass(frozen=True)
class Row:
    step: int  # 1-based optimizer step
    loss: float
    grad_norm: float
    lr: float
    skipped: bool  # the GradScaler skipped this step's update
    depth_ratio: float  # the first weight matrix's gradient norm over the last one's (vanishing with depth)


@dataclass(frozen=True)
class LogCase:
    name: str
    kind: str
    build: Callable[[], list[Row]]

    @property
    def expected(self) -> str:
        return VERDICT[self.kind]

    def rows(self) -> list[Row]:
        return self.build()


def first_nonfinite(rows: list[Row]) -> int | None:
    """The first step whose loss or gradient norm is NaN/Inf, GradScaler skips left out."""
    return next((r.step for r in rows if not math.isfinite(r.loss) or
                 (not math.isfinite(r.grad_norm) and not r.skipped)), None)


def loop(model: Any, batches: Callable[[int], tuple[Any, Any]], loss_fn: Callable[[Any, Any], Any], *,
         steps: int, lr: float | Callable[[int], float], optimizer: str = "sgd", scaler_scale: float | None = None
         ) -> list[Row]:
    """The plain loop: forward, backward, (unscale), the norm, step; one `Row` per step."""
    import torch

    opt_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
    schedule = lr if callable(lr) else (lambda _s, v=lr: v)
    opt = opt_class(model.parameters(), lr=schedule(1))
    scaler = (torch.amp.GradScaler("cpu", init_scale=scaler_scale, growth_interval=10**6)
              if scaler_scale else None)
    rows = []
    for step in range(1, steps + 1):
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        x, y = batches(step)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(opt)
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1e30))
        matrices = [p.grad for p in model.parameters() if p.grad is not None and p.grad.dim() == 2]
        depth = float(matrices[0].norm() / matrices[-1].norm()) if float(matrices[-1].norm()) > 0 else math.nan
        skipped = False
        if scaler:
            before = scaler.get_scale()
            scaler.step(opt)
            scaler.update()
            skipped = scaler.get_scale() < before
        else:
            opt.step()
        rows.append(Row(step, float(loss.detach()), norm, schedule(step), skipped, depth))
    return rows


def _regression(seed: int, n_in: int = 8, scale: float = 1.0, noise: float = 0.3, batch: int = 32,
                outliers: dict[int, float] | None = None, nan_at: int | None = None
                ) -> Callable[[int], tuple[Any, Any]]:
    import torch

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_in, 1, generator=g)

    def batches(step: int) -> tuple[Any, Any]:
        gen = torch.Generator().manual_seed(seed * 100_003 + step)
        x = torch.randn(batch, n_in, generator=gen) * scale
        y = torch.tanh(x @ w) + noise * torch.randn(batch, 1, generator=gen)
        if outliers and step in outliers:
            x = x * outliers[step]
        if nan_at is not None and step == nan_at:
            x[0, 0] = float("nan")
        return x, y
    return batches


def _mlp(seed: int, widths: list[int], act: str = "tanh", gain: float = 1.0) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers: list[Any] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        linear = nn.Linear(a, b)
        with torch.no_grad():
            linear.weight.mul_(gain)
        layers += [linear, {"tanh": nn.Tanh(), "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "id": nn.Identity()}[act]]
    return nn.Sequential(*layers[:-1])


def _mse(out: Any, y: Any) -> Any:
    import torch

    return torch.nn.functional.mse_loss(out, y)


def _warmup(peak: float, steps: int) -> Callable[[int], float]:
    return lambda s: peak * min(1.0, s / steps)


def healthy_sgd() -> list[Row]:
    return loop(_mlp(1, [8, 32, 1]), _regression(1), _mse, steps=300, lr=0.1)


def healthy_adam_warmup() -> list[Row]:
    return loop(_mlp(2, [8, 64, 64, 1]), _regression(2), _mse, steps=300, lr=_warmup(3e-3, 30), optimizer="adam")


def healthy_relu() -> list[Row]:
    return loop(_mlp(3, [8, 64, 1], "relu"), _regression(3), _mse, steps=250, lr=0.05)


def unstable_outliers() -> list[Row]:
    spikes = {90: 6.0, 170: 8.0, 230: 6.0}
    return loop(_mlp(4, [8, 32, 1], "relu"), _regression(4, outliers=spikes), _mse, steps=300, lr=0.02)


def unstable_start() -> list[Row]:
    return loop(_mlp(5, [8, 128, 128, 1], "relu", gain=2.0), _regression(5), _mse, steps=300, lr=0.01,
                optimizer="adam")


def exploding_linear() -> list[Row]:
    return loop(_mlp(6, [8, 1], "id"), _regression(6, scale=3.0), _mse, steps=200, lr=0.15)


def exploding_slow() -> list[Row]:
    return loop(_mlp(7, [8, 1], "id"), _regression(7, scale=3.0), _mse, steps=300, lr=0.125)


def vanishing_tanh() -> list[Row]:
    return loop(_mlp(8, [8, 64, 64, 64, 64, 64, 1], "tanh", gain=0.3), _regression(8), _mse, steps=300, lr=0.05)


def amp_skips() -> list[Row]:
    import torch

    def summed(out: Any, y: Any) -> Any:  # a sum over the batch: gradients 32x a mean's, more skips to settle
        return torch.nn.functional.mse_loss(out, y, reduction="sum")

    return loop(_mlp(9, [8, 32, 1]), _regression(9, scale=10.0), summed, steps=300, lr=2e-5,
                scaler_scale=2.0**127)


def nonfinite_data() -> list[Row]:
    return loop(_mlp(10, [8, 32, 1]), _regression(10, nan_at=137), _mse, steps=250, lr=0.05)


def nonfinite_log0() -> list[Row]:
    import torch

    def nll(out: Any, y: Any) -> Any:  # log of a probability that reaches 0 once the output saturates
        return -(torch.log(torch.sigmoid(out)) * (y > 0).float()).mean()

    return loop(_mlp(11, [8, 32, 1], "id"), _regression(11, scale=4.0), nll, steps=250, lr=2.0)


CASES = [LogCase(f.__name__, f.__name__.split("_")[0], f) for f in (
    healthy_sgd, healthy_adam_warmup, healthy_relu, unstable_outliers, unstable_start, exploding_linear,
    exploding_slow, vanishing_tanh, amp_skips, nonfinite_data, nonfinite_log0)]


def check(case: LogCase, rows: list[Row]) -> str:
    """'ok' when the plain loop's numbers fit the case's label, else what does not fit."""
    loss = [r.loss for r in rows]
    start = sorted(loss[:10])[5]
    finite = [v for v in loss if math.isfinite(v)]
    end = sorted(finite[-30:])[len(finite[-30:]) // 2] if finite else math.nan
    bad = first_nonfinite(rows)
    skips = sum(r.skipped for r in rows)
    kind = case.kind
    if kind in ("exploding", "nonfinite"):
        return "ok" if bad is not None else "never went non-finite"
    if bad is not None:
        return f"non-finite at step {bad}"
    if kind in ("healthy", "amp") and not end < 0.5 * start:
        return f"loss {start:.3g} -> {end:.3g}: does not train"
    if kind == "amp" and not skips:
        return "the GradScaler never skipped"
    if kind == "vanishing":
        depth = sorted(r.depth_ratio for r in rows)[len(rows) // 2]
        return "ok" if depth < 0.01 and end > 0.9 * start else f"early/late layer gradient {depth:.3g}, loss " \
            f"{start:.3g} -> {end:.3g}"
    if kind == "unstable":
        rises = [b / a for a, b in zip(loss[:-1], loss[1:], strict=True) if a > 0]
        early = max(loss[1:20]) / loss[0]
        return "ok" if max(rises) > 5 or early > 1.3 else f"largest step-to-step rise x{max(rises):.2f}, early " \
            f"x{early:.2f}"
    return "ok"
