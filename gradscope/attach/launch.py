"""Run the user's command as a child process, attached, and see it end; nothing of it is left running.

The child starts in a process group of its own, with the user's working directory, environment (plus the
attach's variables and the boot folder first on PYTHONPATH) and stdin; its stdout goes to gradscope's stderr,
so a `--json` stdout holds only the document. Ctrl-C (SIGINT) and SIGTERM to gradscope are passed to the whole
group; whatever is still running GRACE seconds later is killed, and so is anything of the group left behind once
the command has ended (a DataLoader worker, a background job of a shell script). A launcher's workers in sessions
of their own (torchrun's ranks) are found by parentage when a signal comes, and killed with it at the end: once
the launcher is killed they would be orphans, hung in a collective their peers never join. When stdin is the terminal,
the group gets the terminal's foreground while it runs, as a shell's job does (so `input()` and pdb work): Ctrl-C
then reaches the script directly, and a script that stops on it counts as interrupted.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gradscope.attach.settings import BOOT, HOME, Settings
from gradscope.errors import GradscopeError

GRACE = 10.0  # seconds between passing Ctrl-C on and killing what is left


@dataclass(frozen=True)
class Ended:
    """How the command ended: its exit status (negative: killed by that signal) and whether gradscope was
    interrupted (Ctrl-C or SIGTERM) while it ran."""

    returncode: int
    interrupted: bool
    seconds: float


def check_command(command: list[str]) -> None:
    """A command that cannot start is bad input: one line, before anything runs."""
    if not command:
        raise GradscopeError("no command after `--` (fix: gradscope diagnose -- python train.py)")
    program = command[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        if not Path(program).is_file():
            raise GradscopeError(f"{program}: no such file (fix: check the path of the command after `--`)")
        if not os.access(program, os.X_OK):
            raise GradscopeError(f"{program}: not executable (fix: chmod +x {program}, or run it with its "
                                 "interpreter: -- python script.py)")
    elif shutil.which(program) is None:
        raise GradscopeError(f"{program}: command not found (fix: check its spelling, or the PATH it is on)")


def child_environ(settings: Settings) -> dict[str, str]:
    """The user's environment with the attach's variables and the boot folder first on PYTHONPATH."""
    env = dict(os.environ)
    env.update(settings.environ())
    env[HOME] = str(Path(__file__).resolve().parents[2])
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(BOOT) + (os.pathsep + path if path else "")
    return env


def run(command: list[str], settings: Settings) -> Ended:
    """Run `command` attached with `settings` until it ends; see the module docstring."""
    check_command(command)
    start = time.perf_counter()
    try:
        child = subprocess.Popen(command, env=child_environ(settings), stdout=_stderr_fd(), process_group=0)
    except OSError as exc:
        raise GradscopeError(f"{command[0]}: cannot run it ({exc.strerror or exc}) (fix: check the command "
                             "after `--`)") from None
    interrupted_at: list[float] = []
    terminal = _terminal()
    if terminal is not None:  # the script reads the terminal as it would without gradscope (input(), pdb)
        _hand_terminal(terminal, child.pid)

    spawned: set[int] = set()  # the command's descendants, as seen when a signal came

    def on_signal(signum: int, _frame: object) -> None:
        interrupted_at.append(time.monotonic())
        spawned.update(descendants(child.pid))
        _signal_group(child.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    def kill_all() -> None:
        if interrupted_at:
            spawned.update(descendants(child.pid))
        _signal_group(child.pid, signal.SIGKILL)
        for pid in spawned:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while child.poll() is None:
            try:
                child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if interrupted_at and time.monotonic() - interrupted_at[0] > GRACE:
                    kill_all()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        kill_all()  # anything of the command's group left behind, and a launcher's workers once interrupted
        child.wait()
        if terminal is not None:
            _hand_terminal(terminal, os.getpgrp())
    interrupted = bool(interrupted_at) or child.returncode in (-signal.SIGINT, 128 + signal.SIGINT)
    return Ended(child.returncode, interrupted, time.perf_counter() - start)


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (children, theirs, ...), read from /proc (Linux) or `ps` (macOS); empty where
    neither is there."""
    parents: dict[int, int] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if entry.name.isdigit():  # stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses
                    parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
    elif shutil.which("ps"):
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            listing = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, timeout=5)
            rows = (line.split() for line in listing.stdout.splitlines() if line.strip())
            parents = {int(a): int(b) for a, b in rows}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _terminal() -> int | None:
    """stdin's file descriptor when it is the terminal and gradscope runs in its foreground, else None."""
    try:
        fd = sys.stdin.fileno()
        return fd if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp() else None
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return None


def _hand_terminal(fd: int, pgrp: int) -> None:
    """Make `pgrp` the terminal's foreground group (as a shell does for a job); a group stopped for reading the
    terminal before it had it is continued."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background process may not otherwise
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)
    if pgrp != os.getpgrp():
        _signal_group(pgrp, signal.SIGCONT)


def _stderr_fd() -> int:
    """gradscope's stderr as a file descriptor (2 when sys.stderr is not a file: a test runner's capture)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return 2


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
