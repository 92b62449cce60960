"""Tell a real Ctrl-C from a `KeyboardInterrupt` that the user's own code raised.

Both arrive as the same exception. While `watching()` is active, a SIGINT handler notes that the signal came
before raising `KeyboardInterrupt`, so `loading.user_code` can report a raised one as the user's error (exit 3)
and let a real Ctrl-C through (exit 130). Outside `watching()` (gradscope used as a library, or from a thread
that cannot install signal handlers) every `KeyboardInterrupt` counts as a Ctrl-C, as Python itself treats it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class _Watch:
    active = False  # a handler (or an ignored SIGINT) is in place: a KeyboardInterrupt without a signal is raised
    signalled = False  # SIGINT arrived while watching


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _Watch.signalled = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def watching() -> Iterator[None]:
    """Install the noting SIGINT handler for the block (main thread only); restore the previous one after."""
    if threading.current_thread() is not threading.main_thread() or _Watch.active:
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # an ignored SIGINT stays ignored: no Ctrl-C can come
        signal.signal(signal.SIGINT, _on_sigint)
    _Watch.active, _Watch.signalled = True, False
    try:
        yield
    finally:
        _Watch.active = False
        if previous is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def is_ctrl_c() -> bool:
    """Whether a `KeyboardInterrupt` being handled now came from the user pressing Ctrl-C (SIGINT)."""
    return not _Watch.active or _Watch.signalled
