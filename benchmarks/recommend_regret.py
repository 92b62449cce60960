"""Regret of `gradscope recommend` against a full threshold grid, on unstable cases of its own.

    .venv/bin/python benchmarks/recommend_regret.py [--quick] [--threads 1] [--cases a,b] [--budget B]
                                                    [--reseed K] [--json F] [-v]

For every case in benchmarks/regret_cases.py (recurrent, feed-forward and transformer models whose unclipped
run is unstable):

1. An independent plain torch loop (not gradscope's: torch.manual_seed(seed); model = factory(**kwargs); the
   dataset batched by a DataLoader seeded with the run seed, as gradscope does; zero_grad, loss, backward,
   clip_grad_norm_, step) trains the case unclipped and at 13 log-spaced norm thresholds, 1e-3 .. 1e3 in
   half-decade steps. score = late_loss of the loss series (median of the last 10%; +inf if any loss is
   non-finite). oracle = the best score over the 13 thresholds.
2. regret(c) = (score(c) - oracle) / (min(score(unclipped), initial loss) - oracle), capped to [0, 1]
   (0 when that denominator is <= 0). The initial loss is the unclipped run's loss at step 0.
3. Methods: gradscope's recommendation (`gradscope.trials.recommend.recommend`, default budget; where it says
   clipping is not the fix and names a `--try` change of the optimizer or schedule, the plain loop makes that
   change, unclipped, and that run is scored against the same clip-grid oracle), a fixed 1.0,
   AutoClip's 10th percentile from the probe's statistics, and the 10th percentile of the plain unclipped
   run's gradient norms over its first quarter (finite ones). Each threshold is scored by the plain loop.
4. Sanity: gradscope's own losses equal the plain loop's for the same threshold (relative difference of the
   late loss of recommend's winning trial, and of an unclipped `gradscope.drivers.loop.train` run).
5. Cost: recommend's wall time and optimizer steps against one plain run and one `train` run of the config.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import regret_cases

from gradscope.clip.setting import Clip
from gradscope.config.load import load_config
from gradscope.drivers.loop import train
from gradscope.trials.recommend import late_loss, recommend

GRID = [10 ** (k / 2) for k in range(-6, 7)]  # 1e-3 .. 1e3, half-decade steps: 13 thresholds
PLAIN_P10_FRACTION = 0.25  # the independent AutoClip p10 uses the first quarter of the unclipped plain run
METHODS = ("gradscope", "fixed-1.0", "autoclip-p10", "p10-plain")
PLAIN_TRY_TABLES = ("optimizer", "schedule")  # the `--try` changes the plain loop applies (see with_try)


# -- the independent plain loop ------------------------------------------------------------------------------

@dataclass
class PlainRun:
    threshold: float | None
    losses: np.ndarray
    grad_norms: np.ndarray
    seconds: float
    steps_requested: int
    first_nonfinite: int | None = None

    @property
    def score(self) -> float:
        if self.first_nonfinite is not None or len(self.losses) < self.steps_requested:
            return math.inf
        return late_loss(self.losses)


def _torch_class(module: Any, name: str) -> Any:
    obj = getattr(module, name, None)
    if obj is None:
        raise SystemExit(f"benchmark case uses {name!r}, which is not in {module.__name__}")
    return obj


def plain_setup(raw: dict[str, Any], cases_module: Any = regret_cases) -> tuple[Any, Any, Any, Any, int, int]:
    """The case's model, DataLoader, loss and optimizer, built as a user's script does (seeded first)."""
    model_t, data_t, loss_t, opt_t, run_t = (raw[k] for k in ("model", "data", "loss", "optimizer", "run"))
    steps, seed = int(run_t["steps"]), int(run_t.get("seed", 0))
    torch.manual_seed(seed)
    model = getattr(cases_module, model_t["factory"].rsplit(":", 1)[1])(**model_t.get("kwargs", {}))
    dataset = getattr(cases_module, data_t["factory"].rsplit(":", 1)[1])(**data_t.get("kwargs", {}))
    loader = torch.utils.data.DataLoader(dataset, batch_size=data_t.get("batch_size", 32),
                                         shuffle=data_t.get("shuffle", True),
                                         generator=torch.Generator().manual_seed(seed))
    criterion = _torch_class(torch.nn, loss_t["name"])(**{k: v for k, v in loss_t.items() if k != "name"})
    optimizer = _torch_class(torch.optim, opt_t["name"])(
        model.parameters(), **{k: v for k, v in opt_t.items() if k != "name"})
    return model, loader, criterion, optimizer, steps, seed


def with_try(raw: dict[str, Any], changes: str) -> dict[str, Any]:
    """The case's raw config with a `compare --try` text applied ('optimizer.lr=0.001;schedule.warmup_steps=20'),
    values read as TOML, as gradscope reads them."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for part in filter(None, (p.strip() for p in changes.split(";"))):
        key, value = part.split("=", 1)
        table, name = key.strip().split(".", 1)
        out.setdefault(table, {})[name] = tomllib.loads(f"v = {value.strip()}")["v"]
    return out


def _warmup_multiplier(schedule: dict[str, Any], total: int):
    """transformers' get_{constant,linear,cosine}_schedule_with_warmup, written out: lr multiplier per step."""
    name, warm = schedule.get("name"), int(schedule.get("warmup_steps", 0))

    def factor(step: int) -> float:
        if step < warm:
            return step / max(1, warm)
        progress = (step - warm) / max(1, total - warm)
        if name == "linear":
            return max(0.0, 1.0 - progress)
        if name == "cosine":
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
        if name == "constant":
            return 1.0
        raise SystemExit(f"benchmark plain loop: schedule {name!r} is not one it writes out")
    return factor


def plain_run(raw: dict[str, Any], threshold: float | None, cases_module: Any = regret_cases) -> PlainRun:
    """Train the case with the loop a user writes; stop at the first non-finite loss (its score is +inf).
    A [schedule] table (from a `--try`) is applied as a LambdaLR stepped after every optimizer step."""
    start = time.perf_counter()
    model, loader, criterion, optimizer, steps, seed = plain_setup(raw, cases_module)
    params = [p for p in model.parameters()]
    schedule = (torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_multiplier(raw["schedule"], steps))
                if raw.get("schedule") else None)

    def batches():
        while True:
            yield from loader

    losses, norms = [], []
    first_bad = None
    stream = batches()
    for step in range(steps):
        x, y = next(stream)
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        value = float(loss.detach())
        losses.append(value)
        if threshold is None:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        else:
            norm = torch.nn.utils.clip_grad_norm_(params, threshold)
        norms.append(float(norm))
        if not math.isfinite(value):
            first_bad = step
            break
        optimizer.step()
        if schedule is not None:
            schedule.step()
    seconds = time.perf_counter() - start
    return PlainRun(threshold, np.array(losses), np.array(norms), seconds, steps, first_bad)


# -- scoring -------------------------------------------------------------------------------------------------

def regret(score: float, oracle: float, reference: float) -> float:
    """(score - oracle) / (reference - oracle), capped to [0, 1]; 0 when the denominator is not positive."""
    denom = reference - oracle
    if not denom > 0:  # also catches nan
        return 0.0
    if not math.isfinite(score):
        return 1.0
    return float(min(1.0, max(0.0, (score - oracle) / denom)))


def rel_diff(a: float, b: float) -> float:
    if not math.isfinite(a) or not math.isfinite(b):
        return 0.0 if (math.isinf(a) and math.isinf(b)) else math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


@dataclass
class CaseResult:
    name: str
    family: str
    description: str
    steps: int
    initial_loss: float
    unclipped: float
    unclipped_nonfinite: int | None
    grid: dict[float, float]
    oracle: float
    oracle_threshold: float
    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    sanity: dict[str, float] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    recommend: dict[str, Any] = field(default_factory=dict)


def _stored(folder: Path | None, config_text: str, key: str, run) -> PlainRun:
    """`run()`, or its result stored under `folder` for this exact config and key (--plain-cache: the plain
    loop is deterministic on one machine, so reruns of the benchmark while tuning skip the 13-point grid)."""
    if folder is None:
        return run()
    import hashlib
    import pickle

    path = folder / (hashlib.sha256(f"{config_text}\0{key}".encode()).hexdigest()[:24] + ".pkl")
    if path.is_file():
        return pickle.loads(path.read_bytes())
    result = run()
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return result


def run_case(case: regret_cases.Case, work: Path, threads: int, budget: float | None,
             reseed: int = 0, plain_cache: Path | None = None) -> CaseResult:
    folder = work / case.name
    folder.mkdir(parents=True, exist_ok=True)
    text = case.config_text(str(Path(regret_cases.__file__).resolve()), threads, reseed)
    path = folder / "gradscope.toml"
    path.write_text(text)
    raw = tomllib.loads(text)
    config = load_config(path)
    steps = config.run.steps

    cache: dict[float | None, PlainRun] = {}

    def plain(c: float | None) -> PlainRun:
        key = None if c is None else float(c)
        if key not in cache:
            cache[key] = _stored(plain_cache, text, repr(key), lambda: plain_run(raw, key))
        return cache[key]

    base = plain(None)
    initial = float(base.losses[0])
    grid = {c: plain(c).score for c in GRID}
    oracle_c = min(GRID, key=lambda c: (grid[c], c))
    oracle = grid[oracle_c]
    reference = min(base.score, initial)

    t0 = time.perf_counter()
    rec = recommend(config, folder / "recommend", mode="norm", **({"budget": budget} if budget else {}))
    rec_seconds = time.perf_counter() - t0

    diag = train(replace(config, clip=None), folder / "train-unclipped", write_plots=False)  # a diagnose run
    train_steps = len(diag.trace)
    # One full-length train run for the wall-time baseline: the unclipped one often stops at its first NaN.
    t0 = time.perf_counter()
    clipped = train(replace(config, clip=Clip("norm", float(rec.threshold))), folder / "train-recommended",
                    write_plots=False)
    train_seconds = time.perf_counter() - t0

    finite_norms = base.grad_norms[: max(3, int(steps * PLAIN_P10_FRACTION))]
    finite_norms = finite_norms[np.isfinite(finite_norms) & (finite_norms > 0)]
    thresholds = {
        "gradscope": float(rec.threshold),
        "fixed-1.0": 1.0,
        "autoclip-p10": float(rec.evidence.statistics.autoclip_p10),
        "p10-plain": float(np.percentile(finite_norms, 10)) if len(finite_norms) else 1.0,
    }
    result = CaseResult(case.name, case.family, case.description, steps, initial, base.score,
                        base.first_nonfinite, grid, oracle, oracle_c)
    for method, c in thresholds.items():
        score = plain(c).score
        result.methods[method] = {"threshold": c, "score": score, "regret": regret(score, oracle, reference)}
    fix = getattr(rec, "fix", None)
    if fix is not None and fix.changes.split(".", 1)[0] in PLAIN_TRY_TABLES:
        # clipping is not the fix: the user makes the change recommend names; the plain loop scores it, unclipped
        score = _stored(plain_cache, text, fix.changes, lambda: plain_run(with_try(raw, fix.changes), None)).score
        result.methods["gradscope"] = {"threshold": math.nan, "score": score, "try": fix.changes,
                                       "regret": regret(score, oracle, reference)}

    winner = rec.evidence.winner
    rec_plain = plain(winner.threshold)  # the top clip trial (rec.threshold is a guard rail when not the fix)
    gs_winner = winner.late_loss if winner.steps >= steps else math.nan
    result.sanity = {
        "winner_late_gradscope": gs_winner,
        "winner_late_plain": rec_plain.score,
        # NaN where the top clip was cut short (clipping was not the fix): nothing full-length to compare
        "winner_rel_diff": rel_diff(gs_winner, rec_plain.score) if not math.isnan(gs_winner) else math.nan,
        "train_late_gradscope": late_loss(diag.trace.loss) if train_steps >= steps else math.inf,
        "train_late_plain": base.score,
    }
    result.sanity["train_rel_diff"] = rel_diff(result.sanity["train_late_gradscope"], base.score)
    n = min(len(diag.trace.loss), len(base.losses))
    ours, theirs = diag.trace.loss[:n], base.losses[:n]
    both = np.isfinite(ours) & np.isfinite(theirs)
    result.sanity["train_max_step_rel_diff"] = float(np.max(
        np.abs(ours[both] - theirs[both]) / np.maximum(np.abs(theirs[both]), 1e-12))) if both.any() else 0.0

    rec_thr_plain = plain(float(rec.threshold))
    result.sanity["recommended_train_rel_diff"] = rel_diff(
        late_loss(clipped.trace.loss) if len(clipped.trace) >= steps else math.inf, rec_thr_plain.score)
    full = [r for r in cache.values() if len(r.losses) >= steps]
    plain_seconds = (float(np.median([r.seconds for r in full])) if full
                     else base.seconds * steps / len(base.losses))
    train_full = train_seconds * steps / max(len(clipped.trace), 1)
    result.cost = {
        "recommend_seconds": rec_seconds,
        "recommend_steps": rec.steps_run,
        "budget_steps": rec.budget_steps,
        "plain_run_seconds": plain_seconds,
        "train_run_seconds": train_full,
        "steps_ratio": rec.steps_run / steps,
        "wall_ratio_plain": rec_seconds / plain_seconds,
        "wall_ratio_train": rec_seconds / train_full,
    }
    result.recommend = {
        "threshold": rec.threshold,
        "clipping_helps": rec.clipping_helps,
        "stable_steps": rec.evidence.statistics.stable_steps,
        "p50": rec.evidence.statistics.percentiles.p50,
        "trials": [t.to_dict() for t in rec.evidence.trials],
        "notes": list(rec.notes),
        "method": rec.method,
    }
    return result


# -- printing ------------------------------------------------------------------------------------------------

def fmt(x: float | None, width: int = 9) -> str:
    if x is None:
        s = "-"
    elif isinstance(x, float) and math.isnan(x):
        s = "n/a"
    elif isinstance(x, float) and math.isinf(x):
        s = "inf"
    else:
        s = f"{x:.3g}"
    return s.rjust(width)


def print_case(r: CaseResult, verbose: bool) -> None:
    print(f"\n== {r.name} ({r.family}): {r.description}")
    nan_note = f", non-finite at step {r.unclipped_nonfinite}" if r.unclipped_nonfinite is not None else ""
    print(f"   {r.steps} steps; initial loss {r.initial_loss:.4g}; unclipped late loss {fmt(r.unclipped, 0)}"
          f"{nan_note}; oracle {r.oracle:.4g} at clip {r.oracle_threshold:.3g}")
    print("   grid: " + "  ".join(f"{c:.3g}:{fmt(s, 0)}" for c, s in r.grid.items()))
    print(f"   {'method':<13}{'threshold':>10}{'score':>10}{'regret':>8}")
    for method, m in r.methods.items():
        print(f"   {method:<13}{fmt(m['threshold'], 10)}{fmt(m['score'], 10)}{m['regret']:8.2f}"
              + (f"  (--try {m['try']})" if "try" in m else ""))
    s, c = r.sanity, r.cost
    print(f"   sanity (gradscope vs plain late loss, rel diff): winner trial {s['winner_rel_diff']:.1e} "
          f"({fmt(s['winner_late_gradscope'], 0)} vs {fmt(s['winner_late_plain'], 0)}); unclipped train "
          f"{s['train_rel_diff']:.1e} (max per-step {s['train_max_step_rel_diff']:.1e}); train at the "
          f"recommended threshold {s['recommended_train_rel_diff']:.1e}")
    print(f"   cost: recommend {c['recommend_seconds']:.1f}s, {c['recommend_steps']} steps = "
          f"{c['steps_ratio']:.2f}x a run (budget {c['budget_steps']}); "
          f"wall {c['wall_ratio_plain']:.1f}x a plain run ({c['plain_run_seconds']:.2f}s), "
          f"{c['wall_ratio_train']:.1f}x a train run ({c['train_run_seconds']:.2f}s)")
    if verbose:
        rec = r.recommend
        print(f"   recommend: clipping_helps={rec['clipping_helps']} stable_steps={rec['stable_steps']} "
              f"p50={rec['p50']:.3g}; {rec['method']}")
        for t in rec["trials"]:
            print(f"     trial {fmt(t['threshold'], 9)} steps {t['steps']:>4} late {fmt(t['late_loss'], 9)} "
                  f"nonfinite@{t['first_nonfinite_step']} clipped {t['clipped_fraction']:.2f} "
                  f"eliminated@{t['eliminated_at_step']}")
        for note in rec["notes"]:
            print(f"     note: {note}")


def print_summary(results: list[CaseResult]) -> None:
    print("\n== summary: regret per case (0: as good as the best grid threshold; "
          "1: no better than unclipped or the start)")
    print(f"   {'case':<20}" + "".join(f"{m:>14}" for m in METHODS) + f"{'steps x':>9}{'wall x train':>14}")
    for r in results:
        print(f"   {r.name:<20}" + "".join(f"{r.methods[m]['regret']:14.2f}" for m in METHODS)
              + f"{r.cost['steps_ratio']:9.2f}{r.cost['wall_ratio_train']:14.1f}")
    means = {m: float(np.mean([r.methods[m]["regret"] for r in results])) for m in METHODS}
    print(f"   {'MEAN':<20}" + "".join(f"{means[m]:14.2f}" for m in METHODS)
          + f"{np.mean([r.cost['steps_ratio'] for r in results]):9.2f}"
          + f"{np.mean([r.cost['wall_ratio_train'] for r in results]):14.1f}")
    keys = ("winner_rel_diff", "train_rel_diff", "recommended_train_rel_diff")
    worst = max(r.sanity[k] for r in results for k in keys if not math.isnan(r.sanity[k]))
    for m in METHODS:
        high = [r.name for r in results if r.methods[m]["regret"] > 0.25]
        listed = f" ({', '.join(high)})" if high else ""
        print(f"   {m}: regret > 0.25 on {len(high)}/{len(results)}{listed}")
    print(f"   sanity: largest gradscope-vs-plain late-loss rel diff {worst:.1e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(regret_cases.QUICK)}")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--budget", type=float, default=None,
                        help="recommend's budget, in runs (default: recommend's own default)")
    parser.add_argument("--reseed", type=int, default=0,
                        help="add K to every case's run seed (new initial weights and data order)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--plain-cache", type=Path, default=None,
                        help="store the plain-loop runs here and reuse them on later runs (same config, same key)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the run folders here (default: a temp dir)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print recommend's trial table per case")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = ([n for n in args.cases.split(",") if n]
             or (regret_cases.QUICK if args.quick else regret_cases.CASE_NAMES))
    unknown = [n for n in names if n not in regret_cases.CASE_NAMES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(regret_cases.CASE_NAMES)}")
    cases = [c for c in regret_cases.CASES if c.name in names]

    results = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gradscope-regret-") as tmp:
        work = args.keep or Path(tmp)
        for case in cases:
            t0 = time.perf_counter()
            result = run_case(case, work, args.threads, args.budget, args.reseed, args.plain_cache)
            results.append(result)
            print_case(result, args.verbose)
            print(f"   ({time.perf_counter() - t0:.0f}s for this case)", flush=True)
    print_summary(results)
    print(f"   total {time.perf_counter() - start:.0f}s, torch threads {args.threads}, "
          f"budget {args.budget or 'default'}"
          + (f", seeds +{args.reseed}" if args.reseed else ""))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
