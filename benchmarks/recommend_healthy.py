"""What `gradscope recommend` says about healthy runs: does it name a clip, and does that clip train better than
no clip at all?

    .venv/bin/python benchmarks/recommend_healthy.py [--splits tune,healthy-2,...] [--cases a,b] [--json F]

For every healthy case of the guard benchmark (`guard_cases.py`: MLPs, CNNs with and without BatchNorm, RNNs,
transformers; SGD with and without momentum, Adam, AdamW, RMSprop, ...; each verified to train well unclipped),
recommend runs at its default budget. Where it says clipping helps, the independent plain loop of
`recommend_regret.py` trains the case unclipped and at the named threshold, to the full length, and the two late
losses (median of the last 10%) are compared: a recommended clip whose late loss is more than 1% above the
unclipped run's is harmful advice. Where it says clipping is not the fix, nothing is trained beside it.

Reported: per split, how many runs got a clip, and how many of those clips were harmful (and by how much).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import guard_cases
from recommend_regret import plain_run

from gradscope.config.load import load_config
from gradscope.trials.recommend import recommend

HARMFUL = 1.01  # a recommended clip whose full-length late loss is over 1% above the unclipped run's


def run_case(case: guard_cases.GuardCase, work: Path) -> dict:
    """recommend on the case; for a named clip, the plain loop's late loss with it and without."""
    text = case.case.config_text(str(Path(guard_cases.__file__).resolve()), 1)
    path = work / f"{case.name}.toml"
    path.write_text(text)
    rec = recommend(load_config(path), work / case.name, mode="norm")
    row = {"name": case.name, "split": case.split, "clipping_helps": rec.clipping_helps,
           "threshold": rec.threshold, "fix": rec.fix.changes if rec.fix else None}
    if rec.clipping_helps:
        raw = tomllib.loads(text)
        row["unclipped"] = plain_run(raw, None, guard_cases).score
        row["clipped"] = plain_run(raw, rec.threshold, guard_cases).score
        row["harm"] = row["clipped"] / row["unclipped"] - 1.0 if row["unclipped"] > 0 else 0.0
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default="", help="comma-separated splits (default: every split)")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all healthy cases)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    splits = {s for s in args.splits.split(",") if s}
    names = {s for s in args.cases.split(",") if s}
    cases = [c for c in guard_cases.CASES if c.kind != "unstable" and (not splits or c.split in splits)
             and (not names or c.name in names)]
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            row = run_case(case, Path(tmp))
            rows.append(row)
            said = (f"clip-norm {row['threshold']:.3g}: late loss {row['clipped']:.4g} against {row['unclipped']:.4g} "
                    f"unclipped ({row['harm']:+.1%})" if row["clipping_helps"] else
                    f"no clip ({row['fix'] or 'not needed'})")
            print(f"{case.name:48s} {case.split:12s} {said}", flush=True)
    print("\n== summary (a clip is harmful when its full-length late loss is over "
          f"{HARMFUL - 1:.0%} above the unclipped run's)")
    for split in sorted({r["split"] for r in rows}) + ["all"]:
        mine = [r for r in rows if split in ("all", r["split"])]
        clips = [r for r in mine if r["clipping_helps"]]
        harmful = [r for r in clips if r["harm"] > HARMFUL - 1]
        worst = max((r["harm"] for r in clips), default=0.0)
        print(f"   {split:12s} {len(mine):3d} runs: a clip named for {len(clips):2d}, harmful {len(harmful):2d}"
              + (f" (worst {worst:+.1%})" if clips else ""))
    print(f"   total {time.perf_counter() - start:.0f}s, torch threads 1")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
