"""Keep README.md true: every console example is the output of its command, every shown file is the file.

The README marks what it shows, just before a fenced block:

    <!-- example: gradscope diagnose examples/llama.toml -->     the block is `$ COMMAND` and what it prints
    <!-- file: examples/rnn.toml -->                              the block is that file, whole
    <!-- generated: thresholds -->  ...  <!-- /generated -->      the text between is made from the code

`python tools/readme.py --write` reruns every command and rewrites the blocks that differ; `--check` reruns them and
exits 1 naming each block that differs (tests/test_readme.py runs it); `--only TEXT` keeps the examples whose command
contains TEXT. A command runs from a fresh folder holding a copy of `examples/`, with this checkout's gradscope
(`gradscope`, `torchrun` and `python` mean this interpreter), one torch thread, no colour, stderr merged into
stdout as a terminal shows them. A plain `gradscope ARGS` (no pipe, no attached command) runs the app in this
process, with the same arguments, folder and environment; anything else runs in bash. What changes from run to
run is normalised: wall times, the run folder's time stamp, the temporary folder's path. What changes from machine to
machine is pinned (torch's AVX2 kernels: KERNELS) or let through: a number within NUMBER_TOLERANCE (`same`).
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
MARKER = re.compile(r"^<!-- (example|file|generated): (.+?) -->\n", re.M)
FENCE = re.compile(r"(?P<open>```[a-z]*\n)(?P<body>.*?)^```\n", re.M | re.S)
GENERATED_END = "<!-- /generated -->\n"
STAMP = "20261202-051000"  # every run folder's time stamp reads as this one
# Lightning's start-up lines name the machine's accelerators and advertise packages: not gradscope's output.
MACHINE_BANNER = re.compile(r"^(GPU|TPU|HPU|IPU) available: |^💡 Tip: ")
LANGUAGES = {".py": "python", ".toml": "toml", ".json": "json", ".yml": "yaml", ".yaml": "yaml"}
# The README's numbers are those of torch's AVX2 kernels (ATen's vectorised loops, MKL's, oneDNN's). On a CPU with
# AVX-512 torch picks wider kernels by default, whose sums round in another order; a run at the edge of stability
# (the README shows several) amplifies that from its first steps, and its late numbers, even its verdict's step,
# differ (the Llama compare's final loss 3.43 -> 3.34 on an AMD EPYC with AVX-512). Pinned, every x86-64 CPU with
# AVX2 computes the same digits. Set before torch loads: the tests' conftest and main() below pin them.
KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


@dataclass(frozen=True)
class Block:
    kind: str  # example | file | generated
    what: str  # the command, the file's path, or the generator's name
    start: int  # where the replaced text starts and ends in the README
    end: int
    current: str  # the text there now
    opening: str = ""  # the fence's opening line (examples and files)


def blocks(text: str) -> list[Block]:
    """Every marked block of the README, in order."""
    found = []
    for marker in MARKER.finditer(text):
        kind, what = marker.group(1), marker.group(2).strip()
        if kind == "generated":
            end = text.index(GENERATED_END, marker.end())
            found.append(Block(kind, what, marker.end(), end, text[marker.end():end]))
            continue
        fence = FENCE.match(text, marker.end())
        if fence is None:
            raise SystemExit(f"README.md: <!-- {kind}: {what} --> is not followed by a fenced block")
        found.append(Block(kind, what, fence.start("body"), fence.end("body"), fence.group("body"),
                           fence.group("open")))
    return found


def runnable(command: str) -> str:
    """The command as this checkout runs it: `gradscope`, `torchrun` and `python` are this interpreter (and the
    `python` of an attached command, after `--`, is found first on the PATH `environment` gives)."""
    python = shlex.quote(sys.executable)
    replacements = {"gradscope": f"{python} -m gradscope", "torchrun": f"{python} -m torch.distributed.run",
                    "python": python}
    return re.sub(r"(^|&& |\| |; )(gradscope|torchrun|python)\b",
                  lambda m: m.group(1) + replacements[m.group(2)], command)


# A number as printed (1.383e+12, -1.5%, 0.000574, 40): the token `same` compares within NUMBER_TOLERANCE.
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
# Even on the same kernels another CPU (another cache size: other blocks in oneDNN's sums) can round a last digit
# otherwise, and a run that blows up carries it into the 4th significant digit the reports print (a weight norm
# 8.267e+08 against 8.268e+08, 0.012%): one in that digit is at most 0.1%. A path that differs (another step, another
# winner, another verdict) moves a number by more: step 100 against 101 is 1%.
NUMBER_TOLERANCE = 0.001
# Table rules, padding and where a long line wraps follow the width of the numbers printed.
PADDING = re.compile(r"\s+|([─━])\1+")


def same(shown: str, made: str) -> bool:
    """Whether `made` prints what `shown` does: the same words, every number within NUMBER_TOLERANCE of its own."""
    if shown == made:
        return True
    flat = [PADDING.sub(lambda m: m.group(1) or " ", text) for text in (shown, made)]
    words, numbers = [NUMBER.split(text) for text in flat], [NUMBER.findall(text) for text in flat]
    if words[0] != words[1] or len(numbers[0]) != len(numbers[1]):
        return False
    return all(a == b or math.isclose(float(a), float(b), rel_tol=NUMBER_TOLERANCE)
               for a, b in zip(*numbers, strict=True))


def pin_kernels() -> None:
    """Compute with the README's kernels (KERNELS) in this process and the commands it starts, unless the
    environment names others."""
    for name, value in KERNELS.items():
        os.environ.setdefault(name, value)


def environment() -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # `-- python` is this one
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PATH=path,
               TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    for name in ("FORCE_COLOR", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def normalised(output: str, folder: Path) -> str:
    """The output without what changes from run to run: the folder it ran in, the repository's path, wall
    times, time stamps; no trailing spaces (rich pads table cells)."""
    output = re.sub(r"(time )\d+(\.\d+)?ms", r"\g<1>1.00ms", output)  # an attached script's own step timings
    for path in (folder.resolve(), folder, REPO):
        output = output.replace(f"{path}/", "").replace(str(path), ".")
    output = re.sub(r"\d{8}-\d{6}", STAMP, output)
    output = re.sub(r"'(train_runtime|train_samples_per_second|train_steps_per_second)': '[0-9.e+-]+'", r"'\1': '1.0'",
                    output)  # the Hugging Face Trainer's own timings
    lines = [line for line in output.splitlines() if not MACHINE_BANNER.match(line)]
    output = "\n".join(_wall_times(line.rstrip()) for line in lines)
    return output.strip("\n") + "\n"


def _wall_times(line: str) -> str:
    """`wall time │ 2.17s │ 12.3s` reads `wall time │ 1.0s  │ 1.0s ` whatever the machine: same widths."""
    if not line.startswith("wall time"):
        return re.sub(r'("seconds": )[0-9.e-]+', r"\g<1>0.1", line)
    return re.sub(r"\d+(\.\d+)?s", lambda m: "1.0s".ljust(len(m.group())), line).rstrip()


def in_process(command: str) -> tuple[str, list[str]] | None:
    """(folder, arguments) of a plain `[cd FOLDER && ]gradscope ARGS` that attaches no command (no `--`): it can run
    in this process; None for anything else (a pipe, torchrun, a script, an attached command)."""
    match = re.fullmatch(r"(?:cd (\S+) && )?gradscope ([^|;&<>]*)", command)
    if match is None:
        return None
    args = shlex.split(match.group(2))
    return None if "--" in args else (match.group(1) or ".", args)


def run_example(command: str) -> str:
    with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
        folder = Path(tmp)
        # A copy, not a link: what a command writes (`--out run` in examples/pyproject) stays in the folder.
        shutil.copytree(REPO / "examples", folder / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        plain = in_process(command)
        code, output = _invoke(folder / plain[0], plain[1]) if plain else _shell(command, folder)
        output = normalised(output, folder)
    if "Traceback (most recent call last)" in output:
        raise RuntimeError(f"`{command}` failed (exit {code}):\n{output}")
    return f"$ {command}\n{output}"


def _shell(command: str, folder: Path) -> tuple[int, str]:
    done = subprocess.run(["bash", "-c", runnable(command)], cwd=folder, env=environment(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    return done.returncode, done.stdout


def _invoke(folder: Path, args: list[str]) -> tuple[int, str]:
    """The gradscope app itself, through typer's CliRunner: the same arguments, folder, environment and merged
    output as in bash, without a new interpreter's torch import (4 s each, most of what a small example costs).
    Not thread-safe (it changes folder and streams): main() runs these one at a time."""
    import warnings

    import torch
    from typer.testing import CliRunner

    _import_checkout()  # PYTHONPATH=REPO in bash
    from gradscope.cli import app

    env = environment()
    changes: dict[str, str | None] = {name: value for name, value in env.items() if os.environ.get(name) != value}
    changes |= {name: None for name in os.environ if name not in env}  # what bash's environment leaves out
    changes["COLUMNS"] = "80"  # bash's width, not a terminal's: this process may have one
    threads, cwd = torch.get_num_threads(), Path.cwd()
    torch.set_num_threads(1)  # OMP_NUM_THREADS=1 in bash
    os.chdir(folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PYTHONWARNINGS=ignore in bash
            result = CliRunner(env=changes).invoke(app, args, prog_name="gradscope")
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        return 4, result.output + "".join(traceback.format_exception(result.exception))
    return result.exit_code, result.output


def _import_checkout() -> None:
    """This checkout's gradscope is the one imported, ahead of any installed copy."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def slowest_first(chosen: list[Block]) -> list[Block]:
    """torchrun's and recommend's commands first, so that the last minutes of a pool (or of the test workers) are
    not one long command alone."""
    return sorted(chosen, key=lambda b: ("torchrun" not in b.what, "recommend" not in b.what))


def show_file(path: str) -> str:
    return (REPO / path).read_text()


def thresholds_table() -> str:
    """The main detector thresholds with their defaults, read from gradscope.Thresholds."""
    _import_checkout()
    from gradscope import Thresholds

    defaults = Thresholds()
    groups = [
        (("grad_spike_ratio", "loss_spike_ratio", "spike_z", "spike_window"),
         "spikes: ratio to the median of the previous `spike_window` steps, robust z on the log scale"),
        (("max_doubling_steps", "min_r2", "min_growth_over_baseline", "growth_windows"), "exploding gradient"),
        (("diverged_over_start", "lost_progress", "lost_over_best", "plateau_max_improvement"),
         "loss divergence and plateau"),
        (("weight_max_doubling_steps", "weight_growth_warning", "weight_near_overflow"), "weight growth"),
        (("vanishing_ratio", "vanishing_ratio_untrained", "dead_fraction", "collapse_ratio"), "vanishing gradients"),
    ]
    rows = ["| threshold | default | detector |", "|---|---|---|"]
    for names, detector in groups:
        values = ", ".join(_value(getattr(defaults, name)) for name in names)
        rows.append(f"| {', '.join(f'`{n}`' for n in names)} | {values} | {detector} |")
    return "\n".join(rows) + "\n"


def _value(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if isinstance(value, float) and (abs(value) >= 1e5 or 0 < abs(value) < 1e-2):
        return f"{value:.0e}".replace("e+", "e").replace("e-0", "e-").replace("e0", "e")
    return f"{value:g}" if isinstance(value, float) else str(value)


GENERATORS: dict[str, Callable[[], str]] = {"thresholds": thresholds_table}


def fresh(block: Block) -> str:
    if block.kind == "example":
        return run_example(block.what)
    if block.kind == "file":
        return show_file(block.what)
    if block.what not in GENERATORS:
        raise SystemExit(f"README.md: no generator named {block.what!r} (known: {', '.join(GENERATORS)})")
    return GENERATORS[block.what]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    action.add_argument("--check", action="store_true", help="exit 1 when a block differs from what it shows")
    parser.add_argument("--only", help="only the examples whose command contains this text (files: always)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("README_JOBS", "2")),
                        help="commands run at once (default 2, or $README_JOBS)")
    args = parser.parse_args(argv)
    pin_kernels()

    text = README.read_text()
    chosen = [b for b in blocks(text) if b.kind != "example" or not args.only or args.only in b.what]
    # The commands run in bash go to the pool, the slowest first; those that run in this process, one at a time
    # meanwhile.
    alone = [b for b in chosen if b.kind == "example" and in_process(b.what)]
    order = slowest_first([b for b in chosen if b not in alone])
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        pending = pool.map(attempt, order)
        made = {b: attempt(b) for b in alone}
        made |= dict(zip(order, pending, strict=True))
    failed = [b for b in chosen if isinstance(made[b], Exception)]
    for block in failed:
        print(f"README.md: <!-- {block.kind}: {block.what} --> could not be made: {made[block]}", file=sys.stderr)
    stale = [b for b in chosen if b not in failed and  # shown files and generated tables do not vary by machine
             not (same(b.current, made[b]) if b.kind == "example" else b.current == made[b])]
    for block in stale:
        print(f"README.md: <!-- {block.kind}: {block.what} --> differs:", file=sys.stderr)
        sys.stderr.writelines(difflib.unified_diff(block.current.splitlines(keepends=True),
                                                   made[block].splitlines(keepends=True), "README.md", "now"))
    if args.write and stale:
        for block in sorted(stale, key=lambda b: b.start, reverse=True):
            text = text[:block.start] + made[block] + text[block.end:]
        README.write_text(text)
        print(f"README.md: {len(stale)} of {len(chosen)} block(s) rewritten", file=sys.stderr)
    elif not stale and not failed:
        print(f"README.md: all {len(chosen)} block(s) current", file=sys.stderr)
    return 1 if failed or (stale and args.check) else 0


def attempt(block: Block) -> str | Exception:
    """The block's fresh text, or why it could not be made (the other blocks still are)."""
    try:
        return fresh(block)
    except Exception as exc:  # a command that failed: reported with the others, its block left as it is
        return exc


if __name__ == "__main__":
    sys.exit(main())
