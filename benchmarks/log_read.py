"""How fast a log of a run already done is read: `gradscope.sources.registry.read_log` on a million-row log in
each format (TensorBoard at 100k events per tag by default: `SummaryWriter` writes ~2,000 rows a second), and the
diagnosis of the trace read, apart.

    python benchmarks/log_read.py [--rows 1000000] [--tb-rows 100000] [--repeats 3] [--formats csv,jsonl,...]

The run is synthetic (a noisy falling loss, log-normal gradient norms, a warm-up then cosine lr, a few NaN and
inf), written by each format's real writer (`log_writers.py`: pandas for the CSV, which writes NaN as an empty
cell). Times are medians over the repeats, in the same process after one warm-up read: wall clock, and the
process's CPU time (which leaves out the time other processes held the cores: on a shared machine the steadier
figure; pandas' reader may use more than one thread).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def synthetic(n: int) -> list[SimpleNamespace]:
    import numpy as np

    rng = np.random.default_rng(0)
    step = np.arange(1, n + 1)
    loss = 2.0 * np.exp(-step / (n / 5)) + 0.1 + 0.05 * rng.standard_normal(n) ** 2
    grad = np.exp(rng.normal(0.0, 0.3, n))
    lr = np.where(step < n // 100, step / (n // 100), 0.5 * (1 + np.cos(np.pi * step / n))) * 3e-4
    grad[[n // 3, n // 2]] = np.inf  # GradScaler skips
    loss[n // 4] = np.nan
    return [SimpleNamespace(step=int(s), loss=float(a), grad_norm=float(g), lr=float(r))
            for s, a, g, r in zip(step, loss, grad, lr, strict=True)]


def write_csv_pandas(rows: list[SimpleNamespace], every: int, folder: Path) -> Path:
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.csv"
    pd.DataFrame({"step": [r.step for r in rows], "loss": [r.loss for r in rows],
                  "grad_norm": [r.grad_norm for r in rows], "lr": [r.lr for r in rows]}).to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tb-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default="csv,jsonl,lightning,trainer_state,tensorboard")
    args = parser.parse_args()
    from log_writers import WRITERS

    from gradscope.diagnose.logs import diagnose_reading
    from gradscope.sources.registry import read_log

    writers = dict(WRITERS, csv=write_csv_pandas)
    root = Path(tempfile.mkdtemp(prefix="log_read-"))
    print(f"{'format':<15}{'rows':>10}{'file MB':>9}{'write s':>9}{'read s':>8}{'read cpu s':>11}{'rows/cpu s':>12}"
          f"{'diagnose cpu s':>15}")
    for fmt in args.formats.split(","):
        n = args.tb_rows if fmt == "tensorboard" else args.rows
        rows = synthetic(n)
        started = time.perf_counter()
        path = writers[fmt](rows, 1, root / fmt)
        wrote = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (path.parent.rglob("*") if path.is_file() else path.rglob("*"))
                   if p.is_file()) / 1e6
        read_log(path)  # warm-up: imports, caches
        times, cpu = [], []
        for _ in range(args.repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            reading = read_log(path)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        assert len(reading.trace) == n, (fmt, len(reading.trace))
        started_cpu = time.process_time()
        diagnose_reading(reading)
        diagnosed = time.process_time() - started_cpu
        read, read_cpu = statistics.median(times), statistics.median(cpu)
        print(f"{fmt:<15}{n:>10,}{size:>9.1f}{wrote:>9.1f}{read:>8.2f}{read_cpu:>11.2f}{n / read_cpu:>12,.0f}"
              f"{diagnosed:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
