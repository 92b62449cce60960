"""Running the realistic scripts (tests/scripts, examples/scripts) attached, and reading back what they computed
themselves: each appends one JSON line per optimizer step to $GS_TEST_TRUTH (the losses it backpropagated, the
norm its clip_grad_norm_ returned or one it computed by hand)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO, gradscope_cmd, subprocess_env

SCRIPTS = REPO / "tests" / "scripts"
EXAMPLES = REPO / "examples" / "scripts"
TRAIN_GPT = EXAMPLES / "train_gpt.py"
# The attach reads the same float32 tensors the script reads: only the order of a sum (the loss over
# micro-batches, the global norm over parameters) may differ, a few float32 ulps (~1e-7 relative).
REL = 1e-5


def script_cmd(script: Path, *args: str, ranks: int = 0) -> list[str]:
    """`python SCRIPT ARGS`, or `torchrun --nproc-per-node RANKS SCRIPT ARGS` (as `python -m torch.distributed.run`,
    so this Python runs it)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks)] if ranks else \
        [sys.executable]
    return [*launcher, str(script), *args]


def gradscope(*args: str, command: list[str], truth: Path | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """`gradscope ARGS -- COMMAND` as a user runs it, with $GS_TEST_TRUTH set when `truth` is given."""
    env = subprocess_env()
    if truth is not None:
        env["GS_TEST_TRUTH"] = str(truth)
    return subprocess.run(gradscope_cmd(*args, "--", *command), env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def run_bare(command: list[str], truth: Path) -> list[dict[str, Any]]:
    """The script run alone (no gradscope): its truth rows."""
    env = subprocess_env() | {"GS_TEST_TRUTH": str(truth)}
    truth.unlink(missing_ok=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return read_truth(truth)


def read_truth(path: Path, opt: str | None = None) -> list[dict[str, Any]]:
    """The first run's rows (of optimizer `opt`): the scripts append, and gradscope may run a script again (to
    locate a non-finite value), which starts again from step 0."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("opt") == opt]
    end = next((i for i in range(1, len(rows)) if rows[i]["step"] < rows[i - 1]["step"]), len(rows))
    return rows[:end]


def close(a: float, b: float, rel: float = REL) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(abs(a), abs(b))


def worst_error(trace: Any, truth: list[dict[str, Any]], column: str, key: str) -> float:
    """The largest relative difference between the trace's `column` and the truth's `key` over their common rows
    (rows whose truth is null or non-finite are not compared)."""
    worst = 0.0
    for value, row in zip(list(trace[column]), truth, strict=False):
        want = row.get(key)
        if want is None or not math.isfinite(want):
            continue
        worst = max(worst, abs(float(value) - want) / max(abs(want), 1e-30))
    return worst


def read_trace(folder: Path) -> Any:
    import pandas as pd

    return pd.read_csv(Path(folder) / "trace.csv")
