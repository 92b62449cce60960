"""Could a guard catch the unstable runs that show it nothing? How far each case's loss level (median of 5) fell
below its start by steps 20, 40 and 60, unclipped, for the guard's healthy cases and for its quiet unstable ones
(never above 1.5x their start, never non-finite: no rise, no blow-up for a rule to see).

    .venv/bin/python benchmarks/guard_start.py [--steps 20,40,60] [--json F]

A rule "no progress by step S: roll back and clip" catches a quiet unstable run only if its progress is below the
rule's bar; the summary gives, for each S and each slow quiet unstable run, the healthy runs no further along, which
the same bar would catch (each one harmed: rolled back to its start and clipped). Cases: benchmarks/guard_cases.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import guard_cases
from recommend_regret import plain_run

LEVEL = 5  # the loss level: the median of this many losses, as the Guard's
RISEN = 1.5  # a level this multiple of the start is a rise the guard's loss rule sees
SLOW = 0.15  # the runs shown: at most this far below their start (a run stalled by its learning rate)


def unclipped_losses(case: guard_cases.GuardCase) -> list[float]:
    """The case's losses in the oracle's own plain loop (`recommend_regret.plain_run`), unclipped, up to the first
    non-finite one."""
    raw = tomllib.loads(case.case.config_text(str(Path(guard_cases.__file__).resolve()), 1))
    return plain_run(raw, None, guard_cases).losses.tolist()


def levels(losses: list[float]) -> np.ndarray:
    return np.array([np.median(losses[max(0, i - LEVEL + 1):i + 1]) for i in range(len(losses))])


def progress(losses: list[float], by: int) -> float:
    """How far the lowest loss level up to step `by` is below the start (the median of the first 3 losses), as a
    fraction of it."""
    start = float(np.median(losses[:3]))
    return (start - float(levels(losses)[3:by].min())) / abs(start)


def quiet(losses: list[float]) -> bool:
    """Never non-finite, its level never RISEN x its start: nothing for the guard's rise and throw rules."""
    start = float(np.median(losses[:3]))
    return all(math.isfinite(v) for v in losses) and float(levels(losses).max()) < RISEN * start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="20,40,60", help="the steps S to measure progress by")
    parser.add_argument("--json", type=Path, default=None, help="also write every case's losses here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    marks = [int(s) for s in args.steps.split(",")]
    rows, kept = [], {}
    for case in guard_cases.CASES:
        losses = unclipped_losses(case)
        kept[case.name] = {"kind": case.kind, "split": case.split, "losses": losses}
        if len(losses) <= max(marks):
            continue
        group = "healthy" if case.kind == "healthy" else "quiet" if quiet(losses) else None
        if group:
            rows.append((group, case.name, [progress(losses, s) for s in marks]))
            print(f"{group:<8}{case.name:<34}" + "".join(f"{p:>+9.1%}" for p in rows[-1][2]), flush=True)
    counts = {group: sum(r[0] == group for r in rows) for group in ("quiet", "healthy")}
    print(f"\n{counts['quiet']} quiet unstable, {counts['healthy']} healthy cases longer than {max(marks)} steps")
    for i, s in enumerate(marks):
        print(f"by step {s}, each quiet unstable run that has fallen at most {SLOW:.0%}, and the healthy runs no "
              "further along (a rule that caught it would roll those back too):")
        healthy = [(r[2][i], r[1]) for r in rows if r[0] == "healthy"]
        for p, name in sorted((r[2][i], r[1]) for r in rows if r[0] == "quiet" and r[2][i] <= SLOW):
            caught = sorted(h for h in healthy if h[0] <= p)
            print(f"   {name:<32}{p:>+7.1%}: {len(caught)} healthy"
                  + (f" ({', '.join(f'{n} {q:+.1%}' for q, n in caught[:6])}{', ...' if len(caught) > 6 else ''})"
                     if caught else ""))
    if args.json:
        args.json.write_text(json.dumps(kept))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
