"""Accuracy of `gradscope diagnose` on labelled runs of its own, against an independent plain torch loop.

    .venv/bin/python benchmarks/diagnose_accuracy.py [--quick] [--cases a,b] [--keep DIR] [--json F] [-v]
                                                     [--plain-only]

For every case in benchmarks/diagnose_cases.py (recurrent, deep feed-forward, linear and transformer models
that explode, explode by exponential growth, go unstable, vanish or train fine):

1. The case's config and a copy of diagnose_cases.py go into a temp folder, and the real CLI runs it:
   `python -m gradscope diagnose gradscope.toml --json --no-plots --fail-on never --out DIR` (a subprocess,
   OMP_NUM_THREADS=1). Its JSON gives the verdict, the symptoms and summary.first_nonfinite_step; DIR/trace.csv
   the per-step loss and global gradient norm.
2. An independent plain loop, the one a user writes (torch.manual_seed(seed); model = factory(**kwargs); the
   dataset batched by a DataLoader whose generator is seeded with the run seed, as gradscope documents; then
   zero_grad, loss, backward, step), records each step's loss, the global gradient norm
   (torch.nn.utils.get_total_norm: the norm of the per-parameter norms; never clip_grad_norm_(inf), which
   turns an overflowed norm into NaN), every parameter's gradient norm, and the first step whose loss or
   gradient holds NaN/Inf (or whose optimizer.step() made the weights non-finite). It runs beside step 1.
3. The label is re-checked against the plain loop by criteria of this file (LABEL_* below), not gradscope's.
4. Checks, as the issue states them: the verdict (explode/growth -> critical, unstable -> warning, vanish ->
   warning with a vanishing_gradient symptom, fine -> healthy with no symptom at all); the first non-finite
   step of gradscope (summary and the nonfinite_* symptoms' steps) within +-1 of the plain loop's; on growth
   cases an exploding_gradient symptom at least MIN_LEAD steps before the plain loop's first non-finite step;
   no exploding_gradient on vanish cases; trace losses and gradient norms within 1e-4 relative of the plain
   loop's over the steps before the first non-finite one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
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

# Label checks on the plain loop (this benchmark's own criteria, independent of gradscope's detectors).
JUMP_WINDOW = 20  # a step's loss jump is its loss over the median of the previous JUMP_WINDOW losses
LABEL_UNSTABLE_JUMP = 3.0  # unstable: a loss jump >= 3x ...
LABEL_UNSTABLE_LATE_OVER_BEST = 2.0  # ... or the late loss >= 2x the best (smoothed) loss
LABEL_FINE_MAX_JUMP = 2.0  # fine: no loss jump above 2x, ...
LABEL_FINE_LATE_OVER_START = 0.9  # ... the late loss below 0.9x the start (it trains), ...
LABEL_FINE_LATE_OVER_BEST = 1.3  # ... and not far above its best
LABEL_VANISH_DEPTH_RATIO = 1e-2  # vanish: first / last weight matrix gradient norm (median) <= 1e-2
LABEL_GROWTH_DOUBLING = (0.5, 2.5)  # growth: the norm doubles every 0.5-2.5 steps before the overflow ...
LABEL_GROWTH_OVERFLOW = (50, 200)  # ... and goes non-finite within these steps


# -- the independent plain loop ------------------------------------------------------------------------------

@dataclass
class PlainRun:
    losses: np.ndarray
    norms: np.ndarray  # global gradient norm per step (get_total_norm)
    param_norms: np.ndarray  # steps x parameters
    names: list[str]
    shapes: list[tuple[int, ...]]
    first_bad: int | None  # first step with a non-finite loss or gradient, or whose step() broke the weights
    bad_kind: str | None  # loss / gradient / weight
    norm_overflow: int | None  # first step whose global norm was non-finite
    seconds: float

    @property
    def steps(self) -> int:
        return len(self.losses)


def _torch_class(module: Any, name: str) -> Any:
    obj = getattr(module, name, None)
    if obj is None:
        raise SystemExit(f"benchmark case uses {name!r}, which is not in {module.__name__}")
    return obj


def plain_run(raw: dict[str, Any], steps: int | None = None) -> PlainRun:
    """Train the case with the loop a user writes, until `steps` or until the weights are non-finite."""
    model_t, data_t, opt_t, run_t = (raw[k] for k in ("model", "data", "optimizer", "run"))
    loss_t = raw.get("loss", {})
    steps = steps or int(run_t["steps"])
    seed = int(run_t.get("seed", 0))
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
    named = list(model.named_parameters())
    names = [n for n, _ in named]
    params = [p for _, p in named]

    def batches():
        while True:
            yield from loader

    losses, norms, per_param = [], [], []
    first_bad = bad_kind = overflow = None
    stream = batches()
    model.train()
    for step in range(steps):
        batch = next(stream)
        optimizer.zero_grad(set_to_none=True)
        if isinstance(batch, dict):
            loss = model(**batch)["loss"]
        else:
            x, y = batch
            loss = criterion(model(x), y)
        loss.backward()
        with torch.no_grad():
            grads = [p.grad for p in params if p.grad is not None]
            total = float(torch.nn.utils.get_total_norm(grads))
            per_param.append([float(torch.linalg.vector_norm(p.grad)) if p.grad is not None else 0.0
                              for p in params])
            grads_finite = all(bool(torch.isfinite(g).all()) for g in grads)
        value = float(loss.detach())
        losses.append(value)
        norms.append(total)
        if overflow is None and not math.isfinite(total):
            overflow = step
        if first_bad is None and not (math.isfinite(value) and grads_finite):
            first_bad, bad_kind = step, ("loss" if not math.isfinite(value) else "gradient")
        optimizer.step()
        with torch.no_grad():
            weights_finite = all(bool(torch.isfinite(p).all()) for p in params)
        if not weights_finite:
            if first_bad is None:
                first_bad, bad_kind = step, "weight"
            break
    return PlainRun(np.array(losses), np.array(norms), np.array(per_param), names,
                    [tuple(p.shape) for p in params], first_bad, bad_kind, overflow,
                    time.perf_counter() - start)


# -- what the plain loop says about the run (for the label check) --------------------------------------------

def loss_jump(losses: np.ndarray, skip: int = 5) -> tuple[float, int]:
    """The largest loss over the median of the previous JUMP_WINDOW losses (from step `skip`), and its step."""
    best, at = 0.0, -1
    for t in range(max(skip, 3), len(losses)):
        prev = losses[max(0, t - JUMP_WINDOW):t]
        prev = prev[np.isfinite(prev)]
        if not len(prev) or not math.isfinite(losses[t]):
            continue
        ratio = losses[t] / max(float(np.median(prev)), 1e-30)
        if ratio > best:
            best, at = ratio, t
    return best, at


def levels(losses: np.ndarray) -> tuple[float, float, float]:
    """(start, late, best): medians of the first 5 steps and of the last 10% of the finite prefix; the lowest
    median of 5 consecutive steps."""
    fin = losses[: int(np.argmin(np.isfinite(losses)))] if not np.isfinite(losses).all() else losses
    if len(fin) < 5:
        return math.nan, math.nan, math.nan
    k = max(5, len(fin) // 10)
    rolled = np.array([np.median(fin[i:i + 5]) for i in range(len(fin) - 4)])
    return float(np.median(fin[:5])), float(np.median(fin[-k:])), float(rolled.min())


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


def label_check(expected: str, run: PlainRun) -> tuple[bool, str]:
    """Does the plain loop behave as the label says? (ok, the numbers that say so)."""
    start, late, best = levels(run.losses)
    jump, jump_at = loss_jump(run.losses)
    dr = depth_ratio(run)
    nf = run.first_bad
    facts = (f"nf={nf}" if nf is not None else "finite") + f" jump={jump:.3g}@{jump_at} late/start={late / start:.3g}" \
        f" late/best={late / best:.3g} depth={dr:.2g}"
    if expected == "explode":
        ok = nf is not None
    elif expected == "growth":
        d = doubling_steps(run)
        facts += f" doubling={d:.2f}"
        ok = (nf is not None and LABEL_GROWTH_OVERFLOW[0] <= nf <= LABEL_GROWTH_OVERFLOW[1]
              and LABEL_GROWTH_DOUBLING[0] <= d <= LABEL_GROWTH_DOUBLING[1])
    elif expected == "unstable":
        ok = nf is None and (jump >= LABEL_UNSTABLE_JUMP or late >= LABEL_UNSTABLE_LATE_OVER_BEST * best)
    elif expected == "vanish":
        ok = nf is None and dr <= LABEL_VANISH_DEPTH_RATIO
    else:  # fine
        ok = (nf is None and jump < LABEL_FINE_MAX_JUMP and late < LABEL_FINE_LATE_OVER_START * start
              and late < LABEL_FINE_LATE_OVER_BEST * best and not (dr <= LABEL_VANISH_DEPTH_RATIO))
    return ok, facts


# -- gradscope through its CLI -------------------------------------------------------------------------------

def start_cli(config: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "gradscope", "diagnose", str(config), "--json", "--no-plots",
           "--fail-on", "never", "--out", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=config.parent)


def read_trace(out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    trace = pd.read_csv(out / "trace.csv")
    return (trace["step"].to_numpy(int), trace["loss"].to_numpy(float), trace["grad_norm"].to_numpy(float))


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
    verdict: str | None = None
    kinds: list[str] = field(default_factory=list)
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    gs_nf_summary: int | None = None
    gs_nf_symptoms: int | None = None
    lead: int | None = None
    rel_loss: float = math.nan
    rel_norm: float = math.nan
    compared_steps: int = 0
    steps_completed: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def verdict_ok(self) -> bool:
        return self.verdict == dc.VERDICT_OF[self.expected]

    @property
    def rel(self) -> float:
        return max(self.rel_loss, self.rel_norm)


def rel_diff(ours: np.ndarray, theirs: np.ndarray) -> float:
    if not len(ours):
        return 0.0
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.maximum(np.abs(ours), np.abs(theirs)), 1e-30)))


def run_case(case: dc.Case, work: Path, cases_copy: Path, plain_only: bool = False) -> Result:
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
    ok, facts = label_check(case.expected, plain)
    r = Result(case.name, case.family, case.expected, ok, facts, plain.first_bad, plain.bad_kind, plain.steps)
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

    # checks, as the issue states them
    if not r.verdict_ok:
        r.failures.append("verdict")
    if case.expected == "fine" and r.symptoms:
        r.failures.append("symptom on healthy")
    if case.expected == "vanish":
        if "vanishing_gradient" not in r.kinds:
            r.failures.append("no vanishing_gradient")
        if "exploding_gradient" in r.kinds:
            r.failures.append("vanishing called exploding")
    for got in (r.gs_nf_summary, r.gs_nf_symptoms):
        if (got is None) != (plain.first_bad is None) or (
                got is not None and abs(got - plain.first_bad) > NONFINITE_TOLERANCE):
            r.failures.append("nonfinite step")
            break
    if case.expected == "growth":
        exploding = [s for s in doc["symptoms"] if s["kind"] == "exploding_gradient"]
        if exploding and plain.first_bad is not None:
            r.lead = plain.first_bad - int(exploding[0]["step"])
        if r.lead is None or r.lead < MIN_LEAD:
            r.failures.append("lead")

    steps, loss, norm = read_trace(folder / "run")
    n = min(len(steps), plain.steps)
    if plain.first_bad is not None:
        n = min(n, plain.first_bad)
    assert (steps[:n] == np.arange(n)).all()
    both = np.isfinite(loss[:n]) & np.isfinite(plain.losses[:n])
    r.rel_loss = rel_diff(loss[:n][both], plain.losses[:n][both])
    both = np.isfinite(norm[:n]) & np.isfinite(plain.norms[:n])
    r.rel_norm = rel_diff(norm[:n][both], plain.norms[:n][both])
    r.compared_steps = n
    if not r.rel <= MAX_REL_DIFF:
        r.failures.append("trace")
    return r


# -- printing ------------------------------------------------------------------------------------------------

SHORT = {"nonfinite_loss": "nf_loss", "nonfinite_gradient": "nf_grad", "nonfinite_weight": "nf_weight",
         "exploding_gradient": "exploding", "gradient_spike": "grad_spike", "loss_spike": "loss_spike",
         "loss_divergence": "divergence", "loss_plateau": "plateau", "weight_growth": "weight_growth",
         "vanishing_gradient": "vanishing"}


def _s(x: Any) -> str:
    return "-" if x is None else str(x)


def print_table(results: list[Result]) -> None:
    header = ["case", "family", "expected", "label", "verdict", "symptom kinds", "nf plain/gs", "lead",
              "rel diff", "secs", "result"]
    rows = []
    for r in results:
        kinds = ",".join(f"{SHORT.get(s['kind'], s['kind'])}:{s['severity'][0]}" for s in r.symptoms) or "-"
        gs = _s(r.gs_nf_summary) + ("" if r.gs_nf_symptoms == r.gs_nf_summary else f"|{_s(r.gs_nf_symptoms)}")
        rows.append([r.name, r.family, f"{r.expected}->{dc.VERDICT_OF[r.expected]}",
                     "ok" if r.label_ok else "WRONG", _s(r.verdict), kinds,
                     f"{_s(r.plain_nf)}/{gs}", _s(r.lead),
                     "-" if math.isnan(r.rel) else f"{r.rel:.1e}", f"{r.seconds:.1f}",
                     "ok" if not r.failures else "FAIL: " + "; ".join(r.failures)])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths))  # noqa: E731
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def print_details(results: list[Result], verbose: bool) -> None:
    for r in results:
        print(f"\n-- {r.name} ({r.family}, {r.expected}): {dc.find(r.name).description}")
        print(f"   plain loop: {r.label_facts}" + (f" ({r.plain_kind} first)" if r.plain_kind else "")
              + f"; {r.plain_steps} steps run")
        if r.error:
            print(f"   CLI error: {r.error}")
            continue
        if r.verdict is None:
            continue
        print(f"   gradscope: {r.verdict}, {r.steps_completed} steps; trace vs plain over {r.compared_steps} "
              f"steps: loss {r.rel_loss:.1e}, grad norm {r.rel_norm:.1e}")
        if not (verbose or r.failures):
            continue
        for s in r.symptoms:
            ev = json.dumps(s.get("evidence", {}), default=str)
            if len(ev) > 900 and not verbose:
                ev = ev[:900] + "..."
            print(f"   {s['kind']} [{s['severity']}] step {s['step']} param {s.get('parameter')}: {s['message']}")
            print(f"      evidence: {ev}")


def print_summary(results: list[Result]) -> None:
    ran = [r for r in results if r.verdict is not None]
    print("\n== summary")
    right = [r for r in ran if r.verdict_ok]
    print(f"   verdict accuracy: {len(right)}/{len(ran)}"
          + "".join(f"\n     wrong: {r.name} ({r.expected}) -> {r.verdict}" for r in ran if not r.verdict_ok))
    by = {}
    for r in ran:
        by.setdefault(r.expected, []).append(r.verdict_ok)
    print("   by label: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in by.items()))
    fam = {}
    for r in ran:
        fam.setdefault(r.family, []).append(r.verdict_ok)
    print("   by family: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in fam.items()))
    healthy = [r for r in ran if r.expected == "fine"]
    noisy = [r for r in healthy if r.symptoms]
    print(f"   healthy cases with any symptom: {len(noisy)}/{len(healthy)}"
          + (" (" + "; ".join(r.name + ": " + ",".join(r.kinds) for r in noisy) + ")" if noisy else ""))
    vanish = [r for r in ran if r.expected == "vanish"]
    called = [r.name for r in vanish if "exploding_gradient" in r.kinds]
    missed = [r.name for r in vanish if "vanishing_gradient" not in r.kinds]
    print(f"   vanishing called exploding: {len(called)}/{len(vanish)}" + (f" ({', '.join(called)})" if called else "")
          + f"; vanishing_gradient missing: {len(missed)}/{len(vanish)}" + (f" ({', '.join(missed)})" if missed else ""))
    mism = [r for r in ran if "nonfinite step" in r.failures]
    with_nf = [r for r in ran if r.plain_nf is not None]
    print(f"   non-finite step mismatches (> +-{NONFINITE_TOLERANCE}): {len(mism)}/{len(ran)} "
          f"({len(with_nf)} runs go non-finite in the plain loop)"
          + "".join(f"\n     {r.name}: plain {r.plain_nf} ({r.plain_kind}), gradscope summary {r.gs_nf_summary}, "
                    f"symptoms {r.gs_nf_symptoms}" for r in mism))
    growth = [r for r in ran if r.expected == "growth"]
    leads = [r.lead for r in growth if r.lead is not None]
    print(f"   exponential growth lead (>= {MIN_LEAD}): "
          + (f"min {min(leads)}, " if leads else "")
          + ", ".join(f"{r.name} {_s(r.lead)}" for r in growth))
    rels = [r.rel for r in ran if not math.isnan(r.rel)]
    bad = [r.name for r in ran if not r.rel <= MAX_REL_DIFF]
    print(f"   trace vs plain loop: max rel diff {max(rels, default=0.0):.1e} (> {MAX_REL_DIFF:g} on "
          f"{len(bad)}{': ' + ', '.join(bad) if bad else ''})")
    labels = [r.name for r in results if not r.label_ok]
    print(f"   label checks failed (plain loop disagrees with the label): {len(labels)}"
          + (f" ({', '.join(labels)})" if labels else ""))
    errors = [r.name for r in results if r.error]
    if errors:
        print(f"   CLI errors: {', '.join(errors)}")
    passed = [r for r in results if not r.failures]
    print(f"   cases passing every check: {len(passed)}/{len(results)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset: one case of each label and family")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folders here (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--plain-only", action="store_true",
                        help="run the plain loops and label checks only (no gradscope): for choosing cases")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case's symptoms and evidence")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    names = [n for n in args.cases.split(",") if n] or (dc.QUICK if args.quick else dc.CASE_NAMES)
    unknown = [n for n in names if n not in dc.CASE_NAMES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(dc.CASE_NAMES)}")
    cases = [c for c in dc.CASES if c.name in names]

    results = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gradscope-accuracy-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for case in cases:
            result = run_case(case, work, Path(dc.__file__).resolve(), args.plain_only)
            results.append(result)
            print(f"{case.name}: {result.verdict or '-'} ({result.seconds:.1f}s) "
                  f"{'ok' if not result.failures else 'FAIL ' + ','.join(result.failures)}",
                  file=sys.stderr, flush=True)
    print(f"gradscope diagnose accuracy: {len(results)} cases, torch {torch.__version__}, 1 thread\n")
    print_table(results)
    print_details(results, args.verbose)
    if not args.plain_only:
        print_summary(results)
    print(f"   total {time.perf_counter() - start:.0f}s")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
