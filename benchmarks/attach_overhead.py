#!/usr/bin/env python
"""What attaching to a script costs: a nanoGPT-sized training step run bare, with `Monitor.record` called by hand,
and attached by `gradscope diagnose -- python ...`; and the attach's start-up time.

The training script is this file run with `--child` (a GPT of nanoGPT's shape, AdamW, clip_grad_norm_, the
loop of nanoGPT's train.py, batches generated in code). Each round runs the three variants as fresh processes in
rotating order; each process times its own steps (the first `--warmup` left out) and reports the median step.
The figures are medians over rounds of the per-round ratios, so a slow spell on a shared machine cancels out:

- attached / bare: everything the attach adds to the script's own step;
- monitor / bare: what `Monitor.record` (with the attach's settings) costs when called by hand;
- attached / monitor: the attach beyond Monitor.record (the target: at most 1.02).

On a loaded machine the step ratios' noise (several %) hides a 2% effect, so the attach's own cost is also
measured where it can be resolved: the same GPT shape (as many layers, so as many parameter tensors, which is
what the attach's per-step work scales with) at width 32 and 16 tokens, a ~2 ms step timed 200 times. There
attached minus monitor is the attach's own time per step beyond Monitor.record, in milliseconds; it is then
set against the nanoGPT-sized bare step ("own time / big step").

Start-up: the wall time of a one-step script attached (`gradscope diagnose --no-plots -- python ...`) minus the
same script bare, and the in-process part of it (the boot sitecustomize, the hooks, the first row's Monitor).

Run: `nice python benchmarks/attach_overhead.py [--quick] [--rounds R] [--steps N]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


# -- the training script (child) ---------------------------------------------------------------------------------
def child(argv: list[str]) -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--child", choices=["bare", "monitor"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--n_layer", type=int, default=6)
    p.add_argument("--n_embd", type=int, default=384)
    p.add_argument("--n_head", type=int, default=6)
    p.add_argument("--block_size", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--times", default=None)
    a = p.parse_args(argv)
    import torch
    import torch.nn as nn
    from torch.nn import functional as F

    torch.set_num_threads(1)
    torch.manual_seed(0)
    vocab = 512

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(a.n_embd), nn.LayerNorm(a.n_embd)
            self.c_attn, self.c_proj = nn.Linear(a.n_embd, 3 * a.n_embd), nn.Linear(a.n_embd, a.n_embd)
            self.mlp = nn.Sequential(nn.Linear(a.n_embd, 4 * a.n_embd), nn.GELU(), nn.Linear(4 * a.n_embd, a.n_embd))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, a.n_head, C // a.n_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.c_proj(y)
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, a.n_embd), nn.Embedding(a.block_size, a.n_embd)
            self.h = nn.ModuleList([Block() for _ in range(a.n_layer)])
            self.ln_f = nn.LayerNorm(a.n_embd)
            self.lm_head = nn.Linear(a.n_embd, vocab, bias=False)
            self.wte.weight = self.lm_head.weight

        def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, vocab), targets.view(-1))

    model = GPT()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    monitor = None
    if a.child == "monitor":
        import gradscope

        monitor = gradscope.Monitor(model, weight_every=1, sync_every=1)  # the attach's settings
    data = torch.randint(0, vocab, (100_000,))
    wall, cpu = [], []
    for _ in range(a.steps):
        w0, c0 = time.perf_counter(), time.process_time()
        ix = torch.randint(len(data) - a.block_size - 1, (a.batch_size,))
        x = torch.stack([data[i:i + a.block_size] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + a.block_size] for i in ix])
        loss = model(x, y)
        loss.backward()
        if monitor is not None:
            monitor.record(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    if a.times:
        Path(a.times).write_text(json.dumps({"wall": wall, "cpu": cpu,
                                             "params": sum(p.numel() for p in model.parameters())}))


# -- the measurement (parent) --------------------------------------------------------------------------------------
def run_variant(name: str, size: list[str], steps: int, warmup: int, scratch: Path, env: dict[str, str]) -> dict:
    times = scratch / f"{name}.json"
    script = [sys.executable, str(Path(__file__).resolve()), "--child", "monitor" if name == "monitor" else "bare",
              "--steps", str(steps), "--times", str(times), *size]
    if name == "attached":
        script = [sys.executable, "-m", "gradscope", "diagnose", "--no-plots", "--out", str(scratch / "run"), "--",
                  *script]
    done = subprocess.run(script, env=env, capture_output=True, text=True, cwd=REPO)
    if not times.exists():
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    measured = json.loads(times.read_text())
    return {key: statistics.median(measured[key][warmup:]) for key in ("wall", "cpu")} | {
        "params": measured["params"]}


def startup(env: dict[str, str], scratch: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Seconds, wall and CPU (user + system of the process and everything it started): a one-step script bare
    and attached (whole gradscope diagnose), and `import torch` with and without the attach's boot (the
    in-process part: sitecustomize, the hooks). On a loaded machine the CPU seconds are the steady figure."""
    one = [sys.executable, str(Path(__file__).resolve()), "--child", "bare", "--steps", "1", "--n_layer", "1",
           "--n_embd", "32", "--n_head", "2", "--block_size", "16"]
    attached = [sys.executable, "-m", "gradscope", "diagnose", "--no-plots", "--out", str(scratch / "s"), "--", *one]
    from gradscope.attach.launch import child_environ
    from gradscope.attach.settings import Settings

    boot_env = child_environ(Settings(out=None, control=None))
    boot_env.update({k: v for k, v in env.items() if k == "OMP_NUM_THREADS"})
    commands = {"bare one-step script": (one, env), "attached one-step script": (attached, env),
                "import torch": ([sys.executable, "-c", "import torch"], env),
                "import torch, attach boot": ([sys.executable, "-c", "import torch"], boot_env)}
    import resource

    wall: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    for r in range(repeats):
        for name in list(commands)[r % 2:] + list(commands)[:r % 2]:
            cmd, e = commands[name]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, env=e, capture_output=True, cwd=REPO, check=True)
            wall[name].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {"wall": {k: statistics.median(v) for k, v in wall.items()},
            "cpu": {k: statistics.median(v) for k, v in cpu.items()}}


def main() -> None:
    from _common import paired, parser, spread, table

    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 4, quick 2)")
    p.add_argument("--steps", type=int, default=None, help="steps per process (default 16, quick 8)")
    p.add_argument("--warmup", type=int, default=4, help="first steps of each process left out")
    p.add_argument("--startup-repeats", type=int, default=None, help="start-up measurements (default 7, quick 3)")
    p.add_argument("--size", default=None, help="child size flags, e.g. '--n_layer 6 --n_embd 384' (default: "
                   "6 layers x 384, block 64, batch 4: ~11M parameters; quick: 4 x 256)")
    args = p.parse_args()
    rounds = args.rounds or (2 if args.quick else 4)
    steps = args.steps or (8 if args.quick else 16)
    size = (args.size or ("--n_layer 4 --n_embd 256 --n_head 4" if args.quick else "")).split()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    variants = ["bare", "monitor", "attached"]
    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="attach-overhead-") as tmp:
        scratch = Path(tmp)
        for r in range(rounds):
            for name in variants[r % 3:] + variants[:r % 3]:
                results[name].append(run_variant(name, size, steps, args.warmup, scratch, env))
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{v} {results[v][-1]['cpu'] * 1e3:.1f} ms"
                                                          for v in variants), file=sys.stderr)
        small_size = ["--n_layer", size[size.index("--n_layer") + 1] if "--n_layer" in size else "6", "--n_embd", "32",
                      "--n_head", "2", "--block_size", "16"]
        small: dict[str, list[dict]] = {v: [] for v in variants}
        for r in range(rounds):
            for name in variants[r % 3:] + variants[:r % 3]:
                small[name].append(run_variant(name, small_size, 200, 20, scratch, env))
        start = startup(env, scratch, args.startup_repeats or (3 if args.quick else 7))
    out: dict = {"params": results["bare"][0]["params"], "rounds": rounds, "steps": steps, "warmup": args.warmup}
    rows = []
    for clock in ("cpu", "wall"):
        series = {v: [x[clock] for x in results[v]] for v in variants}
        for a, b in (("attached", "bare"), ("monitor", "bare"), ("attached", "monitor")):
            ratios = paired(series[a], series[b])
            out[f"{a}/{b} ({clock})"] = statistics.median(ratios)
            rows.append([f"{a} / {b}", clock, f"{statistics.median(ratios):.4f}", f"{spread(ratios):.1%}"])
        out[f"bare step ({clock})"] = statistics.median(series["bare"])
    for clock in ("cpu", "wall"):
        own = [a[clock] - m[clock] for a, m in zip(small["attached"], small["monitor"], strict=True)]
        record = [m[clock] - b[clock] for m, b in zip(small["monitor"], small["bare"], strict=True)]
        out[f"attach own ms/step ({clock})"] = statistics.median(own) * 1e3
        out[f"record ms/step small ({clock})"] = statistics.median(record) * 1e3
        out[f"attach own / big step ({clock})"] = statistics.median(own) / out[f"bare step ({clock})"]
        rows.append(["attach own time / big bare step", clock, f"{out[f'attach own / big step ({clock})']:.4f}",
                     f"{statistics.median(own) * 1e3:.2f} ms"])
    extra = {c: start[c]["attached one-step script"] - start[c]["bare one-step script"] for c in ("cpu", "wall")}
    boot = {c: start[c]["import torch, attach boot"] - start[c]["import torch"] for c in ("cpu", "wall")}
    out |= {"startup": start, "attach_startup_s": extra, "boot_in_process_s": boot}
    print(f"{out['params'] / 1e6:.1f}M-parameter GPT, {rounds} rounds x {steps} steps (first {args.warmup} "
          f"left out); bare step {out['bare step (cpu)'] * 1e3:.0f} ms CPU, "
          f"{out['bare step (wall)'] * 1e3:.0f} ms wall")
    print(table(rows, ["ratio", "clock", "median", "noise / ms"]))
    print(f"start-up: attached one-step script {extra['cpu']:+.2f} s CPU ({extra['wall']:+.2f} s wall) over bare "
          f"(whole gradscope diagnose: CLI, launch, run folder, diagnosis); in the process: {boot['cpu']:+.3f} s "
          f"CPU ({boot['wall']:+.3f} s wall) on `import torch`")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    if "--child" in sys.argv:
        child(sys.argv[1:])
    else:
        main()
