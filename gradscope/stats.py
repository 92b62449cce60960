"""Small robust statistics shared by the detectors and the Guard (numpy only): one home for each."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826  # scales the median absolute deviation to a standard deviation for normal noise


def first_nonfinite(values: np.ndarray) -> int | None:
    """Index of the first NaN/Inf in `values`, or None."""
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if len(bad) else None


def finite_prefix(values: np.ndarray) -> np.ndarray:
    """`values` up to (not including) the first NaN/Inf."""
    cut = first_nonfinite(values)
    return values if cut is None else values[:cut]


def robust_sigma(values: np.ndarray) -> float:
    """MAD-based spread: one outlier cannot inflate it, unlike the standard deviation."""
    med = float(np.median(values))
    return MAD_TO_SIGMA * float(np.median(np.abs(values - med)))


@dataclass(frozen=True)
class LogFit:
    """Least-squares line through log(values) over steps: growth per step, and how straight the line is."""

    slope: float  # natural-log growth per step
    r2: float

    @property
    def factor_per_step(self) -> float:
        return math.exp(self.slope)

    @property
    def doubling_steps(self) -> float:
        return math.log(2) / self.slope if self.slope > 0 else math.inf

    def grows(self, max_doubling: float, min_r2: float) -> bool:
        """Exponential growth: doubling at least every `max_doubling` steps, on a line at least `min_r2` straight
        (the one rule the exploding-gradient detector and the Guard both apply)."""
        return self.slope >= math.log(2) / max_doubling and self.r2 >= min_r2


def log_fit(values: np.ndarray) -> LogFit:
    """Fit log(values) = a + b*step; `values` must be positive and finite."""
    y = np.log(values)
    t = np.arange(len(y), dtype=np.float64)
    t -= t.mean()
    yc = y - y.mean()
    sxx = float(t @ t)
    slope = float(t @ yc) / sxx
    ss_tot = float(yc @ yc)
    resid = yc - slope * t
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 0.0
    return LogFit(slope, r2)


def late_window(values: np.ndarray, fraction: float, *, round_up: bool = False, at_least: int = 3) -> np.ndarray:
    """A run's last `fraction` of `values` (at least `at_least` of them): `late_level`'s window."""
    n = len(values) * fraction
    return values[-max(at_least, math.ceil(n) if round_up else int(n)):]


def late_level(values: np.ndarray, fraction: float, *, round_up: bool = False, at_least: int = 3) -> float:
    """Where a run ends: the median of its last `fraction` of `values` (at least `at_least` of them), +inf when
    that window holds a NaN/Inf (a run that ends blown up has no level). The window is `fraction` of the values
    rounded down (the detectors' loss levels) or, with `round_up`, up (recommend's trial scores); the two
    roundings predate this one home and are kept so that neither report's numbers move."""
    window = late_window(values, fraction, round_up=round_up, at_least=at_least)
    return float(np.median(window)) if np.all(np.isfinite(window)) else math.inf


@dataclass(frozen=True)
class EdgeLevels:
    """The start and the end of a run's series, its noise averaged out: the medians of its first and last
    windows."""

    start: float
    late: float
    window: int  # the steps the late level is the median of
    head: int  # the steps the start level is the median of


def edge_levels(values: np.ndarray, edge_fraction: float, start_steps: int) -> EdgeLevels:
    """The medians of the first and the last `edge_fraction` of `values` (finite), each over at least 3 steps, the
    start over at most `start_steps` (a run can blow up early); NaN levels for no values."""
    k = max(3, int(len(values) * edge_fraction))
    head = max(3, min(k, start_steps))
    if not len(values):
        return EdgeLevels(math.nan, math.nan, k, head)
    return EdgeLevels(float(np.median(values[:head])), late_level(values, edge_fraction), k, head)


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of each trailing window (shorter at the start); vectorised over a strided view."""
    values = np.asarray(values, np.float64)
    n = len(values)
    window = max(1, min(window, n))
    out = np.empty(n)
    for i in range(min(window - 1, n)):  # the short windows at the start
        out[i] = np.median(values[: i + 1])
    if n >= window:
        out[window - 1:] = np.median(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)
    return out


def log_noise(loss: np.ndarray) -> float:
    """Step-to-step noise of the log loss (robust: spikes and trends do not count), 0 for a smooth run."""
    positive = loss[loss > 0]
    if len(positive) < 5:
        return 0.0
    logs = np.log(positive)
    return robust_sigma(logs - rolling_median(logs, 5))
