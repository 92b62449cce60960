"""What the attached processes tell the parent: one JSON object a line, appended to the control file.

Every rank of every process writes here (a line per write, opened in append mode: lines do not interleave).
The parent reads it once the command has ended (`read`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gradscope.attach.settings import Settings


def tell(settings: Settings, **fields: Any) -> None:
    """Append `fields` (with this process's pid and rank) to the control file, if there is one."""
    if settings.control is None:
        return
    from gradscope.ranks import rank

    line = json.dumps({"pid": os.getpid(), "rank": rank(), **fields}, default=str) + "\n"
    fd = os.open(settings.control, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read(path: Path) -> list[dict[str, Any]]:
    """Every message written, in order; a line cut short (a process killed while writing) is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    messages = []
    for line in text.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    return messages
