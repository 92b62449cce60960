"""Overlaid PNG plots of compared runs, built on `matplotlib.figure.Figure` (no pyplot).

Non-finite steps are drawn, never dropped: each run's NaN/Inf steps get an x in the run's colour at the top of
the axis and a dotted line at the first one. Gradient norms are the ones measured before clipping, on a log
scale, with each run's clip threshold drawn in its colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from gradscope.record.plots import figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradscope.clip.setting import Clip
    from gradscope.trace.trace import Trace


class Plotted(Protocol):
    """What a drawn run needs: compare's runs and recommend's trials both have it."""

    label: str
    clip: Clip | None
    trace: Trace

    @property
    def first_nonfinite_step(self) -> int | None: ...

BASELINE_COLOR = "#2c3e50"
COLORS = ("#2980b9", "#27ae60", "#e67e22", "#8e44ad", "#16a085", "#c0392b", "#d35400", "#7f8c8d")


def _color(index: int) -> str:
    return BASELINE_COLOR if index == 0 else COLORS[(index - 1) % len(COLORS)]


def _plot_series(ax: Axes, runs: Sequence[Plotted], column: str, *, log: bool = False,
                 clip_mode: str | None = None) -> None:
    """One line per run over its finite values, the `clip_mode` thresholds, and last (so the y-limits are
    final) an x for each NaN/Inf step."""
    bad_marks = []
    for i, run in enumerate(runs):
        steps, values = run.trace.steps, run.trace.column(column)
        finite = np.isfinite(values)
        label = run.label
        first = run.first_nonfinite_step  # what a plain loop sees first (a float32 norm overflow included)
        if first is not None:
            label += f" (NaN/Inf from step {first})"
        ax.plot(steps, np.where(finite, values, np.nan), color=_color(i), lw=1.2, label=label)
        if not finite.all():
            bad_marks.append((i, steps[~finite]))
    values = np.concatenate([r.trace.column(column) for r in runs])
    shown = values[np.isfinite(values) & (values > 0)]
    if len(shown) and (log or shown.max() / shown.min() > 100) and len(shown) == np.isfinite(values).sum():
        ax.set_yscale("log")
    for i, run in enumerate(runs):
        if clip_mode is not None and run.clip is not None and run.clip.mode == clip_mode:
            ax.axhline(run.clip.threshold, color=_color(i), ls="--", lw=1, label=f"{run.label} threshold")
    for i, bad in bad_marks:
        ax.axvline(bad[0], color=_color(i), lw=0.8, ls=":")
        ax.plot(bad, np.full(len(bad), ax.get_ylim()[1]), "x", color=_color(i), ms=5, clip_on=False)


def _finish(ax: Axes, ylabel: str) -> None:
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


def loss_overlay(runs: Sequence[Plotted]) -> Figure:
    """The loss of every run over optimizer steps, one colour per run (the baseline dark), NaN/Inf marked."""
    fig = figure(4.5)
    ax = fig.subplots()
    _plot_series(ax, runs, "loss")
    ax.set_xlabel("optimizer step")
    ax.set_title("loss: " + " vs ".join(r.label for r in runs))
    _finish(ax, "loss")
    return fig


def grad_norm_overlay(runs: Sequence[Plotted]) -> Figure:
    """Global gradient L2 norm before clipping (log scale) with each norm clip drawn; NaN/Inf marked.

    Value clipping bounds each element, not the norm, so when a run clips by value a second panel shows the
    largest |gradient element| with those thresholds.
    """
    by_value = [r for r in runs if r.clip is not None and r.clip.mode == "value"]
    fig = figure(7.5 if by_value else 4.5)
    axes = fig.subplots(2 if by_value else 1, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    # Always log: norms span decades when a run explodes, and thresholds read better against them.
    _plot_series(ax, runs, "grad_norm", log=True, clip_mode="norm")
    ax.set_title("gradient norm before clipping: " + " vs ".join(r.label for r in runs))
    _finish(ax, "global grad L2 norm")
    if by_value:
        _plot_series(axes[1], runs, "grad_max_abs", log=True, clip_mode="value")
        _finish(axes[1], "max |grad element|")
    axes[-1].set_xlabel("optimizer step")
    return fig
