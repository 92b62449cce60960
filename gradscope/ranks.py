"""Which process writes: under torch.distributed only rank 0 writes run folders and prints results.

Ground: the run folder, the Monitor and the recorder ask it; nothing here imports torch (a process group cannot
exist before torch is imported, so its absence from sys.modules answers the question).
"""

from __future__ import annotations

import sys


def rank() -> int:
    """This process's rank in the default process group; 0 without one."""
    dist = sys.modules.get("torch.distributed")  # no process group can exist before torch is imported
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return 0
    return dist.get_rank()


def is_writer() -> bool:
    """True on the one process that writes run folders and prints results: rank 0, or the only process."""
    return rank() == 0
