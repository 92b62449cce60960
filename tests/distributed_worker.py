"""Run under torchrun by tests/test_distributed.py: `Monitor` on FSDP2 and DDP models, each rank on its half of
the same global batches; every rank writes what it recorded to OUT/rank<R>.json. The single-process reference
(`plain_loop`) lives here too, so both sides build the same model and batches."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(1)

STEPS = 5
BATCH = 8
NAN_STEP = 3  # the step whose batch holds a NaN (on rank 1's half only) in the "nan" scenario
# The float64 scenario: inputs ~1e21 make the loss ~1e43 and the gradient norms pass float32's range (3.4e38) while
# every value is finite in float64; a tiny lr keeps the updates the size of the weights.
FLOAT64 = {"scale": 1e21, "dtype": torch.float64}
FLOAT64_LR = 1e-44


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


def build_model(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), Block(), nn.Linear(16, 1)).to(dtype)


def batches(nan: bool = False, scale: float = 3.0,
            dtype: torch.dtype = torch.float32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for step in range(STEPS):
        x = (torch.randn(BATCH, 4, generator=g) * scale).to(dtype)
        y = x.sum(dim=1, keepdim=True)
        if nan and step == NAN_STEP:
            x[BATCH - 1, 0] = math.nan  # the last sample: on rank 1's half of the batch
        out.append((x, y))
    return out


def plain_loop(lr: float = 0.05, clip: float | None = None, nan: bool = False,
               clip_value: float | None = None, float64: bool = False) -> dict:
    """The single-process reference: zero_grad, loss, backward, clip_grad_norm_ (or clip_grad_value_), step;
    norms as torch takes them."""
    wide = FLOAT64 if float64 else {}
    model = build_model(wide.get("dtype", torch.float32))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    out: dict = {"grad_norm": [], "param_norms": [], "loss": [], "weight_norm": [], "grad_max_abs": [],
                 "names": [n for n, _ in model.named_parameters()]}
    for x, y in batches(nan, **wide):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        out["param_norms"].append([float(p.grad.norm()) for p in model.parameters()])
        out["weight_norm"].append(float(torch.stack([p.detach().norm() for p in model.parameters()]).norm()))
        out["grad_max_abs"].append(max(float(p.grad.abs().max()) for p in model.parameters()))
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip is not None else math.inf)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
        out["grad_norm"].append(float(total))
        out["loss"].append(float(loss.detach()))
        opt.step()
    return out


def distributed_loop(kind: str, lr: float = 0.05, clip: float | None = None, nan: bool = False,
                     sync_every: int = 1, clip_value: float | None = None, save: Path | None = None,
                     track_max_abs: bool = True, float64: bool = False) -> dict:
    """The same loop with the model under `kind` (ddp | fsdp) and gradscope's Monitor; what this rank recorded."""
    import torch.distributed as dist

    from gradscope import Monitor
    from gradscope.drivers.distributed import rank_slice, wrap

    wide = FLOAT64 if float64 else {}
    model = wrap(build_model(wide.get("dtype", torch.float32)), kind, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    monitor = Monitor(model, sync_every=sync_every, weight_every=1, track_max_abs=track_max_abs)
    for x, y in batches(nan, **wide):
        opt.zero_grad()
        xs, ys = rank_slice((x, y), dist.get_world_size())
        loss = nn.functional.mse_loss(model(xs), ys)
        loss.backward()
        monitor.record(loss)
        if clip is not None:
            monitor.clip_norm_(clip)
        if clip_value is not None:
            monitor.clip_value_(clip_value)
        opt.step()
    monitor.flush()
    trace = monitor.trace
    out = {"names": monitor.names, "grad_norm": trace.grad_norm.tolist(), "loss": trace.loss.tolist(),
           "param_norms": trace.grad_norms.series()[1].tolist(), "clipped": trace.column("clipped").tolist(),
           "weight_norm": trace.weight_norm.tolist(), "grad_max_abs": trace.column("grad_max_abs").tolist(),
           "events": [(e.kind, e.step) for e in trace.info.events],
           "shapes": trace.info.param_shapes, "owners": trace.info.param_modules}
    if save is not None:
        out["saved"] = str(monitor.save(save / f"rank{dist.get_rank()}"))
    return out


SCENARIOS = {
    "fsdp": {"kind": "fsdp"},
    "ddp": {"kind": "ddp"},
    "fsdp_clip": {"kind": "fsdp", "lr": 0.2, "clip": 0.5},
    "ddp_clip": {"kind": "ddp", "lr": 0.2, "clip": 0.5},
    "fsdp_nan": {"kind": "fsdp", "nan": True},
    "ddp_nan": {"kind": "ddp", "nan": True},
    "fsdp_sync": {"kind": "fsdp", "sync_every": 2, "clip": 0.5, "lr": 0.2},
    "fsdp_value": {"kind": "fsdp", "clip_value": 0.3, "track_max_abs": False},  # clip_value_ takes the peak
    "ddp_float64": {"kind": "ddp", "float64": True, "lr": FLOAT64_LR},
    "fsdp_float64": {"kind": "fsdp", "float64": True, "lr": FLOAT64_LR},
}


def main() -> None:
    """OUT: every scenario's record into OUT/rank<R>.json; the `save` scenario's folders under OUT."""
    import torch.distributed as dist

    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    results = {name: distributed_loop(**args) for name, args in SCENARIOS.items()}
    results["fsdp_save"] = distributed_loop("fsdp", save=out)
    (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
