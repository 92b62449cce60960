"""Shared pieces of the benchmarks: the models, argument parsing, timing. Not a test module (no test_ prefix)."""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs (default cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads for the run (default 1: steadier numbers on a shared machine)")
    p.add_argument("--quick", action="store_true", help="fewer repeats and smaller inputs: under a minute")
    p.add_argument("--clock", default="auto", choices=["auto", "wall", "cpu"],
                   help="wall time, or process CPU time (auto: CPU time on CPU with one thread, else wall)")
    p.add_argument("--json", action="store_true", help="also print the results as one JSON document at the end")
    return p


def setup_torch(args: argparse.Namespace) -> Any:
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    return torch


def describe(torch: Any, args: argparse.Namespace) -> str:
    where = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    return (f"torch {torch.__version__}, device {args.device} ({where}), {args.threads} CPU thread(s), "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")


def build_mlp(torch: Any, width: int, layers: int = 200) -> Any:
    """`layers` Linear layers (weight + bias each): 400 parameter tensors by default."""
    nn = torch.nn
    mods: list[Any] = []
    for i in range(layers):
        mods.append(nn.Linear(width, width))
        if i < layers - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def build_transformer(torch: Any, vocab: int = 1000, d: int = 512, layers: int = 8, heads: int = 8,
                      ff: int = 2048, seq: int = 512) -> Any:
    """A GPT-style encoder stack, about 26M parameters in 102 tensors with the defaults."""
    nn = torch.nn

    class TinyLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.pos = nn.Parameter(torch.zeros(seq, d))
            layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab)

        def forward(self, tokens: Any) -> Any:
            h = self.embed(tokens) + self.pos[: tokens.shape[1]]
            return self.head(self.norm(self.encoder(h)))

    return TinyLM()


class Clock:
    """What a measurement reads: wall time that waits for the device (CUDA kernels run asynchronously), or
    the process's CPU time (`--clock cpu`), which on a shared machine leaves out the time other processes had
    the core. With one torch thread on CPU the two measure the same work; `auto` picks CPU time there."""

    def __init__(self, torch: Any, device: str, kind: str = "wall") -> None:
        self.kind = kind
        self._sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self._read = time.process_time if kind == "cpu" else time.perf_counter

    def __call__(self) -> float:
        self._sync()
        return self._read()


def clock_kind(args: argparse.Namespace) -> str:
    if args.clock != "auto":
        return args.clock
    return "cpu" if args.device == "cpu" and args.threads == 1 else "wall"


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int, clock: Clock, *, target: float = 0.02,
                warmup: int = 2) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per call of each function: every round runs each once, in a shuffled order, so slow
    spells of a shared machine hit all of them alike. A measurement repeats a call an even number of times,
    at least 2, to last about `target` seconds: a call that alternates (weight_every=2 takes weight norms every
    other step) is then measured over whole periods, not in one of its two modes."""
    names = list(fns)
    inner: dict[str, int] = {}
    for name in names:
        for _ in range(warmup):
            fns[name]()
        t0 = clock()
        for _ in range(2):
            fns[name]()
        once = (clock() - t0) / 2
        inner[name] = max(2, 2 * round(target / max(once, 1e-7) / 2))
    times: dict[str, list[float]] = {name: [] for name in names}
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        order = list(names)
        shuffle(order)  # a fresh order each round: no call always follows the same one (caches, allocator)
        for name in order:
            t0 = clock()
            for _ in range(inner[name]):
                fns[name]()
            times[name].append((clock() - t0) / inner[name])
    return times, inner


def paired(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per-round ratios a/b: measured minutes apart at most, so a slow spell cancels out."""
    return [x / y for x, y in zip(a, b, strict=True)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> float:
    """Half the interquartile range over the median: the noise of a series, as a fraction."""
    if len(values) < 4:
        return (max(values) - min(values)) / 2 / statistics.median(values)
    q = statistics.quantiles(values, n=4)
    return (q[2] - q[0]) / 2 / statistics.median(values)


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])
