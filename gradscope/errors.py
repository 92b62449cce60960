"""The two kinds of failure a user can act on, kept apart from gradscope's own bugs.

`GradscopeError` (and `ConfigError`) is bad input: the CLI prints it as one line and exits 2.
`UserCodeError` wraps an exception raised by the user's model, data or loss code: the CLI prints the step
and the user's own frames and exits 3. Anything else is a bug in gradscope: the CLI keeps its traceback and exits 4.
"""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Iterable
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


class GradscopeError(Exception):
    """A problem the user can fix; shown as one line, without a traceback."""


class ConfigError(GradscopeError):
    """The config, an option or something it points at is invalid. Where a config's key is at fault, `file`,
    `table` and `key` say which (`key` None: the table as a whole), so a caller can tell whose value it was."""

    def __init__(self, message: str, *, file: str | None = None, table: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.file, self.table, self.key = file, table, key


class UserCodeError(Exception):
    """The user's own code raised while gradscope ran it."""

    def __init__(self, what: str, step: int | None, error: BaseException) -> None:
        self.what = what
        self.step = step
        self.error = error
        where = f" at step {step}" if step is not None else " (while setting up, before step 0)"
        super().__init__(f"{what}{where} raised {type(error).__name__}: {error}")

    def user_frames(self) -> list[str]:
        """The traceback lines of the user's frames: gradscope's and torch's internals are left out. When torch
        raised on the user's call (a shape mismatch in `nn.Linear`), the last torch frame follows the user's
        frame that called into it, so the message shows both where and why."""
        frames = traceback.extract_tb(self.error.__traceback__)
        torch_dir = _torch_dir()

        def in_torch(frame: traceback.FrameSummary) -> bool:
            return bool(torch_dir) and _is_under(frame.filename, torch_dir)

        kept = [f for f in frames if not _is_under(f.filename, _PACKAGE_DIR) and not in_torch(f)]
        if frames and in_torch(frames[-1]):
            kept.append(frames[-1])
        elif not kept and frames:
            kept = [frames[-1]]
        return traceback.format_list(kept)

    def render(self) -> str:
        """The message the CLI prints: what raised, at which step, and the user's frames."""
        lines = [f"Error: {self}", "Traceback (your code, most recent call last):"]
        lines += [line.rstrip("\n") for line in self.user_frames()]
        return "\n".join(lines)


def _is_under(filename: str, folder: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


def _torch_dir() -> Path | None:
    import sys

    torch = sys.modules.get("torch")
    return Path(torch.__file__).resolve().parent if torch is not None and torch.__file__ else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""
