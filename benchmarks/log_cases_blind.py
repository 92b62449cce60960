"""Blind labelled training logs for gradscope's log readers: written without reading gradscope/sources/ or the
log benchmarks, labelled from what each run did (checked in this script), never from what gradscope says.

Each case trains a small model with a plain torch loop and writes its log with the real writers, every format
holding the same logged steps:

    OUT/<case>/tb/                     torch.utils.tensorboard.SummaryWriter: train/loss, train/grad_norm, train/lr
    OUT/<case>/lightning/version_0/    lightning's CSVLogger (metrics.csv: step, train_loss, grad_norm, lr)
    OUT/<case>/log.csv                 csv.writer: step,loss,grad_norm,lr
    OUT/<case>/log.jsonl               json.dumps per line (Python writes Infinity / NaN, as users' loops do)
    OUT/<case>/trainer_state.json      transformers.TrainerState.save_to_json, log_history as the Trainer builds it
    OUT/labels.json                    case -> {verdict, first_nonfinite_step, kind, log_every, steps}

Conventions (those of the Hugging Face Trainer, used in every format so one label fits all of a case's files):
- steps count from 1 (the optimizer step just taken); a case logs every step or every 10th step;
- a logged loss is the mean of the losses since the last log; the grad norm is the last step's, measured before
  the update (`clip_grad_norm_(params, inf)`, after `scaler.unscale_` under fp16); the lr is the one that step used;
- trainer_state.json alone also has the Trainer's default `logging_nan_inf_filter`: a non-finite step loss adds
  the window's running mean instead (so a diverged window can log a finite loss, or 0.0, beside a NaN grad norm),
  and the Trainer's closing summary entry (train_loss, train_runtime, ...).

Labels:
- verdict: healthy (trains, nothing to fix), warning (trains but with spikes/instability worth a look),
  critical (goes non-finite, blows up, or does not train);
- first_nonfinite_step: the first LOGGED step whose window holds the first training step with a non-finite loss
  or grad norm that was applied (a GradScaler's skipped step is normal: not counted), or null;
- the script checks each run's behaviour against its label and stops with an error where they disagree.

    .venv/bin/pip install -c constraints.txt -r benchmarks/requirements-logs.txt   # tensorboard
    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/log_cases_blind.py OUT [--cases a,b]   # ~1 min, 12 cases
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Step:
    """One optimizer step of a plain loop: its loss, its pre-update grad norm, its lr, and whether it was applied."""
    loss: float
    grad_norm: float
    lr: float
    skipped: bool = False  # a GradScaler skipped this update (inf/NaN in the scaled gradients)


@dataclass(frozen=True)
class LogCase:
    name: str
    verdict: str  # healthy | warning | critical
    kind: str
    log_every: int
    train: Callable[[], list[Step]]
    check: Callable[[list[Step]], None]  # raises AssertionError where the run did not do what its label says


# ---- data and models ------------------------------------------------------------------------------------------

def _regression(n: int, d: int, seed: int, scale: float = 1.0, noise: float = 0.1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g) * scale
    w = torch.randn(d, 1, generator=g)
    return x, x @ w + noise * torch.randn(n, 1, generator=g)


def _classes(n: int, d: int, k: int, seed: int, spread: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs that overlap (centres `spread` apart in each dimension): the loss floor is well above 0."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * spread
    y = torch.arange(n) % k
    return centres[y] + torch.randn(n, d, generator=g), y


def _batches(x: torch.Tensor, y: torch.Tensor, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    while True:
        for idx in torch.randperm(len(x), generator=g).split(batch):
            if len(idx) == batch:
                yield x[idx], y[idx]


def _mlp(d_in: int, width: int, d_out: int, depth: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), act()]
    return nn.Sequential(*layers, nn.Linear(width, d_out))


def _norm(params: list[nn.Parameter]) -> float:
    return float(torch.nn.utils.clip_grad_norm_(params, float("inf")))


def _loop(model: nn.Module, opt: torch.optim.Optimizer, batches: Any, loss_fn: Callable, steps: int,
          schedule: Callable[[int], float] | None = None, params: list[nn.Parameter] | None = None) -> list[Step]:
    """The plain loop: forward, backward, norm, step (an optional per-step lr multiplier, as LambdaLR applies)."""
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule else None
    params = params if params is not None else list(model.parameters())
    out = []
    for _ in range(steps):
        xb, yb = next(batches)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        gn = _norm(params)
        lr = opt.param_groups[0]["lr"]
        opt.step()
        if sched:
            sched.step()
        out.append(Step(loss.item(), gn, lr))
    return out


# ---- the runs -------------------------------------------------------------------------------------------------

def healthy_mlp_sgd() -> list[Step]:
    torch.manual_seed(1)
    x, y = _regression(2048, 16, seed=1)
    model = _mlp(16, 64, 1, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    return _loop(model, opt, _batches(x, y, 64, 1), nn.functional.mse_loss, 300)


def healthy_adamw_warmup() -> list[Step]:
    torch.manual_seed(2)
    x, y = _classes(4096, 20, 5, seed=2)
    model = _mlp(20, 128, 5, depth=3)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    warm, total = 30, 400

    def sched(i: int) -> float:
        return (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / (total - warm)))
    return _loop(model, opt, _batches(x, y, 64, 2), nn.functional.cross_entropy, total, sched)


class _SeqModel(nn.Module):
    def __init__(self, vocab: int = 16, hidden: int = 48):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.emb(x))[0])


def _copy_task(n: int, seq: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Predict the token two places back: learnable by an LSTM, the loss starts at log(vocab)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, seq), generator=g)
    return x, torch.cat([torch.zeros(n, 2, dtype=torch.long), x[:, :-2]], dim=1)


def healthy_lstm_adam() -> list[Step]:
    torch.manual_seed(3)
    x, y = _copy_task(2048, 24, 16, seed=3)
    model = _SeqModel()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    return _loop(model, opt, _batches(x, y, 32, 3), lambda o, t: nn.functional.cross_entropy(o.transpose(1, 2), t),
                 300)


def healthy_noisy_small_batch() -> list[Step]:
    """Batch 4 on a noisy regression: the step loss jumps around a lot, the run trains fine."""
    torch.manual_seed(4)
    x, y = _regression(1024, 8, seed=4, noise=0.7)
    model = _mlp(8, 32, 1, depth=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    return _loop(model, opt, _batches(x, y, 4, 4), nn.functional.mse_loss, 400)


def spiky_outliers_sgd() -> list[Step]:
    """SGD momentum on data where 4 samples in 4096 are 10x larger: those batches throw the loss and the grad norm
    up by orders of magnitude, and the run recovers each time."""
    torch.manual_seed(5)
    x, y = _regression(4096, 16, seed=5)
    g = torch.Generator().manual_seed(55)
    rows = torch.randperm(4096, generator=g)[:4]
    x[rows] *= 10.0
    y[rows] *= 10.0
    model = _mlp(16, 64, 1, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return _loop(model, opt, _batches(x, y, 32, 5), nn.functional.mse_loss, 400)


def adam_lr_restart() -> list[Step]:
    """Adam at lr 2e-3 on a regression, with a bad schedule restart: steps 150-159 run at lr 0.2. The loss jumps
    by orders of magnitude there, then the run recovers and trains on."""
    torch.manual_seed(6)
    x, y = _regression(4096, 16, seed=6, noise=0.3)
    model = _mlp(16, 64, 1, depth=2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    return _loop(model, opt, _batches(x, y, 64, 6), nn.functional.mse_loss, 300,
                 lambda i: 100.0 if 150 <= i < 160 else 1.0)


def explode_linear_sgd() -> list[Step]:
    """Linear regression at 3x the stable lr: the error grows ~5x a step until the loss overflows to inf, then NaN."""
    torch.manual_seed(7)
    x, y = _regression(2048, 32, seed=7, scale=3.0)
    model = nn.Linear(32, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    return _loop(model, opt, _batches(x, y, 64, 7), nn.functional.mse_loss, 120)


def explode_mlp_late() -> list[Step]:
    """An MLP trains under a warm-up that keeps rising to lr 0.6: it goes non-finite in the second half."""
    torch.manual_seed(8)
    x, y = _regression(2048, 16, seed=8)
    model = _mlp(16, 64, 1, depth=3)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    return _loop(model, opt, _batches(x, y, 64, 8), nn.functional.mse_loss, 300,
                 lambda i: 1e-3 * (1.025 ** i))


def growth_finite() -> list[Step]:
    """Linear regression just past the stable lr: the loss grows ~1.1x a step for 200 steps, large but finite."""
    torch.manual_seed(9)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(512, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g)
    model = nn.Linear(8, 1, bias=False)
    # full batch: the largest Hessian eigenvalue of the mse is 2*lambda_max(x'x/n); lr a bit past 2/that diverges
    lam = float(torch.linalg.eigvalsh(x.T @ x / len(x)).max()) * 2
    opt = torch.optim.SGD(model.parameters(), lr=2.1 / lam)

    def full():
        while True:
            yield x, y
    return _loop(model, opt, full(), nn.functional.mse_loss, 200)


def vanishing_deep_sigmoid() -> list[Step]:
    """A 24-layer sigmoid MLP on a balanced two-class problem: the gradient reaching the first layers is ~1e-14
    of the last layer's, and the loss stays at log 2."""
    torch.manual_seed(10)
    x, y = _classes(2048, 16, 2, seed=10)
    model = _mlp(16, 32, 2, depth=24, act=nn.Sigmoid)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    return _loop(model, opt, _batches(x, y, 64, 10), nn.functional.cross_entropy, 300)


def fp16_scaler_skips() -> list[Step]:
    """fp16 autocast on the CPU with GradScaler("cpu"): the scale starts high and grows every 50 steps, so the
    scaler skips a few updates (inf grad norm after unscale_, finite loss) and the run trains normally."""
    torch.manual_seed(11)
    x, y = _classes(4096, 32, 4, seed=11)
    model = _mlp(32, 128, 4, depth=3)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 20, growth_interval=50)
    batches = _batches(x, y, 64, 11)
    params = list(model.parameters())
    out = []
    for _ in range(300):
        xb, yb = next(batches)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.functional.cross_entropy(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        gn = _norm(params)
        before = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        out.append(Step(loss.item(), gn, opt.param_groups[0]["lr"], skipped=scaler.get_scale() < before))
    return out


def never_trains() -> list[Step]:
    """A real bug: the optimizer was built on a copy of the model, so the trained model never changes."""
    torch.manual_seed(12)
    x, y = _classes(2048, 20, 5, seed=12)
    model = _mlp(20, 64, 5, depth=2)
    shadow = _mlp(20, 64, 5, depth=2)
    opt = torch.optim.Adam(shadow.parameters(), lr=1e-3)
    return _loop(model, opt, _batches(x, y, 64, 12), nn.functional.cross_entropy, 200,
                 params=list(model.parameters()))


# ---- checks: the run did what its label says -------------------------------------------------------------------

def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def _ends(trace: list[Step], frac: float = 0.1) -> tuple[float, float]:
    """The median loss of the first and of the last `frac` of the run (medians: a spike does not move them)."""
    k = max(1, int(len(trace) * frac))
    return _median([s.loss for s in trace[:k]]), _median([s.loss for s in trace[-k:]])


def _finite(trace: list[Step]) -> bool:
    return all(math.isfinite(s.loss) and (math.isfinite(s.grad_norm) or s.skipped) for s in trace)


def trains(ratio: float) -> Callable[[list[Step]], None]:
    """Finite throughout and the late loss below `ratio` x the early loss."""
    def check(trace: list[Step]) -> None:
        assert _finite(trace), "went non-finite"
        start, end = _ends(trace)
        assert end < ratio * start, f"late loss {end:.4g} not below {ratio} x start {start:.4g}"
    return check


def _spikes(trace: list[Step], times: float) -> int:
    """Steps after the first 20 whose loss is above `times` x the median loss of the 20 steps before them."""
    return sum(trace[i].loss > times * sorted(s.loss for s in trace[i - 20:i])[10] for i in range(20, len(trace)))


def no_spikes(trace: list[Step]) -> None:
    """Healthy: trains (late loss under 0.7x the early one) and no step loss jumps 10x over its recent median."""
    trains(0.7)(trace)
    assert _spikes(trace, 10.0) == 0, f"{_spikes(trace, 10.0)} spikes above 10x"


def spiky(times: float, count: int) -> Callable[[list[Step]], None]:
    """Trains, with at least `count` step losses above `times` x their recent median (`_spikes`)."""
    def check(trace: list[Step]) -> None:
        trains(0.7)(trace)
        jumps = _spikes(trace, times)
        assert jumps >= count, f"{jumps} spikes above {times}x (wanted >= {count})"
    return check


def goes_nonfinite(trace: list[Step]) -> None:
    assert _first_bad(trace) is not None, "stayed finite"


def grows(trace: list[Step]) -> None:
    assert _finite(trace), "went non-finite"
    start, end = _ends(trace)
    assert end > 1e6 * start, f"late loss {end:.4g} not 1e6 x start {start:.4g}"


def flat(trace: list[Step]) -> None:
    assert _finite(trace), "went non-finite"
    start, end = _ends(trace)
    assert end > 0.95 * start, f"trained: late loss {end:.4g} vs start {start:.4g}"


def vanishes(trace: list[Step]) -> None:
    flat(trace)


def amp_healthy(trace: list[Step]) -> None:
    skips = sum(s.skipped for s in trace)
    assert skips >= 1, "the scaler never skipped"
    assert all(math.isfinite(s.loss) for s in trace), "a loss went non-finite"
    assert all(math.isfinite(s.grad_norm) for s in trace if not s.skipped), "an applied grad norm is non-finite"
    assert not any(math.isfinite(s.grad_norm) for s in trace if s.skipped), "a skip with a finite norm"
    start, end = _ends(trace)
    assert end < 0.7 * start, f"late loss {end:.4g} vs start {start:.4g}"


CASES = [
    LogCase("healthy_mlp_sgd", "healthy", "trains", 1, healthy_mlp_sgd, no_spikes),
    LogCase("healthy_adamw_warmup_cosine", "healthy", "trains (warm-up, cosine lr)", 10, healthy_adamw_warmup,
            no_spikes),
    LogCase("healthy_lstm_adam", "healthy", "trains", 10, healthy_lstm_adam, no_spikes),
    LogCase("healthy_noisy_small_batch", "healthy", "trains (noisy step loss)", 1, healthy_noisy_small_batch,
            no_spikes),
    LogCase("spiky_outliers_sgd", "warning", "loss and grad-norm spikes, recovers", 1, spiky_outliers_sgd,
            spiky(10.0, 5)),
    LogCase("adam_lr_restart", "warning", "loss spike from an lr restart, recovers", 1, adam_lr_restart,
            spiky(10.0, 2)),
    LogCase("explode_linear_sgd", "critical", "exploding to non-finite", 1, explode_linear_sgd, goes_nonfinite),
    LogCase("explode_mlp_late_every10", "critical", "exploding to non-finite after training", 10, explode_mlp_late,
            goes_nonfinite),
    LogCase("growth_finite", "critical", "exploding growth, still finite", 1, growth_finite, grows),
    LogCase("vanishing_deep_sigmoid", "critical", "vanishing gradients, does not train", 10, vanishing_deep_sigmoid,
            vanishes),
    LogCase("fp16_scaler_skips", "healthy", "fp16 GradScaler skips (normal)", 1, fp16_scaler_skips, amp_healthy),
    LogCase("never_trains", "critical", "does not train (loss flat)", 10, never_trains, flat),
]


# ---- logging ---------------------------------------------------------------------------------------------------

def _first_bad(trace: list[Step]) -> int | None:
    """The first training step (1-based) with a non-finite loss or an applied non-finite grad norm."""
    for i, s in enumerate(trace, start=1):
        if not math.isfinite(s.loss) or (not s.skipped and not math.isfinite(s.grad_norm)):
            return i
    return None


def logged_rows(trace: list[Step], every: int) -> list[dict[str, float]]:
    """What a loop logging every `every` steps writes: step, mean loss since the last log, last grad norm, lr."""
    rows = []
    for end in range(every, len(trace) + 1, every):
        window = trace[end - every:end]
        rows.append({"step": end, "loss": _mean([s.loss for s in window]), "grad_norm": window[-1].grad_norm,
                     "lr": window[-1].lr})
    return rows


def trainer_log_history(trace: list[Step], every: int) -> list[dict[str, Any]]:
    """log_history as transformers' Trainer builds it (logging_nan_inf_filter on, its default), plus its summary."""
    history: list[dict[str, Any]] = []
    running, last_logged, total = 0.0, 0, 0.0
    for global_step, s in enumerate(trace):  # global_step before this step's increment, as in the Trainer
        if math.isnan(s.loss) or math.isinf(s.loss):
            running += running / (1 + global_step - last_logged)
        else:
            running += s.loss
        step = global_step + 1
        if step % every == 0:
            history.append({"epoch": step / len(trace), "grad_norm": s.grad_norm, "learning_rate": s.lr,
                            "loss": running / (step - last_logged), "step": step})
            total += running
            running, last_logged = 0.0, step
    history.append({"epoch": 1.0, "step": len(trace), "total_flos": 0.0, "train_loss": total / len(trace),
                    "train_runtime": 1.0, "train_samples_per_second": 64.0, "train_steps_per_second": 1.0})
    return history


def write_logs(folder: Path, trace: list[Step], every: int) -> None:
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.tensorboard import SummaryWriter
    from transformers import TrainerState

    folder.mkdir(parents=True, exist_ok=True)
    rows = logged_rows(trace, every)
    writer = SummaryWriter(log_dir=str(folder / "tb"))
    for r in rows:
        writer.add_scalar("train/loss", r["loss"], r["step"])
        writer.add_scalar("train/grad_norm", r["grad_norm"], r["step"])
        writer.add_scalar("train/lr", r["lr"], r["step"])
    writer.close()
    pl = CSVLogger(str(folder), name="lightning", version=0)
    for r in rows:
        pl.log_metrics({"train_loss": r["loss"], "grad_norm": r["grad_norm"], "lr": r["lr"]}, step=r["step"])
    pl.save()
    pl.finalize("success")
    with open(folder / "log.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "grad_norm", "lr"])
        for r in rows:
            w.writerow([r["step"], r["loss"], r["grad_norm"], r["lr"]])
    with open(folder / "log.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    state = TrainerState(epoch=1.0, global_step=len(trace), max_steps=len(trace), logging_steps=every,
                         num_train_epochs=1, train_batch_size=64, log_history=trainer_log_history(trace, every))
    state.save_to_json(str(folder / "trainer_state.json"))


def label(case: LogCase, trace: list[Step]) -> dict[str, Any]:
    bad = _first_bad(trace)
    logged = None if bad is None else -(-bad // case.log_every) * case.log_every
    return {"verdict": case.verdict, "first_nonfinite_step": logged, "kind": case.kind, "log_every": case.log_every,
            "steps": len(trace)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder to write the cases and labels.json into")
    p.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    wanted = set(filter(None, args.cases.split(",")))
    labels: dict[str, Any] = {}
    failed = []
    for case in CASES:
        if wanted and case.name not in wanted:
            continue
        trace = case.train()
        try:
            case.check(trace)
        except AssertionError as e:
            failed.append(f"{case.name}: {e}")
        start, end = _ends(trace)
        write_logs(args.out / case.name, trace, case.log_every)
        labels[case.name] = label(case, trace)
        print(f"{case.name:30s} {case.verdict:8s} first_nonfinite={labels[case.name]['first_nonfinite_step']!s:5s} "
              f"loss {start:.4g} -> {end:.4g}  max norm {max(s.grad_norm for s in trace):.3g}", file=sys.stderr)
    (args.out / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    for f in failed:
        print(f"label check failed: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
