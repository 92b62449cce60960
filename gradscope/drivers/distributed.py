"""The CLI's runs under torchrun (`[run] parallel = "ddp" | "fsdp"`): the process group, the model's wrapping and
each rank's part of every batch.

Every rank builds the same model from the same seed and reads the same batches; each takes its slice of every
batch along the first dimension, so the ranks together see the single-process run's global batch, and DDP's (or
FSDP2's) averaging of the gradients gives the single-process gradients, up to the order of the sums. Only rank 0
writes the run folder and prints (`gradscope.ranks.is_writer`); every rank computes the same findings (the monitor
reduces its statistics across ranks), so every rank exits with the same code.

Nothing here imports torch until a run needs it (`gradscope --help` stays light).
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from gradscope.errors import ConfigError
from gradscope.ranks import rank

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def start(run: Any, device: Any, source: str = "the config") -> tuple[Any, int]:
    """Join the process group torchrun set up for `run` (a RunConfig; gloo on CPU, nccl on CUDA); returns
    (device, world size). On CUDA each rank takes the GPU of its LOCAL_RANK. `parallel = "none"` does nothing."""
    parallel = run.parallel
    if parallel == "none":
        return device, 1
    if parallel == "fsdp" and run.precision == "fp16":
        raise ConfigError(f'{source}: [run] precision = "fp16" with parallel = "fsdp" needs a sharded GradScaler, '
                          'which gradscope does not run (fix: precision = "bf16", or parallel = "ddp")')
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise ConfigError(f'{source}: [run] parallel = "{parallel}" needs torchrun ({", ".join(missing)} not set) '
                          f"(fix: launch with torchrun --nproc-per-node N -m gradscope diagnose CONFIG, "
                          f'or set parallel = "none")')
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ConfigError(f'{source}: [run] parallel = "{parallel}" runs on "cpu" or "cuda", not {device.type!r} '
                          '(fix: device = "cpu")')
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_stop)
    return device, dist.get_world_size()


def _stop() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: Any, parallel: str, device: Any) -> Any:
    """The model as the run trains it: DDP, or FSDP2 `fully_shard` on every submodule that holds parameters
    of its own (leaves first), then on the root; as it is for "none"."""
    if parallel == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if parallel == "fsdp":
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        for module in reversed([m for m in model.modules() if m is not model]):
            if any(True for _ in module.parameters(recurse=False)):
                fully_shard(module, mesh=mesh)
        fully_shard(model, mesh=mesh)
    return model


def replay_model(model: Any, parallel: str) -> Any:
    """The module to replay a bad step on (to find where a NaN began) without any collective: DDP's own module
    (its hooks do nothing outside DDP's forward), the model itself in one process; None under FSDP2, whose
    forward gathers shards from every rank (the monitor's first-seen parameter stands)."""
    if parallel == "fsdp":
        return None
    from gradscope.monitor.param_names import unwrap

    return unwrap(model) if parallel == "ddp" else model


def rank_slice(batch: Any, world: int, batch_size_at: str = "[data] batch_size") -> Any:
    """This rank's part of `batch`: every tensor in it (tuples, lists and dicts walked) cut along its first
    dimension into `world` equal parts; anything else as it is. A first dimension that does not divide is an
    error (naming `batch_size_at`, where the user sets it): uneven parts would weight the ranks' samples
    unequally and change the numbers."""
    if world == 1:
        return batch
    import torch

    index = rank()

    def cut(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            size = value.shape[0]
            if size % world:
                even = max(world, size // world * world)
                raise ConfigError(f"a batch of {size} does not split across {world} ranks (fix: a batch size "
                                  f"divisible by {world}, e.g. {even}, in {batch_size_at})")
            part = size // world
            return value[index * part:(index + 1) * part]
        if isinstance(value, tuple | list):
            return type(value)(cut(v) for v in value)
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        return value

    return cut(batch)
