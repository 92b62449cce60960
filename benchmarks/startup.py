#!/usr/bin/env python
"""Start-up time of `gradscope --help` against a bare `python -c pass`, and what it imports.

`gradscope --help` must not import torch, pandas or matplotlib (issue 6): this prints the heavy modules found in
`sys.modules` when the CLI exits, and the start-up times of (interleaved, medians over repeats):
`python -c pass`, `python -c "import gradscope"`, `python -m gradscope --help`, the `gradscope` console script,
and `python -c "import torch"` for scale. `--device` and `--threads` are accepted for a uniform command line;
nothing here touches a device.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_time, median, paired, parser, spread, table

HEAVY = ("torch", "pandas", "matplotlib", "numpy", "scipy")
PROBE = ("import sys, atexit\n"
         "atexit.register(lambda: sys.stderr.write('\\nHEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules)"
         " + '\\n'))\n"
         "sys.argv = ['gradscope', '--help']\n"
         "from gradscope.cli import main\n"
         "main()\n")


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=None, help="runs of each command (default 15, quick 5)")
    args = p.parse_args()
    repeats = args.repeats or (5 if args.quick else 15)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), COLUMNS="100", NO_COLOR="1")
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "import gradscope": [py, "-c", "import gradscope"],
        "python -m gradscope --help": [py, "-m", "gradscope", "--help"],
    }
    script = shutil.which("gradscope", path=str(Path(py).parent)) or shutil.which("gradscope")
    if script:
        commands["gradscope --help"] = [script, "--help"]
    commands["import torch (for scale)"] = [py, "-c", "import torch"]

    probe = subprocess.run([py, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, env=env,
                           check=False)
    heavy = next((line[6:] for line in probe.stderr.splitlines() if line.startswith("HEAVY=")), None)
    if probe.returncode != 0 or heavy is None:
        raise SystemExit(f"gradscope --help failed:\n{probe.stderr}")
    loaded = [m for m in heavy.split(",") if m]

    for argv in commands.values():  # warm the file cache
        subprocess.run(argv, capture_output=True, env=env, check=False)
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            subprocess.run(commands[name], capture_output=True, env=env, check=True)
            times[name].append(time.perf_counter() - t0)
    base = times["python -c pass"]
    rows = [[name, fmt_time(median(t)), f"+-{spread(t):.0%}", f"{median(paired(t, base)):.1f}x",
             fmt_time(median(t) - median(base))] for name, t in times.items()]
    print(f"# startup: python {sys.version.split()[0]}, {repeats} interleaved runs each, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(table(rows, ["command", "median", "noise", "/ python -c pass", "added"]))
    verdict = "OK" if not {"torch", "pandas", "matplotlib"} & set(loaded) else "FAIL"
    print(f"\n`gradscope --help` imported: {', '.join(loaded) or 'none'} of {', '.join(HEAVY)}; "
          f"issue 6 requires no torch, pandas or matplotlib: {verdict}")
    if args.json:
        print(json.dumps({"heavy_imports": loaded, "ok": verdict == "OK",
                          "seconds": {k: median(v) for k, v in times.items()},
                          "ratio_to_python": {k: median(paired(v, base)) for k, v in times.items()}}, indent=2))
    if verdict != "OK":
        sys.exit(1)


if __name__ == "__main__":
    main()
