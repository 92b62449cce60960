"""Accuracy of `gradscope diagnose` on labelled runs of its own, against an independent plain torch loop.

    .venv/bin/python benchmarks/diagnose_accuracy.py [--quick] [--cases a,b]
                                                     [--split all|tune|held-out|blind|blind2]
                                                     [--keep DIR] [--json F] [-v] [--plain-only]

For every case in benchmarks/diagnose_cases.py (recurrent, feed-forward, linear, conv and transformer models,
Hugging Face Llama and GPT-2 among them, with their recipe: schedules and warm-up, fp16/bf16, accumulation):

1. The case's config and a copy of diagnose_cases.py go into a temp folder, and the real CLI runs it:
   `python -m gradscope diagnose gradscope.toml --json --no-plots --fail-on never --out DIR` (a subprocess,
   OMP_NUM_THREADS=1). Its JSON gives the verdict, the symptoms and summary.first_nonfinite_step; DIR/trace.csv
   the per-step loss, global gradient norm, lr and amp_skipped.
2. An independent plain loop, the one a user writes (torch.manual_seed(seed); model = factory(**kwargs); the
   dataset batched by a DataLoader whose generator is seeded with the run seed, as gradscope documents; then
   zero_grad, for each of `accumulate` micro-batches: loss under torch.autocast (bf16/fp16) / N, backward
   (through GradScaler("cpu").scale for fp16); scaler.unscale_; the norm; step (scaler.step + update: a step
   whose scale went down is a skipped step); scheduler.step(), the schedule built by transformers'
   get_*_schedule_with_warmup for the built-in names or the torch class by name) records each optimizer step's
   loss (the mean of its micro-batch losses), the global gradient norm (torch.nn.utils.get_total_norm: the norm
   of the per-parameter norms; never clip_grad_norm_(inf), which turns an overflowed norm into NaN), the lr it
   used, every parameter's gradient norm, and the first step whose loss or gradient holds NaN/Inf (under fp16,
   gradients the scaler skips are its business) or whose optimizer.step() made the weights non-finite, and the
   first step whose float32 global norm is inf while every element is finite. It runs beside step 1.
3. The label is re-checked against the plain loop by criteria of this file (LABEL_* below), not gradscope's.
4. Checks, as the issue states them: the verdict (explode/growth/broken -> critical, unstable -> warning, early
   -> at least warning with a warning+ symptom in the first 20 steps, vanish -> warning with a vanishing_gradient
   symptom (also on broken runs whose gradients vanish), stalled -> critical with an activation_overflow symptom
   (its label: the plain fp16 loop ends >= 0.9x its start, the same config in fp32 below), fine -> healthy with
   no symptom at all); summary.first_nonfinite_step within +-1 of the first non-finite value the plain loop sees
   (the float32 norm included), the nonfinite_* symptoms' first step within +-1 of the first non-finite element;
   a norm_overflow symptom at the plain loop's step when the float32 norm overflows first; on growth cases an
   exploding_gradient symptom at least MIN_LEAD steps before the first non-finite step; no exploding_gradient on
   vanishing runs; gradscope's amp_skipped count equal to the plain GradScaler's skips (before the first
   non-finite value); trace loss, grad norm and lr within 1e-4 relative of the plain loop's on every finite, not
   AMP-skipped step before the first non-finite one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import diagnose_cases as dc  # noqa: E402

MIN_LEAD = 30  # growth cases: exploding_gradient this many steps before the first non-finite step, at least
NONFINITE_TOLERANCE = 1  # gradscope's first non-finite step within +-1 of the plain loop's
MAX_REL_DIFF = 1e-4  # trace losses and gradient norms against the plain loop's
EVAL_ROWS = 256  # the plain loop's fixed evaluation batch: the dataset's first rows

# Label checks on the plain loop (this benchmark's own criteria, independent of gradscope's detectors). The
# weights' health is judged on a fixed evaluation batch (EVAL_ROWS rows, loss taken before each update), which
# minibatch noise does not move: a batch full of flipped labels makes a high minibatch loss, not a worse model.
LABEL_UNSTABLE_RISE = 2.0  # unstable: the eval loss at some step >= 2x the best it had reached before, or ...
LABEL_UNSTABLE_LATE_OVER_BEST = 2.0  # ... it ends >= 2x its best
LABEL_FINE_MAX_RISE = 1.5  # fine: the eval loss never rises above 1.5x its best so far, ...
LABEL_FINE_LATE_OVER_START = 0.9  # ... it ends below 0.9x its start (it trains) ...
LABEL_VANISH_DEPTH_RATIO = 1e-2  # ... and gradients do not vanish. vanish: first / last weight matrix <= 1e-2
LABEL_GROWTH_DOUBLING = (0.5, 2.5)  # growth: the norm doubles every 0.5-2.5 steps before the overflow ...
LABEL_GROWTH_OVERFLOW = (50, 200)  # ... and goes non-finite within these steps
# broken / early, on the training loss of the plain loop (the rules): start = the first step's loss, best =
# the lowest 3-step rolling median, late = the median of the last 10% of steps.
LABEL_BROKEN_GAVE_BACK = 0.8  # broken: late >= start, or late - best >= 0.8 * (start - best); no NaN/Inf
LABEL_EARLY_STEPS = 20  # early: within the first 20 steps, ...
LABEL_EARLY_RISE = 1.3  # ... the 3-step rolling median of the loss >= 1.3x the first loss, or ...
LABEL_EARLY_NORM_JUMP = 4.0  # ... the grad norm >= 4x its first value while the loss is above its first value;
#                              then it ends below its start and is not broken


# -- the independent plain loop ------------------------------------------------------------------------------

@dataclass
class PlainRun:
    losses: np.ndarray  # per optimizer step: the mean of its micro-batch losses
    norms: np.ndarray  # global norm of the accumulated, unscaled gradients per step (get_total_norm)
    param_norms: np.ndarray  # steps x parameters
    names: list[str]
    shapes: list[tuple[int, ...]]
    first_bad: int | None  # first step with a non-finite loss or gradient element, or whose step() broke the
    #                        weights (under fp16 a gradient the GradScaler skips is its business, not this)
    bad_kind: str | None  # loss / gradient / weight
    norm_overflow: int | None  # first step whose global norm was non-finite while every gradient element was finite
    seconds: float
    eval_losses: np.ndarray  # the loss on a fixed evaluation batch, with each step's weights (before its update)
    lrs: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the lr each step used (before scheduler.step())
    skipped: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # fp16: the GradScaler skipped the step

    @property
    def steps(self) -> int:
        return len(self.losses)

    @property
    def first_seen(self) -> int | None:
        """The first step at which a plain loop sees a non-finite value: an element or the float32 global norm."""
        steps = [s for s in (self.first_bad, self.norm_overflow) if s is not None]
        return min(steps) if steps else None


def _torch_class(module: Any, name: str) -> Any:
    obj = getattr(module, name, None)
    if obj is None:
        raise SystemExit(f"benchmark case uses {name!r}, which is not in {module.__name__}")
    return obj


def plain_schedule(table: dict[str, Any] | None, optimizer: torch.optim.Optimizer, steps: int) -> Any:
    """The [schedule] the way a user writes it: transformers' get_*_schedule_with_warmup over the run's steps for
    the built-in names, a torch.optim.lr_scheduler class by name, or a function of diagnose_cases.py."""
    if not table:
        return None
    name = table["name"]
    options = {k: v for k, v in table.items() if k not in ("name", "warmup_steps")}
    if name in ("constant", "linear", "cosine"):
        import transformers

        warmup = int(table.get("warmup_steps", 0))
        if name == "constant":
            return transformers.get_constant_schedule_with_warmup(optimizer, num_warmup_steps=warmup)
        make = (transformers.get_linear_schedule_with_warmup if name == "linear"
                else transformers.get_cosine_schedule_with_warmup)
        return make(optimizer, num_warmup_steps=warmup, num_training_steps=steps, **options)
    if ":" in name:
        return getattr(dc, name.rsplit(":", 1)[1])(optimizer, steps, **options)
    return _torch_class(torch.optim.lr_scheduler, name)(optimizer, **options)


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def plain_run(raw: dict[str, Any], steps: int | None = None) -> PlainRun:
    """Train the case with the loop a user writes, until `steps` or until the weights are non-finite: its recipe
    too (transformers' schedules, torch.autocast of forward and loss, a GradScaler("cpu") for fp16, each of
    `accumulate` micro-batch losses / N backpropagated, the norm taken after scaler.unscale_)."""
    model_t, data_t, opt_t, run_t = (raw[k] for k in ("model", "data", "optimizer", "run"))
    loss_t = raw.get("loss", {})
    steps = steps or int(run_t["steps"])
    seed = int(run_t.get("seed", 0))
    accumulate = int(run_t.get("accumulate", 1))
    dtype = AUTOCAST.get(run_t.get("precision", "fp32"))
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = getattr(dc, model_t["factory"].rsplit(":", 1)[1])(**model_t.get("kwargs", {}))
    dataset = getattr(dc, data_t["factory"].rsplit(":", 1)[1])(**data_t.get("kwargs", {}))
    loader = torch.utils.data.DataLoader(dataset, batch_size=data_t.get("batch_size", 32),
                                         shuffle=data_t.get("shuffle", True),
                                         generator=torch.Generator().manual_seed(seed))
    criterion = None
    if "name" in loss_t:
        criterion = _torch_class(torch.nn, loss_t["name"])(**{k: v for k, v in loss_t.items() if k != "name"})
    optimizer = _torch_class(torch.optim, opt_t["name"])(
        model.parameters(), **{k: v for k, v in opt_t.items() if k != "name"})
    scheduler = plain_schedule(raw.get("schedule"), optimizer, steps)
    scaler = torch.amp.GradScaler("cpu") if run_t.get("precision") == "fp16" else None
    # A fixed evaluation batch (the first EVAL_ROWS rows): its loss, taken without grad and in eval mode before
    # each update, says whether the weights themselves got worse, whatever the noise of the minibatch losses.
    # It consumes no random numbers (dropout is off in eval mode; the rows are collated directly, since a
    # DataLoader iterator without a generator draws its base seed from the global RNG), so the training run is
    # the same as without it.
    eval_batch = torch.utils.data.default_collate([dataset[i] for i in range(min(EVAL_ROWS, len(dataset)))])
    named = list(model.named_parameters())
    names = [n for n, _ in named]
    params = [p for _, p in named]

    def batches():
        while True:
            yield from loader

    def compute_loss(batch: Any) -> torch.Tensor:
        with torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext():
            if isinstance(batch, dict):
                out = model(**batch)
                return out["loss"] if isinstance(out, dict) else out.loss
            x, y = batch
            return criterion(model(x), y)

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        try:
            return float(compute_loss(eval_batch))
        finally:
            model.train()

    losses, norms, per_param, evals, lrs, skips = [], [], [], [], [], []
    first_bad = bad_kind = overflow = None
    stream = batches()
    model.train()
    for step in range(steps):
        evals.append(evaluate())
        optimizer.zero_grad(set_to_none=True)
        micro = []
        for _ in range(accumulate):
            loss = compute_loss(next(stream))
            micro.append(float(loss.detach()))
            scaled = loss / accumulate if accumulate > 1 else loss
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if scaler is not None:
            scaler.unscale_(optimizer)
        with torch.no_grad():
            grads = [p.grad for p in params if p.grad is not None]
            total = float(torch.nn.utils.get_total_norm(grads))
            per_param.append([float(torch.linalg.vector_norm(p.grad)) if p.grad is not None else 0.0
                              for p in params])
            grads_finite = all(bool(torch.isfinite(g).all()) for g in grads)
        value = float(np.mean(micro))
        losses.append(value)
        norms.append(total)
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        if overflow is None and grads_finite and not math.isfinite(total):
            overflow = step
        if first_bad is None and not (math.isfinite(value) and (grads_finite or scaler is not None)):
            first_bad, bad_kind = step, ("loss" if not math.isfinite(value) else "gradient")
        if scaler is not None:
            before = scaler.get_scale()
            scaler.step(optimizer)
            scaler.update()
            skips.append(scaler.get_scale() < before)
        else:
            optimizer.step()
            skips.append(False)
        if scheduler is not None:
            with warnings.catch_warnings():  # a skipped first fp16 step makes torch warn about the order
                warnings.simplefilter("ignore")
                scheduler.step()
        with torch.no_grad():
            weights_finite = all(bool(torch.isfinite(p).all()) for p in params)
        if not weights_finite:
            if first_bad is None:
                first_bad, bad_kind = step, "weight"
            break
    return PlainRun(np.array(losses), np.array(norms), np.array(per_param), names,
                    [tuple(p.shape) for p in params], first_bad, bad_kind, overflow,
                    time.perf_counter() - start, np.array(evals), np.array(lrs), np.array(skips, bool))


# -- what the plain loop says about the run (for the label check) --------------------------------------------

def loss_jump(losses: np.ndarray, skip: int = 5, window: int = 20) -> tuple[float, int]:
    """The largest minibatch loss over the median of the previous `window` (from step `skip`), and its step."""
    best, at = 0.0, -1
    for t in range(max(skip, 3), len(losses)):
        prev = losses[max(0, t - window):t]
        prev = prev[np.isfinite(prev)]
        if not len(prev) or not math.isfinite(losses[t]):
            continue
        ratio = losses[t] / max(float(np.median(prev)), 1e-30)
        if ratio > best:
            best, at = ratio, t
    return best, at


def finite_prefix(values: np.ndarray) -> np.ndarray:
    return values if np.isfinite(values).all() else values[: int(np.argmin(np.isfinite(values)))]


def eval_levels(run: PlainRun) -> dict[str, float]:
    """The eval loss: start, late (median of the last 10%), best, and the largest rise over the best so far."""
    e = finite_prefix(run.eval_losses)
    if len(e) < 5:
        return {"start": math.nan, "late": math.nan, "best": math.nan, "rise": math.nan, "rise_at": -1}
    k = max(3, len(e) // 10)
    best_before = np.minimum.accumulate(e)[:-1]
    rises = e[1:] / np.maximum(best_before, 1e-30)
    return {"start": float(e[0]), "late": float(np.median(e[-k:])), "best": float(e.min()),
            "rise": float(rises.max()), "rise_at": int(np.argmax(rises)) + 1}


def depth_ratio(run: PlainRun) -> float:
    """Median over the finite steps of |grad| of the first weight matrix over that of the last one."""
    mats = [j for j, s in enumerate(run.shapes) if len(s) >= 2 and "embed" not in run.names[j]]
    if len(mats) < 3:
        return math.nan
    first, last = run.param_norms[:, mats[0]], run.param_norms[:, mats[-1]]
    ok = np.isfinite(first) & np.isfinite(last) & (last > 0)
    if run.first_bad is not None:
        ok[run.first_bad:] = False
    return float(np.median(first[ok] / last[ok])) if ok.any() else math.nan


def depth_profile(run: PlainRun) -> list[tuple[str, float]]:
    """(name, median |grad|) of each weight matrix in registration order (input side first), finite steps."""
    end = run.first_bad if run.first_bad is not None else run.steps
    return [(run.names[j], float(np.median(run.param_norms[:end, j]))) for j, s in enumerate(run.shapes)
            if len(s) >= 2 and "embed" not in run.names[j] and end > 0]


def gradscope_depth_profile(run_dir: Path, suffix: str = "weight") -> list[tuple[str, float]]:
    """Median |grad| per parameter named *`suffix` (weights: what gradscope's vanishing detector compares;
    biases: the backpropagated signal itself, |dL/db_l| = |delta_l| summed over the batch) from gradscope's
    grad_norms.csv, input side first. LayerNorm parameters and embeddings are left out."""
    import pandas as pd

    path = run_dir / "grad_norms.csv"
    if not path.is_file():
        return []
    frame = pd.read_csv(path, index_col="step")
    return [(c, float(frame[c].median())) for c in frame.columns
            if c.endswith(suffix) and "norm" not in c and "embed" not in c]


def doubling_steps(run: PlainRun) -> float:
    """Steps per doubling of the global gradient norm over the 40 finite steps before the first non-finite."""
    end = run.first_bad if run.first_bad is not None else run.steps
    lo = max(0, end - 40)
    seg = run.norms[lo:end]
    seg = seg[np.isfinite(seg) & (seg > 0)]
    if len(seg) < 8:
        return math.nan
    slope = np.polyfit(np.arange(len(seg)), np.log2(seg), 1)[0]
    return float(1.0 / slope) if slope > 0 else math.inf


def rolling_median3(values: np.ndarray) -> np.ndarray:
    """The trailing median of 3 at each step from the third on."""
    if len(values) < 3:
        return values.copy()
    return np.median(np.lib.stride_tricks.sliding_window_view(values, 3), axis=1)


def loss_course(run: PlainRun) -> dict[str, Any]:
    """start, best, late of the training loss (the issue's rules); whether the run is broken; the early-phase
    numbers (the rolling median's rise over the first loss, the grad norm's jump while the loss is worse)."""
    loss = run.losses
    if not len(loss) or not np.isfinite(loss).all():
        return {"start": math.nan, "best": math.nan, "late": math.nan, "gave_back": math.nan, "broken": False,
                "early_rise": math.nan, "early_rise_at": -1, "norm_jump": math.nan, "early": False}
    med = rolling_median3(loss)
    start, best = float(loss[0]), float(med.min())
    late = float(np.median(loss[-max(1, len(loss) // 10):]))
    gave_back = (late - best) / (start - best) if start > best else math.inf
    broken = late >= start or late - best >= LABEL_BROKEN_GAVE_BACK * (start - best)
    head = med[: LABEL_EARLY_STEPS - 2]  # rolling medians ending at steps 2..19
    rise = float(head.max() / start) if len(head) else math.nan
    norms = run.norms[:LABEL_EARLY_STEPS]
    ok = np.isfinite(norms) & (loss[: len(norms)] > start)
    first_norm = next((float(n) for n in run.norms if math.isfinite(n) and n > 0), math.nan)
    jump = float(norms[ok].max() / first_norm) if ok.any() else 0.0
    early = (rise >= LABEL_EARLY_RISE or jump >= LABEL_EARLY_NORM_JUMP) and late < start and not broken
    return {"start": start, "best": best, "late": late, "gave_back": gave_back, "broken": bool(broken),
            "early_rise": rise, "early_rise_at": int(np.argmax(head)) + 2 if len(head) else -1,
            "norm_jump": jump, "early": bool(early)}


def eval_early_rise(run: PlainRun) -> float:
    """The early rise on the fixed-batch eval loss: its 3-step rolling median over the first 20 steps against its
    first value. A healthy run is held to this one (a first minibatch loss far below the typical one makes the
    training loss "rise" by noise alone, see mlp_tanh_momentum_bs16)."""
    e = run.eval_losses[:LABEL_EARLY_STEPS]
    if len(e) < 3 or not np.isfinite(e).all():
        return math.nan
    return float(rolling_median3(e).max() / e[0])


def label_check(expected: str, run: PlainRun, family: str = "", also: tuple[str, ...] = (),
                twin: PlainRun | None = None) -> tuple[bool, str]:
    """Does the plain loop behave as the label says (and as the labels in `also`)? (ok, the numbers that say
    so). The first/last weight-matrix ratio is a depth signal of plain stacks (MLPs, RNNs); in a transformer the
    head's gradient dominates by design, so a healthy transformer or conv net is not held to it."""
    ev = eval_levels(run)
    jump, jump_at = loss_jump(run.losses)
    dr = depth_ratio(run)
    nf = run.first_bad
    lc = loss_course(run)
    facts = ((f"nf={nf}" if nf is not None else "finite")
             + f" eval: rise={ev['rise']:.3g}@{ev['rise_at']} late/start={ev['late'] / ev['start']:.3g}"
             f" late/best={ev['late'] / ev['best']:.3g}; batch jump={jump:.3g}@{jump_at}; depth={dr:.2g}"
             f"; loss start={lc['start']:.3g} best={lc['best']:.3g} late={lc['late']:.3g}"
             f" gave back={lc['gave_back']:.2f}; early rise={lc['early_rise']:.3g}@{lc['early_rise_at']}"
             f" norm jump={lc['norm_jump']:.3g} eval early rise={eval_early_rise(run):.3g}")
    if run.skipped.any():
        facts += f"; amp skipped={int(run.skipped.sum())}"
    finite = nf is None and run.norm_overflow is None
    if expected == "explode":
        ok = nf is not None
    elif expected == "growth":
        d = doubling_steps(run)
        facts += f"; doubling={d:.2f} steps"
        ok = (nf is not None and LABEL_GROWTH_OVERFLOW[0] <= nf <= LABEL_GROWTH_OVERFLOW[1]
              and LABEL_GROWTH_DOUBLING[0] <= d <= LABEL_GROWTH_DOUBLING[1])
    elif expected == "broken":
        ok = finite and lc["broken"]
    elif expected == "early":
        ok = finite and lc["early"]
    elif expected == "unstable":
        ok = finite and not lc["broken"] and (ev["rise"] >= LABEL_UNSTABLE_RISE
                                              or ev["late"] >= LABEL_UNSTABLE_LATE_OVER_BEST * ev["best"])
    elif expected == "vanish":
        ok = finite and not lc["broken"] and dr <= LABEL_VANISH_DEPTH_RATIO
    elif expected == "stalled":  # it does not train; the same config in fp32 (`twin`) does
        tc = loss_course(twin) if twin is not None else None
        facts += f"; fp32 twin late/start={tc['late'] / tc['start']:.3g}" if tc else ""
        ok = (finite and lc["late"] >= LABEL_FINE_LATE_OVER_START * lc["start"] and tc is not None
              and tc["late"] < LABEL_FINE_LATE_OVER_START * tc["start"])
    else:  # fine: trains, no spike, no early instability, not broken, gradients do not vanish
        ok = (finite and ev["rise"] < LABEL_FINE_MAX_RISE and ev["late"] < LABEL_FINE_LATE_OVER_START * ev["start"]
              and lc["late"] < LABEL_FINE_LATE_OVER_START * lc["start"] and not lc["broken"]
              and not (eval_early_rise(run) >= LABEL_EARLY_RISE or lc["norm_jump"] >= LABEL_EARLY_NORM_JUMP)
              and (family in ("transformer", "conv") or "ratio" in also or not (dr <= LABEL_VANISH_DEPTH_RATIO)))
    if "vanish" in also or "ratio" in also:
        ok = ok and dr <= LABEL_VANISH_DEPTH_RATIO
    return ok, facts


# -- gradscope through its CLI -------------------------------------------------------------------------------

def start_cli(config: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "gradscope", "diagnose", str(config), "--json", "--no-plots",
           "--fail-on", "never", "--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=config.parent)


def read_trace(out: Path) -> dict[str, np.ndarray]:
    """step, loss, grad_norm, lr and amp_skipped from gradscope's trace.csv."""
    import pandas as pd

    trace = pd.read_csv(out / "trace.csv")
    cols = {"step": trace["step"].to_numpy(int), "loss": trace["loss"].to_numpy(float),
            "grad_norm": trace["grad_norm"].to_numpy(float)}
    cols["lr"] = trace["lr"].to_numpy(float) if "lr" in trace else np.full(len(trace), np.nan)
    cols["amp_skipped"] = (trace["amp_skipped"].to_numpy(int) if "amp_skipped" in trace
                           else np.zeros(len(trace), int))
    return cols


# -- one case ------------------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    family: str
    expected: str
    label_ok: bool
    label_facts: str
    plain_nf: int | None
    plain_kind: str | None
    plain_steps: int
    plain_depth_profile: list[tuple[str, float]] = field(default_factory=list)
    plain_seen: int | None = None  # first non-finite value a plain loop sees, the float32 global norm included
    plain_overflow: int | None = None  # first step whose float32 global norm is inf with every element finite
    plain_amp_skipped: int = 0  # GradScaler skips (scale decreases) before plain_seen
    held_out: bool = False
    also: tuple[str, ...] = ()
    verdict: str | None = None
    kinds: list[str] = field(default_factory=list)
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    gs_nf_summary: int | None = None
    gs_nf_symptoms: int | None = None
    gs_amp_skipped: int | None = None
    lead: int | None = None
    rel_loss: float = math.nan
    rel_norm: float = math.nan
    rel_lr: float = math.nan
    compared_steps: int = 0
    steps_completed: int = 0
    gs_depth_profile: list[tuple[str, float]] = field(default_factory=list)
    gs_bias_profile: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def verdict_ok(self) -> bool:
        if self.expected == "early":  # the issue: an unstable early phase is at least a warning
            return self.verdict in ("warning", "critical")
        return self.verdict == dc.VERDICT_OF[self.expected]

    @property
    def rel(self) -> float:
        return max(self.rel_loss, self.rel_norm, self.rel_lr)


def rel_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    if not len(ours):
        return 0.0
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.maximum(np.abs(ours), np.abs(theirs)), 1e-30)))


def _step_ok(got: int | None, want: int | None) -> bool:
    return (got is None) == (want is None) and (got is None or abs(got - want) <= NONFINITE_TOLERANCE)


def check_symptoms(r: Result, case: dc.Case, plain: PlainRun, doc: dict[str, Any]) -> None:
    """The issue's checks on gradscope's JSON: verdict, symptoms, non-finite steps, growth lead."""
    if not r.verdict_ok:
        r.failures.append("verdict")
    if case.expected == "fine" and [s for s in r.symptoms if "ratio" not in case.also or s["severity"] != "info"]:
        r.failures.append("symptom on healthy")  # a real depth ratio in a run that trains well may be information
    if case.expected == "early" and not any(s["severity"] in ("warning", "critical") and s["step"] is not None
                                            and s["step"] < LABEL_EARLY_STEPS for s in r.symptoms):
        r.failures.append("no early symptom")
    if "vanish" in (case.expected, *case.also):
        if "vanishing_gradient" not in r.kinds:
            r.failures.append("no vanishing_gradient")
        if "exploding_gradient" in r.kinds:
            r.failures.append("vanishing called exploding")
    if case.expected == "stalled" and "activation_overflow" not in r.kinds:
        r.failures.append("no activation_overflow")
    if not (_step_ok(r.gs_nf_summary, plain.first_seen) and _step_ok(r.gs_nf_symptoms, plain.first_bad)):
        r.failures.append("nonfinite step")
    if plain.norm_overflow is not None and (plain.first_bad is None or plain.norm_overflow < plain.first_bad):
        steps = [s["step"] for s in r.symptoms if s["kind"] == "norm_overflow"]
        if not steps or abs(min(steps) - plain.norm_overflow) > NONFINITE_TOLERANCE:
            r.failures.append("norm_overflow")
    if case.expected == "growth":
        exploding = [s for s in doc["symptoms"] if s["kind"] == "exploding_gradient"]
        if exploding and plain.first_bad is not None:
            r.lead = plain.first_bad - int(exploding[0]["step"])
        if r.lead is None or r.lead < MIN_LEAD:
            r.failures.append("lead")


def check_trace(r: Result, plain: PlainRun, trace: dict[str, np.ndarray]) -> None:
    """gradscope's trace against the plain loop, per optimizer step before the first non-finite one: loss,
    grad norm and lr to MAX_REL_DIFF relative on finite steps the GradScaler did not skip; the AMP skips counted
    as the plain loop's GradScaler counts them (its scale went down)."""
    steps = trace["step"]
    n = min(len(steps), plain.steps)
    end = plain.first_seen if plain.first_seen is not None else n
    r.gs_amp_skipped = int(trace["amp_skipped"][:min(n, end)].sum())
    if r.gs_amp_skipped != r.plain_amp_skipped:
        r.failures.append("amp skips")
    if plain.first_bad is not None:
        n = min(n, plain.first_bad)
    assert (steps[:n] == np.arange(n)).all()
    kept = ~plain.skipped[:n]
    for key, ours, theirs in (("loss", trace["loss"], plain.losses), ("grad_norm", trace["grad_norm"], plain.norms),
                              ("lr", trace["lr"], plain.lrs)):
        both = np.isfinite(ours[:n]) & np.isfinite(theirs[:n]) & kept
        value = rel_diff(ours[:n][both], theirs[:n][both])
        if key == "lr" and np.isnan(trace["lr"][:n]).any():
            value = math.inf  # no lr recorded: the check cannot hold
        setattr(r, {"loss": "rel_loss", "grad_norm": "rel_norm", "lr": "rel_lr"}[key], value)
    r.compared_steps = n
    if not r.rel <= MAX_REL_DIFF:
        r.failures.append("trace")


def run_case(case: dc.Case, work: Path, cases_copy: Path, plain_only: bool = False, held_out: bool = False) -> Result:
    folder = work / case.name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(cases_copy, folder / "diagnose_cases.py")
    text = case.config_text("diagnose_cases.py")  # relative to the config's folder
    config = folder / "gradscope.toml"
    config.write_text(text)
    raw = tomllib.loads(text)
    t0 = time.perf_counter()
    proc = None if plain_only else start_cli(config, folder / "run")
    plain = plain_run(raw)
    twin = plain_run({**raw, "run": {**raw["run"], "precision": "fp32"}}) if case.expected == "stalled" else None
    ok, facts = label_check(case.expected, plain, case.family, case.also, twin)
    end = plain.first_seen if plain.first_seen is not None else plain.steps
    r = Result(case.name, case.family, case.expected, ok, facts, plain.first_bad, plain.bad_kind, plain.steps,
               depth_profile(plain), plain.first_seen, plain.norm_overflow, int(plain.skipped[:end].sum()),
               held_out or case.name in dc.HELD_OUT, case.also)
    if not ok:
        r.failures.append("label")
    if proc is None:
        r.seconds = time.perf_counter() - t0
        return r
    stdout, stderr = proc.communicate()
    r.seconds = time.perf_counter() - t0
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError:
        r.error = f"exit {proc.returncode}, stdout not JSON: {stdout[:200]!r} stderr: {stderr[-400:]!r}"
        r.failures.append("cli")
        return r
    r.verdict = doc["verdict"]
    r.symptoms = doc["symptoms"]
    r.kinds = [s["kind"] for s in doc["symptoms"]]
    r.steps_completed = int(doc["steps_completed"])
    r.gs_nf_summary = doc["summary"].get("first_nonfinite_step")
    nf_steps = [s["step"] for s in doc["symptoms"] if s["kind"].startswith("nonfinite")]
    r.gs_nf_symptoms = min(nf_steps) if nf_steps else None
    check_symptoms(r, case, plain, doc)
    if "vanish" in (case.expected, *case.also):
        r.gs_depth_profile = gradscope_depth_profile(folder / "run")
        r.gs_bias_profile = gradscope_depth_profile(folder / "run", "bias")
    check_trace(r, plain, read_trace(folder / "run"))
    return r


# -- printing ------------------------------------------------------------------------------------------------

SHORT = {"nonfinite_loss": "nf_loss", "nonfinite_gradient": "nf_grad", "nonfinite_weight": "nf_weight",
         "exploding_gradient": "exploding", "gradient_spike": "grad_spike", "loss_spike": "loss_spike",
         "loss_divergence": "divergence", "loss_plateau": "plateau", "weight_growth": "weight_growth",
         "vanishing_gradient": "vanishing", "norm_overflow": "norm_overflow",
         "activation_overflow": "act_overflow"}


def _s(x: Any) -> str:
    return "-" if x is None else str(x)


def print_table(results: list[Result]) -> None:
    header = ["case", "split", "family", "expected", "label", "verdict", "symptom kinds", "nf plain/gs", "lead",
              "amp skips plain/gs", "rel diff", "secs", "result"]
    rows = []
    for r in results:
        kinds = ",".join(f"{SHORT.get(s['kind'], s['kind'])}:{s['severity'][0]}" for s in r.symptoms) or "-"
        gs = _s(r.gs_nf_summary) + ("" if r.gs_nf_symptoms == r.gs_nf_summary else f"|{_s(r.gs_nf_symptoms)}")
        seen = _s(r.plain_seen) + ("" if r.plain_overflow is None or r.plain_overflow != r.plain_seen
                                   else "(norm)")
        rows.append([r.name, "held-out" if r.held_out else "tune", r.family,
                     f"{r.expected}->{dc.VERDICT_OF[r.expected]}" + ("+" + "+".join(r.also) if r.also else ""),
                     "ok" if r.label_ok else "WRONG", _s(r.verdict), kinds,
                     f"{seen}/{gs}", _s(r.lead), f"{r.plain_amp_skipped}/{_s(r.gs_amp_skipped)}",
                     "-" if math.isnan(r.rel) else f"{r.rel:.1e}", f"{r.seconds:.1f}",
                     "ok" if not r.failures else "FAIL: " + "; ".join(r.failures)])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths))  # noqa: E731
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def print_details(results: list[Result], verbose: bool, cases: list[dc.Case]) -> None:
    described = {c.name: c.description for c in cases}
    for r in results:
        print(f"\n-- {r.name} ({r.family}, {r.expected}): {described[r.name]}")
        print(f"   plain loop: {r.label_facts}" + (f" ({r.plain_kind} first)" if r.plain_kind else "")
              + f"; {r.plain_steps} steps run")
        if r.error:
            print(f"   CLI error: {r.error}")
            continue
        if r.verdict is None:
            continue
        print(f"   gradscope: {r.verdict}, {r.steps_completed} steps; trace vs plain over {r.compared_steps} "
              f"steps: loss {r.rel_loss:.1e}, grad norm {r.rel_norm:.1e}, lr {r.rel_lr:.1e}; AMP skips plain "
              f"{r.plain_amp_skipped}, gradscope {_s(r.gs_amp_skipped)}")
        if not (verbose or r.failures):
            continue
        if "vanish" in (r.expected, *r.also):
            prof = lambda p: " ".join(f"{v:.1e}" for _, v in p)  # noqa: E731
            print(f"   median |grad| per weight matrix, input side first: plain {prof(r.plain_depth_profile)}")
            print(f"     gradscope grad_norms.csv: {prof(r.gs_depth_profile)}")
            print(f"     biases (gradscope grad_norms.csv): {prof(r.gs_bias_profile)}")
        for s in r.symptoms:
            ev = json.dumps(s.get("evidence", {}), default=str)
            if len(ev) > 900 and not verbose:
                ev = ev[:900] + "..."
            print(f"   {s['kind']} [{s['severity']}] step {s['step']} param {s.get('parameter')}: {s['message']}")
            print(f"      evidence: {ev}")


def _accuracy(results: list[Result]) -> str:
    right = [r for r in results if r.verdict_ok]
    return f"{len(right)}/{len(results)}"


def print_summary(results: list[Result]) -> None:
    ran = [r for r in results if r.verdict is not None]
    print("\n== summary")
    tune, held = [r for r in ran if not r.held_out], [r for r in ran if r.held_out]
    print(f"   verdict accuracy: {_accuracy(ran)} (tuning split {_accuracy(tune)}, held-out split {_accuracy(held)})"
          + "".join(f"\n     wrong: {r.name} ({r.expected}{', held-out' if r.held_out else ''}) -> {r.verdict}"
                    for r in ran if not r.verdict_ok))
    by: dict[str, list[bool]] = {}
    for r in ran:
        by.setdefault(r.expected, []).append(r.verdict_ok)
    print("   by label: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in by.items()))
    fam: dict[str, list[bool]] = {}
    for r in ran:
        fam.setdefault(r.family, []).append(r.verdict_ok)
    print("   by family: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in fam.items()))
    healthy = [r for r in ran if r.expected == "fine"]
    noisy = [r for r in healthy if r.symptoms]
    print(f"   healthy cases with any symptom (false alarms): {len(noisy)}/{len(healthy)}"
          + (" (" + "; ".join(r.name + ": " + ",".join(r.kinds) for r in noisy) + ")" if noisy else ""))
    early = [r for r in ran if r.expected == "early"]
    missed = [r.name for r in early if "no early symptom" in r.failures]
    print(f"   early instability with a warning+ symptom in the first {LABEL_EARLY_STEPS} steps: "
          f"{len(early) - len(missed)}/{len(early)}" + (f" (missed: {', '.join(missed)})" if missed else ""))
    vanish = [r for r in ran if "vanish" in (r.expected, *r.also)]
    called = [r.name for r in vanish if "exploding_gradient" in r.kinds]
    missed = [r.name for r in vanish if "vanishing_gradient" not in r.kinds]
    print(f"   vanishing called exploding: {len(called)}/{len(vanish)}" + (f" ({', '.join(called)})" if called else "")
          + f"; vanishing_gradient missing: {len(missed)}/{len(vanish)}"
          + (f" ({', '.join(missed)})" if missed else ""))
    mism = [r for r in ran if "nonfinite step" in r.failures]
    with_nf = [r for r in ran if r.plain_seen is not None]
    print(f"   non-finite step mismatches (> +-{NONFINITE_TOLERANCE}): {len(mism)}/{len(ran)} "
          f"({len(with_nf)} runs go non-finite in the plain loop)"
          + "".join(f"\n     {r.name}: plain {r.plain_seen} (elements {_s(r.plain_nf)}, {r.plain_kind}; float32 "
                    f"norm {_s(r.plain_overflow)}), gradscope summary {r.gs_nf_summary}, symptoms {r.gs_nf_symptoms}"
                    for r in mism))
    over = [r for r in ran if r.plain_overflow is not None and (r.plain_nf is None or r.plain_overflow < r.plain_nf)]
    miss = [r.name for r in over if "norm_overflow" in r.failures]
    print(f"   float32 norm overflow before any non-finite element: {len(over)} runs; norm_overflow symptom "
          f"at the plain loop's step (+-{NONFINITE_TOLERANCE}) on {len(over) - len(miss)}/{len(over)}"
          + (f" (missing or off: {', '.join(miss)})" if miss else ""))
    growth = [r for r in ran if r.expected == "growth"]
    leads = [r.lead for r in growth if r.lead is not None]
    print(f"   exponential growth lead (>= {MIN_LEAD}): "
          + (f"min {min(leads)}, " if leads else "")
          + ", ".join(f"{r.name} {_s(r.lead)}" for r in growth))
    amp = [r for r in ran if r.plain_amp_skipped or r.gs_amp_skipped]
    bad_amp = [r for r in ran if "amp skips" in r.failures]
    print(f"   AMP skipped steps, gradscope against the plain loop's GradScaler: {len(amp) - len(bad_amp)}/{len(amp)} "
          "runs with skips equal (" + ", ".join(f"{r.name} {r.plain_amp_skipped}/{_s(r.gs_amp_skipped)}" for r in amp)
          + ")" + (f"; mismatched: {', '.join(r.name for r in bad_amp)}" if bad_amp else ""))
    worst = {k: max((getattr(r, k) for r in ran if not math.isnan(getattr(r, k))), default=0.0)
             for k in ("rel_loss", "rel_norm", "rel_lr")}
    bad = [r.name for r in ran if not r.rel <= MAX_REL_DIFF]
    print(f"   trace vs plain loop (per step, finite and not AMP-skipped): max rel diff loss {worst['rel_loss']:.1e}, "
          f"grad norm {worst['rel_norm']:.1e}, lr {worst['rel_lr']:.1e} (> {MAX_REL_DIFF:g} on "
          f"{len(bad)}{': ' + ', '.join(bad) if bad else ''})")
    labels = [r.name for r in results if not r.label_ok]
    print(f"   label checks failed (plain loop disagrees with the label): {len(labels)}"
          + (f" ({', '.join(labels)})" if labels else ""))
    errors = [r.name for r in results if r.error]
    if errors:
        print(f"   CLI errors: {', '.join(errors)}")
    passed = [r for r in results if not r.failures]
    print(f"   cases passing every check: {len(passed)}/{len(results)} (held-out {sum(not r.failures for r in held)}/"
          f"{len([r for r in results if r.held_out])})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset: one case of each label and family")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--split", choices=["all", "tune", "held-out", "blind", "blind2"], default="all",
                        help="only the cases detector authors tune on, or only the held-out ones (HELD_OUT), or only "
                             "the blind split of diagnose_cases_blind.py (blind2: diagnose_cases_blind2.py; never "
                             "part of `all`; score it once)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folders here (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--plain-only", action="store_true",
                        help="run the plain loops and label checks only (no gradscope): for choosing cases")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case's symptoms and evidence")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    pool = dc.CASES
    if args.split == "blind":  # imported only here: its cases stay out of every other run
        import diagnose_cases_blind

        pool = diagnose_cases_blind.CASES
    elif args.split == "blind2":
        import diagnose_cases_blind2

        pool = diagnose_cases_blind2.CASES
    known = [c.name for c in pool]
    blind = args.split in ("blind", "blind2")
    names = [n for n in args.cases.split(",") if n] or (dc.QUICK if args.quick and not blind else known)
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(known)}")
    cases = [c for c in pool if c.name in names
             and (args.split == "all" or blind or (c.name in dc.HELD_OUT) == (args.split == "held-out"))]

    results = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gradscope-accuracy-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for case in cases:
            result = run_case(case, work, Path(dc.__file__).resolve(), args.plain_only, blind)
            results.append(result)
            print(f"{case.name}: {result.verdict or '-'} ({result.seconds:.1f}s) "
                  f"{'ok' if not result.failures else 'FAIL ' + ','.join(result.failures)}",
                  file=sys.stderr, flush=True)
    print(f"gradscope diagnose accuracy: {len(results)} cases, torch {torch.__version__}, 1 thread\n")
    print_table(results)
    print_details(results, args.verbose, cases)
    if not args.plain_only:
        print_summary(results)
    print(f"   total {time.perf_counter() - start:.0f}s")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
