"""How bad a finding is, ordered once: info < warning < critical (definition order). A run's verdict and the
CLI's `--fail-on` levels are derived from this ordering, never written out again."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"  # worth knowing, not a problem: a run with only these is healthy
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 info, 1 warning, 2 critical: the position in the definition above."""
        return list(Severity).index(self)


HEALTHY = "healthy"
# A verdict's index is its rank: "healthy" where nothing above info was found.
VERDICTS = (HEALTHY, *(s.value for s in Severity if s.rank > 0))
FAIL_ON = ("never", *VERDICTS[1:])  # `--fail-on` levels; a level's index is the lowest rank that fails


def verdict_of(severities: Iterable[Severity]) -> str:
    """The highest severity found, info counting as healthy."""
    return VERDICTS[max((s.rank for s in severities), default=0)]


def fails(rank: int, fail_on: str) -> bool:
    """Whether a verdict of rank `rank` (0 healthy, 1 warning, 2 critical) fails at `fail_on`."""
    return fail_on != "never" and rank >= FAIL_ON.index(fail_on)
