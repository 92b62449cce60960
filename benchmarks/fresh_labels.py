"""What the held-out case files (guard_cases_fresh*.py, guard_cases_blind*.py, guard_cases_healthy.py,
guard_cases_plateau.py) share: a case from its TOML pieces (a factory's section among them), the list of
`GuardCase` built on first access, and the label check against the plain torch loop.

guard_cases.py imports those files at its end, so they import guard_cases only when their list is first asked
for (PEP 562 `__getattr__`): either module may be imported first.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from regret_cases import Case

Specs = list[tuple[Case, str]]  # (case, kind): kind is "unstable" or "healthy"


def factory_section(factory: str, kwargs: str) -> str:
    """The TOML lines naming a factory of the case files (resolved in guard_cases' namespace) and its kwargs."""
    return f'factory = "{{cases}}:{factory}"\nkwargs = {{ {kwargs} }}'


def make_case(name: str, family: str, description: str, model: str, data: str, batch: int, loss: str,
              optimizer: str, steps: int, seed: int, loss_options: str = "") -> Case:
    """A `Case` whose TOML holds these sections, on the CPU; `loss_options`: more lines of its [loss] table."""
    options = f"{loss_options}\n" if loss_options else ""
    text = (f'\n[model]\n{model}\n\n[data]\n{data}\nbatch_size = {batch}\n\n[loss]\nname = "{loss}"\n{options}\n'
            f'[optimizer]\n{optimizer}\n\n[run]\nsteps = {steps}\nseed = {seed}\ndevice = "cpu"\n')
    return Case(name, family, description, text)


def lazy_cases(attribute: str, specs: Specs, split: str) -> Callable[[str], Any]:
    """A module `__getattr__` that builds `attribute` (the split's GuardCase list) on first access."""
    built: list[Any] = []

    def __getattr__(name: str) -> Any:
        if name != attribute:
            raise AttributeError(name)
        if not built:
            import guard_cases  # lazily: guard_cases imports the calling module at its end

            built.extend(guard_cases.GuardCase(case, kind, split) for case, kind in specs)
        return built
    return __getattr__


def verify(specs: Specs, module: ModuleType, names: list[str] | None = None, *, unstable_min_gain: float = 0.25,
           healthy_max_gain: float = 0.05, healthy_max_ratio: float = 0.8) -> list[dict[str, Any]]:
    """Check every label with recommend_regret's plain loop (unclipped and the 13-point grid); one row per case.

    Unstable: the grid's best must beat min(unclipped, initial loss) by `unstable_min_gain` of it. Healthy: the
    unclipped run ends below `healthy_max_ratio` of its initial loss, and the grid's best beats it by at most
    `healthy_max_gain`."""
    from recommend_regret import GRID, plain_run

    path = str(Path(module.__file__).resolve())
    rows = []
    print(f"{'case':<28}{'kind':<10}{'unclipped':>11}{'initial':>10}{'oracle':>10}{'at clip':>9}"
          f"{'rel gain':>9}{'bad@':>6}  check", flush=True)
    for case, kind in specs:
        if names and case.name not in names:
            continue
        raw = tomllib.loads(case.config_text(path, 1))
        base = plain_run(raw, None, module)
        initial = float(base.losses[0])
        scores = {c: plain_run(raw, c, module).score for c in GRID}
        best = min(GRID, key=lambda c: (scores[c], c))
        oracle = scores[best]
        if kind == "unstable":
            reference = min(base.score, initial)
            gain = (reference - oracle) / reference if reference > 0 else math.nan
            ok = gain >= unstable_min_gain
        else:
            gain = (base.score - oracle) / base.score if base.score > 0 else math.nan
            ok = (math.isfinite(base.score) and base.score < healthy_max_ratio * initial
                  and oracle >= (1 - healthy_max_gain) * base.score)
        bad = [i for i, v in enumerate(base.losses) if not (v < 2 * initial)]  # non-finite or twice the start
        bad_at = str(bad[0]) if bad else "-"
        nan_at = f" (non-finite at {base.first_nonfinite})" if base.first_nonfinite is not None else ""
        print(f"{case.name:<28}{kind:<10}{base.score:11.4g}{initial:10.4g}{oracle:10.4g}{best:9.3g}"
              f"{gain:9.2f}{bad_at:>6}  {'ok' if ok else 'FAIL'}{nan_at}", flush=True)
        rows.append({"name": case.name, "kind": kind, "unclipped": base.score, "initial": initial,
                     "oracle": oracle, "oracle_threshold": best, "grid": scores, "ok": ok, "bad_at": bad_at,
                     "first_nonfinite": base.first_nonfinite})
    return rows


def check_labels(specs: Specs, module: ModuleType, split: str, **rules: float) -> int:
    """The case file's command line: verify its labels (`--cases a,b`, `-v` for every grid score); 0 when all hold."""
    parser = argparse.ArgumentParser(description=f"verify the {split} labels with the plain loop")
    parser.add_argument("--cases", default="")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every grid score")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = verify(specs, module, [n for n in args.cases.split(",") if n] or None, **rules)
    if args.verbose:
        for r in rows:
            print(r["name"], " ".join(f"{c:.3g}:{s:.4g}" for c, s in r["grid"].items()))
    return 0 if all(r["ok"] for r in rows) else 1
