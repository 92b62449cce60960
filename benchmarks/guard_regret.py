"""Regret of `gradscope.Guard` (online adaptive clipping, one run) against the 13-point grid oracle, beside ZClip,
AutoClip, AGC and a fixed 1.0 clip; and the harm each does to healthy runs.

    .venv/bin/python benchmarks/guard_regret.py [--quick] [--cases a,b] [--split tune|held-out] [--cache F]
                                                [--seeds K] [--json F] [-v]

Cases: benchmarks/regret_cases.py (unstable) and benchmarks/guard_cases.py (more unstable ones, and healthy ones),
each with a split: "tune" (looked at while the guard's rules were designed) or "held-out" (scored at the end).

1. Oracle, as benchmarks/recommend_regret.py: its independent plain torch loop (`plain_run`) trains each unstable
   case unclipped and at 13 thresholds 1e-3 .. 1e3; score = late loss (median of the last 10%; +inf on a
   non-finite loss); oracle = the best; regret = (score - oracle) / (min(unclipped, initial loss) - oracle),
   capped to [0, 1] (`regret`).
2. Each method is applied in ONE run by a plain torch loop written as the contract's snippet:
   zero_grad, loss, backward, `if method(loss): optimizer.step()`. A method that says skip leaves the update
   out; a non-finite loss the method did not skip ends the run (+inf). The score is the late loss of the run.
   - gradscope: `guard = gradscope.Guard(model)`; `guard.step(loss)`.
   - gradscope-ramp: `Guard(model, ramp="always")`, the start ramp from the first update on (the default guard
     before issue 22).
   - gradscope-noramp: the same with `Guard(model, ramp=False)` (no start ramp).
   - fixed-1.0: `torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)`.
   - zclip: ZClip's README, `ZClip(mode="zscore", alpha=0.97, z_thresh=2.5, clip_option="adaptive_scaling",
     max_grad_norm=1.0, clip_factor=1.0)`; `zclip.step(model)`.
   - autoclip: the `autoclip` package's README, `QuantileClip.as_optimizer(optimizer, quantile=0.9,
     history_length=1000)` (per-parameter, its default).
   - agc: smartclip's AGC (NFNets' rule, as timm's `adaptive_clip_grad`), its defaults:
     `smartclip.apply(model, smartclip.AGC(clipping=0.01))` after backward.
   - agc-timm: timm's `adaptive_clip_grad` (timm/utils/agc.py), as timm's train.py applies it with
     `--clip-mode agc --clip-grad 0.01`: every parameter but the head's last two (`exclude_head`).
   The anchors come from benchmarks/requirements-guard.txt, not from gradscope's dependencies; a missing one
   prints "not installed".
3. Healthy cases: harm = late loss / unclipped late loss - 1 (issue 22's goal: at most 1% on every one), and
   whether the guard engaged at all (it should not); the worst harm per split.
4. `--seeds K`: every healthy case again at K more seeds (its seed + 1 .. + K: another initialisation and batch
   order of the same run), each against its own unclipped run. The cases' seeds are the ones the rules were
   designed on; the other seeds are healthy runs no rule was fitted to, as a user's are.
5. The null touch: a healthy run the guard acted in is no longer the unclipped run, and some runs are chaotic
   (a small change to one update sends them on another path with another late loss). For each such run, the
   unclipped run is trained again NULL_TOUCHES times, each with one update left out and nothing else changed: the
   update of the guard's first event step, and of each of the steps after it. The worst of their late-loss
   changes is what touching the run at that step does at all; a guard's harm over it is harm beyond the run's
   own chaos. Reported beside the harm, which stays the measure (issue 22's goal is on the harm).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import guard_cases
from recommend_regret import GRID, plain_run, plain_setup, regret

import gradscope
from gradscope.stats import late_level
from gradscope.trials.recommend import LATE_FRACTION

SPLITS = ["tune", "held-out", "held-out-2", "held-out-3", "held-out-4", "held-out-5", "held-out-6", "held-out-7",
          "held-out-8", "held-out-9", "held-out-10", "held-out-11", "held-out-12", "held-out-13", "held-out-14",
          "held-out-15", "held-out-16", "healthy-2", "healthy-3"]
METHODS = ("gradscope", "gradscope-ramp", "gradscope-noramp", "fixed-1.0", "zclip", "autoclip", "agc", "agc-timm")
NOT_INSTALLED = "not installed"
NULL_TOUCHES = 4  # null touches per healthy run the guard acted in (see 5. above)
CACHE_PATH: Path | None = None  # --cache

# -- the methods, each as its README applies it --------------------------------------------------------------

Stepper = Callable[[torch.Tensor], bool]


def make_gradscope(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    guard = gradscope.Guard(model)
    return guard.step, optimizer, guard


def make_gradscope_ramp(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    guard = gradscope.Guard(model, ramp="always")
    return guard.step, optimizer, guard


def make_gradscope_noramp(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    guard = gradscope.Guard(model, ramp=False)
    return guard.step, optimizer, guard


def make_fixed(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    def step(_loss: torch.Tensor) -> bool:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        return True
    return step, optimizer, None


def make_zclip(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    from zclip import ZClip

    zclip = ZClip(mode="zscore", alpha=0.97, z_thresh=2.5, clip_option="adaptive_scaling", max_grad_norm=1.0,
                  clip_factor=1.0)

    def step(_loss: torch.Tensor) -> bool:
        zclip.step(model)
        return True
    return step, optimizer, None


def make_autoclip(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    from autoclip.torch import QuantileClip

    wrapped = QuantileClip.as_optimizer(optimizer=optimizer, quantile=0.9, history_length=1000)
    return (lambda _loss: True), wrapped, None


def make_agc(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    import smartclip as sc

    clipper = sc.AGC(clipping=0.01)  # its defaults: per layer, biases and norm gains excluded

    def step(_loss: torch.Tensor) -> bool:
        sc.apply(model, clipper)
        return True
    return step, optimizer, None


def make_agc_timm(model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
    adaptive_clip_grad = _timm_agc()
    params = [p for p in model.parameters()][:-2]  # timm's train.py for agc: model_parameters(exclude_head=True)

    def step(_loss: torch.Tensor) -> bool:
        adaptive_clip_grad(params, 0.01)  # train.py --clip-mode agc --clip-grad 0.01
        return True
    return step, optimizer, None


def _timm_agc() -> Callable[..., None]:
    """timm's `adaptive_clip_grad`, loaded from its file: `import timm` imports torchvision, and the only
    torchvision for torch 2.13 on this machine's index is a CUDA build that does not load on a CPU torch."""
    import importlib.util

    spec = importlib.util.find_spec("timm")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "agc.py"
    file_spec = importlib.util.spec_from_file_location("timm_utils_agc", path)
    assert file_spec is not None and file_spec.loader is not None
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module.adaptive_clip_grad


MAKERS = {"gradscope": make_gradscope, "gradscope-ramp": make_gradscope_ramp, "gradscope-noramp": make_gradscope_noramp,
          "fixed-1.0": make_fixed, "zclip": make_zclip, "autoclip": make_autoclip, "agc": make_agc,
          "agc-timm": make_agc_timm}


def available(method: str) -> bool:
    module = {"zclip": ("zclip",), "autoclip": ("autoclip",), "agc": ("smartclip",), "agc-timm": ("timm",)}.get(method)
    if module is None:
        return True
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in module)


@dataclass
class MethodRun:
    score: float
    losses: list[float]
    skipped: int
    nonfinite_losses: int
    engaged: bool | None = None  # the guard only
    clipped: int | None = None
    threshold: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


def make_skip(at: int) -> Callable[[torch.nn.Module, Any], tuple[Stepper, Any, Any]]:
    """A null touch: no clip, and the update of step `at` (counted from 0, as the guard's events are) left out."""
    def make(_model: torch.nn.Module, optimizer: Any) -> tuple[Stepper, Any, Any]:
        steps = iter(range(sys.maxsize))
        return (lambda _loss: next(steps) != at), optimizer, None
    return make


def method_run(raw: dict[str, Any], method: str | Callable[..., tuple[Stepper, Any, Any]]) -> MethodRun:
    """One run of the case with `method` (a name in MAKERS, or a maker), in the contract's loop:
    `if method(loss): optimizer.step()`."""
    model, loader, criterion, optimizer, steps, _seed = plain_setup(raw, guard_cases)
    step_fn, optimizer, guard = (MAKERS[method] if isinstance(method, str) else method)(model, optimizer)

    def batches():
        while True:
            yield from loader

    stream = batches()
    losses: list[float] = []
    skipped = bad = 0
    for _ in range(steps):
        x, y = next(stream)
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        value = float(loss.detach())
        losses.append(value)
        if step_fn(loss):
            if not math.isfinite(value):
                bad += 1
                break  # a non-finite loss stepped on: the run is lost, as in plain_run
            optimizer.step()
        else:
            skipped += 1
            bad += not math.isfinite(value)
    complete = len(losses) == steps and (not bad or skipped)
    weights_ok = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    # late_loss's level; only its window must be finite (a guard may skip a non-finite loss and go on)
    score = late_level(np.array(losses), LATE_FRACTION, round_up=True) if complete and weights_ok else math.inf
    run = MethodRun(score, losses, skipped, bad)
    if guard is not None:
        run.engaged = guard.threshold is not None
        run.clipped = guard.clipped
        run.threshold = guard.threshold
        run.events = [e.to_dict() for e in guard.events]
    return run


# -- a case ----------------------------------------------------------------------------------------------------

@dataclass
class CaseResult:
    name: str
    kind: str
    split: str
    description: str
    unclipped: float
    initial: float
    oracle: float | None = None
    oracle_threshold: float | None = None
    grid: dict[str, float] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: dict[str, dict[str, float]] = field(default_factory=dict)  # --seeds: offset -> method -> harm
    null: dict[str, float] = field(default_factory=dict)  # seed offset -> the worst null touch's harm (see 5.)


def _grid(raw: dict[str, Any], text: str, cache: dict[str, Any] | None, unstable: bool,
          offset: int = 0) -> dict[str, Any]:
    key = hashlib.sha256(text.encode()).hexdigest()[:16] + ("u" if unstable else "h") + (f"+{offset}" if offset else "")
    if cache is not None and key in cache:
        return cache[key]
    base = plain_run(raw, None, guard_cases)
    entry: dict[str, Any] = {"unclipped": base.score, "initial": float(base.losses[0])}
    if unstable:
        entry["grid"] = {str(c): plain_run(raw, c, guard_cases).score for c in GRID}
    if cache is not None:
        cache[key] = entry
        if CACHE_PATH is not None:
            CACHE_PATH.write_text(json.dumps(cache))
    return entry


def _harm(score: float, unclipped: float) -> float:
    return (score / unclipped - 1.0) if math.isfinite(score) and unclipped > 0 else math.inf


def null_touch(raw: dict[str, Any], first: int, unclipped: float) -> float:
    """The worst late-loss change of NULL_TOUCHES unclipped runs, each with one update left out, from the guard's
    first event step `first` on (see 5. above)."""
    return max(_harm(method_run(raw, make_skip(first + k)).score, unclipped) for k in range(NULL_TOUCHES))


def run_case(case: guard_cases.GuardCase, threads: int, cache: dict[str, Any] | None,
             methods: tuple[str, ...], seeds: int = 0) -> CaseResult:
    text = case.case.config_text(str(Path(guard_cases.__file__).resolve()), threads)
    raw = tomllib.loads(text)
    unstable = case.kind == "unstable"
    entry = _grid(raw, text, cache, unstable)
    result = CaseResult(case.name, case.kind, case.split, case.case.description, entry["unclipped"],
                        entry["initial"])
    reference = min(entry["unclipped"], entry["initial"])
    if unstable:
        result.grid = entry["grid"]
        best = min(result.grid, key=lambda c: (result.grid[c], float(c)))
        result.oracle, result.oracle_threshold = result.grid[best], float(best)
    for method in methods:
        if not available(method):
            result.methods[method] = {"status": NOT_INSTALLED}
            continue
        run = method_run(raw, method)
        row: dict[str, Any] = {"score": run.score, "skipped": run.skipped, "nonfinite": run.nonfinite_losses}
        if unstable:
            row["regret"] = regret(run.score, result.oracle, reference)
        else:
            row["harm"] = _harm(run.score, entry["unclipped"])
        if run.engaged is not None:
            row |= {"engaged": run.engaged, "clipped": run.clipped, "threshold": run.threshold,
                    "events": run.events}
        result.methods[method] = row
        if method == "gradscope" and not unstable and run.events:  # not acted in: it is the unclipped run
            result.null["0"] = null_touch(raw, run.events[0]["step"], entry["unclipped"])
    for offset in range(1, seeds + 1) if not unstable else ():
        other = {**raw, "run": {**raw["run"], "seed": int(raw["run"].get("seed", 0)) + offset}}
        unclipped = _grid(other, text, cache, False, offset)["unclipped"]
        result.seeds[str(offset)] = {}
        for m in (m for m in methods if available(m)):
            run = method_run(other, m)
            result.seeds[str(offset)][m] = _harm(run.score, unclipped)
            if m == "gradscope" and run.events:
                result.null[str(offset)] = null_touch(other, run.events[0]["step"], unclipped)
    return result


# -- printing --------------------------------------------------------------------------------------------------

def _f(x: Any, width: int = 10) -> str:
    if x is None:
        return "-".rjust(width)
    if isinstance(x, float) and math.isinf(x):
        return "inf".rjust(width)
    return f"{x:.3g}".rjust(width)


def print_case(r: CaseResult, verbose: bool) -> None:
    head = f"\n== {r.name} ({r.kind}, {r.split}): {r.description}\n   unclipped {_f(r.unclipped, 0)}"
    if r.oracle is not None:
        head += f"; oracle {r.oracle:.4g} at clip {r.oracle_threshold:.3g}"
    print(head)
    for method, m in r.methods.items():
        if m.get("status"):
            print(f"   {method:<11}{m['status']}")
            continue
        value = f"regret {m['regret']:.2f}" if "regret" in m else f"harm {m['harm']:+.1%}"
        extra = ""
        if "engaged" in m:
            extra = (f"  engaged {m['engaged']}, clipped {m['clipped']} steps, skipped {m['skipped']}, "
                     f"final threshold {_f(m['threshold'], 0)}")
        print(f"   {method:<11}score {_f(m['score'])}  {value}{extra}")
        if verbose and m.get("events"):
            for e in m["events"][:12]:
                print(f"      step {e['step']:>4} {e['action']:<8} {_f(e['threshold'], 8)}  {e['why']}")


def _cell(r: CaseResult, method: str) -> str:
    m = r.methods.get(method, {})
    if m.get("status"):
        return "n/i"
    if "regret" in m:
        return f"{m['regret']:.2f}"
    if "harm" in m:
        return "inf" if math.isinf(m["harm"]) else f"{m['harm']:+.1%}"
    return "-"


def print_summary(results: list[CaseResult], methods: tuple[str, ...]) -> None:
    print("\n== regret on unstable cases (0: as good as the best of 13 fixed thresholds; 1: no better than "
          "unclipped or the start) and harm on healthy cases (late loss vs unclipped)")
    print(f"   {'case':<26}{'split':<10}" + "".join(f"{m:>11}" for m in methods))
    for kind in ("unstable", "healthy"):
        for r in (r for r in results if r.kind == kind):
            print(f"   {r.name:<26}{r.split:<10}" + "".join(f"{_cell(r, m):>11}" for m in methods))
    for split in (*SPLITS, "all"):
        chosen = [r for r in results if r.kind == "unstable" and (split == "all" or r.split == split)]
        if not chosen:
            continue
        cells = []
        for m in methods:
            values = [r.methods[m]["regret"] for r in chosen if "regret" in r.methods.get(m, {})]
            cells.append(f"{np.mean(values):.2f}" if len(values) == len(chosen) else "n/i")
        print(f"   {'MEAN regret ' + split:<36}" + "".join(f"{c:>11}" for c in cells))
    healthy = [r for r in results if r.kind == "healthy"]
    for split in (*SPLITS, "all"):
        chosen = [r for r in healthy if split == "all" or r.split == split]
        if not chosen or (split == "all" and len({r.split for r in healthy}) == 1):
            continue
        cells = []
        for m in methods:
            values = [r.methods[m]["harm"] for r in chosen if "harm" in r.methods.get(m, {})]
            cells.append(f"{max(values):+.1%}" if len(values) == len(chosen) else "n/i")
        print(f"   {'WORST harm ' + split:<36}" + "".join(f"{c:>11}" for c in cells))
    seeded = [(r.name, offset, harms) for r in healthy for offset, harms in r.seeds.items()]
    if seeded:
        worst, moved = [], []
        for m in methods:
            values = [h[m] for _, _, h in seeded if m in h]
            worst.append(f"{max(values):+.1%}" if len(values) == len(seeded) else "n/i")
            moved.append(f"{sum(v > 0.01 for v in values)}" if len(values) == len(seeded) else "n/i")
        print(f"   {f'WORST harm, {len(seeded)} runs at other seeds':<36}" + "".join(f"{c:>11}" for c in worst))
        print(f"   {'  of them moved by over 1%':<36}" + "".join(f"{c:>11}" for c in moved))
    if "gradscope" in methods:
        _print_null(healthy, seeded)
    unstable = [r for r in results if r.kind == "unstable" and "events" in r.methods.get("gradscope", {})]
    unseen = [r for r in unstable if not r.methods["gradscope"]["events"]]
    if unseen:  # runs that showed the guard nothing to act on: no rule of its can lower this part of the mean
        share = sum(r.methods["gradscope"]["regret"] for r in unseen) / len(unstable)
        print(f"   guard saw no sign on {len(unseen)}/{len(unstable)} unstable cases (no event); their regret is "
              f"{share:.2f} of its mean ({', '.join(r.name for r in unseen)})")
    if healthy:
        engaged = [r.name for r in healthy if r.methods.get("gradscope", {}).get("engaged")]
        print(f"   guard engaged on {len(engaged)}/{len(healthy)} healthy cases"
              + (f" ({', '.join(engaged)})" if engaged else ""))


def _print_null(healthy: list[CaseResult], seeded: list[tuple[str, str, dict[str, float]]]) -> None:
    """The guard's healthy runs moved by over 1% (own seeds, and --seeds'), each beside its worst null touch."""
    runs = [(r.name, "0", r.methods["gradscope"]["harm"]) for r in healthy if "harm" in r.methods.get("gradscope", {})]
    runs += [(name, offset, h["gradscope"]) for name, offset, h in seeded if "gradscope" in h]
    nulls = {(r.name, offset): worst for r in healthy for offset, worst in r.null.items()}
    moved = sorted(((n, o, h) for n, o, h in runs if h > 0.01), key=lambda t: -t[2])
    beyond = [(n, o) for n, o, h in moved if h > nulls[(n, o)]]
    print(f"   guard: {len(moved)} of {len(runs)} healthy runs moved by over 1%, {len(beyond)} of them beyond the "
          f"worst of {NULL_TOUCHES} null touches (the unclipped run with one update left out, from the guard's first "
          "event on)")
    for name, offset, h in moved:
        print(f"      {name} at seed +{offset}: {h:+.1%}; null touch {nulls[(name, offset)]:+.1%}"
              + ("  (beyond)" if (name, offset) in beyond else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(guard_cases.QUICK)}")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--split", choices=SPLITS, default=None, help="only this split")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the unclipped and grid runs here (JSON), reused while the case is unchanged")
    parser.add_argument("--seeds", type=int, default=0, metavar="K",
                        help="also run every healthy case at K more seeds and report the harm there")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the guard's events")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = [n for n in args.cases.split(",") if n] or (guard_cases.QUICK if args.quick else guard_cases.CASE_NAMES)
    unknown = [n for n in names if n not in guard_cases.CASE_NAMES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(guard_cases.CASE_NAMES)}")
    methods = tuple(m for m in args.methods.split(",") if m)
    cases = [c for c in guard_cases.CASES if c.name in names and (args.split is None or c.split == args.split)]
    global CACHE_PATH
    CACHE_PATH = args.cache
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else ({} if args.cache else None)
    start = time.perf_counter()
    results = []
    for case in cases:
        t0 = time.perf_counter()
        results.append(run_case(case, args.threads, cache, methods, args.seeds))
        print_case(results[-1], args.verbose)
        print(f"   ({time.perf_counter() - t0:.0f}s)", flush=True)
    print_summary(results, methods)
    print(f"   total {time.perf_counter() - start:.0f}s, torch threads {args.threads}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
