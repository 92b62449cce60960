"""How well `gradscope diagnose LOG` reads runs already done: verdicts and first non-finite steps on labelled runs
(`log_cases.py`, or another cases module), each logged in every format by its real writer (`log_writers.py`), at
every step and every 10th; losslint's verdicts beside gradscope's on the same files when it is installed.

    python benchmarks/log_accuracy.py [--cases MODULE] [--every 1,10] [--formats csv,jsonl,...] [--json]

Scored per format and cadence: the verdict (healthy / warning / critical: gradscope's `verdict`, losslint's worst
severity with error -> critical and info -> healthy), the first non-finite step at the log's own step numbers
(exact; None where the run never went non-finite), and no alarm on a GradScaler skip (an `amp` case is right
when it has no non-finite finding and no critical verdict).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def gradscope_says(path: Path) -> tuple[str, int | None, list[str]]:
    from gradscope.diagnose.logs import diagnose_log

    d = diagnose_log(path)
    return d.verdict, d.summary.first_nonfinite_step, [f"{s.kind.value}@{s.step}" for s in d.symptoms]


def losslint_says(path: Path) -> tuple[str, int | None, list[str]] | None:
    try:
        from losslint.checks import CheckOptions, run_all_checks
        from losslint.parsing import load_run
    except ImportError:
        return None
    try:
        findings = run_all_checks(load_run(path), CheckOptions())
    except Exception as exc:  # noqa: BLE001 (a file it cannot read is scored as such)
        return "unread", None, [f"{type(exc).__name__}: {exc}"[:80]]
    severities = {f.severity for f in findings}
    verdict = "critical" if "error" in severities else "warning" if "warning" in severities else "healthy"
    bad = [f.details["steps"][0] for f in findings if f.check == "nan_inf" and f.details.get("steps")]
    return verdict, (min(bad) if bad else None), [f"{f.check}" for f in findings]


def cases_of(module_name: str) -> list[dict[str, Any]]:
    """Every (file, labels) to score: written here from `CASES`, or as they are from `FILES`."""
    module = importlib.import_module(module_name)
    return list(getattr(module, "FILES", [])), list(getattr(module, "CASES", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="log_cases", help="cases module (default log_cases)")
    parser.add_argument("--every", default="1,10", help="cadences to log at (default 1,10)")
    parser.add_argument("--formats", default=None, help="comma-separated formats (default: all)")
    parser.add_argument("--keep", type=Path, default=None, help="write the logs here and keep them")
    parser.add_argument("--json", action="store_true", help="also print one JSON document")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from log_cases import first_nonfinite
    from log_writers import FORMATS, WRITERS, logged, written_step

    files, cases = cases_of(args.cases)
    formats = args.formats.split(",") if args.formats else list(FORMATS)
    cadences = [int(x) for x in args.every.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="log_accuracy-"))
    scored: list[dict[str, Any]] = []
    started = time.perf_counter()
    for case in cases:
        rows = case.rows()
        bad = first_nonfinite(rows)
        for every in cadences:
            shown = logged(rows, every)
            first = next((r.step for r in shown if bad is not None and r.step >= bad), None)
            for fmt in formats:
                path = WRITERS[fmt](rows, every, root / case.name / f"every{every}" / fmt)
                scored.append({"case": case.name, "kind": case.kind, "format": fmt, "every": every,
                               "path": path, "expected": case.expected,
                               "first_nonfinite_step": None if first is None else written_step(fmt, first)})
    for item in files:
        scored.append({"case": getattr(item, "case", Path(item.path).name), "kind": getattr(item, "kind", "?"),
                       "format": item.format,
                       "every": item.every, "path": Path(item.path), "expected": item.expected,
                       "first_nonfinite_step": item.first_nonfinite_step})
    for entry in scored:
        entry["gradscope"] = gradscope_says(entry["path"])
        entry["losslint"] = losslint_says(entry["path"])
    report(scored, losslint=any(e["losslint"] is not None for e in scored))
    print(f"\n{len(scored)} logs from {len(cases)} runs + {len(files)} files in {time.perf_counter() - started:.0f} s; "
          f"logs in {root}")
    if args.json:
        print(json.dumps([{k: (str(v) if isinstance(v, Path) else v) for k, v in e.items()} for e in scored],
                         indent=1))


def right(entry: dict[str, Any], who: str) -> tuple[bool, bool, bool | None]:
    """(verdict right, first non-finite step right, no alarm on a GradScaler skip: None unless an amp case)."""
    said = entry[who]
    verdict, first = said[0], said[1]
    amp = None if entry["kind"] != "amp" else (verdict != "critical" and first is None)
    return verdict == entry["expected"], first == entry["first_nonfinite_step"], amp


def report(scored: list[dict[str, Any]], *, losslint: bool) -> None:
    who = ["gradscope", *(["losslint"] if losslint else [])]
    print(f"{'case':<22}{'fmt':<14}{'k':>3}  {'label':<9}{'1st bad':>8}  " +
          "".join(f"{w + ' verdict':<20}{'1st bad':>8}  " for w in who))
    for e in scored:
        line = (f"{e['case']:<22}{e['format']:<14}{e['every']:>3}  {e['expected']:<9}"
                f"{_s(e['first_nonfinite_step']):>8}  ")
        for w in who:
            v, f, _ = right(e, w)
            line += f"{e[w][0] + ('' if v else ' X'):<20}{_s(e[w][1]) + ('' if f else ' X'):>8}  "
        print(line)
    print("\nper format and cadence: verdicts right / first non-finite step right / amp skips without alarm")
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for e in scored:
        groups[(e["format"], e["every"])].append(e)
    for w in who:
        total = [0, 0, 0, 0]
        for (fmt, every), entries in sorted(groups.items()):
            marks = [right(e, w) for e in entries]
            v, f = sum(m[0] for m in marks), sum(m[1] for m in marks)
            amp = [m[2] for m in marks if m[2] is not None]
            total = [total[0] + v, total[1] + f, total[2] + sum(amp), total[3] + len(amp)]
            print(f"  {w:<10}{fmt:<14} every {every:<3} {v}/{len(entries)}  {f}/{len(entries)}  "
                  f"{sum(amp)}/{len(amp)}")
        print(f"  {w:<10}{'all':<14}          {total[0]}/{len(scored)}  {total[1]}/{len(scored)}  "
              f"{total[2]}/{total[3]}")
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in scored:
        kinds[e["kind"]].append(e)
    print("\nper kind: verdicts right")
    for kind, entries in kinds.items():
        print(f"  {kind:<10}" + "  ".join(f"{w} {sum(right(e, w)[0] for e in entries)}/{len(entries)}" for w in who))


def _s(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


if __name__ == "__main__":
    main()
