"""A run folder's PNG plots, built on `matplotlib.figure.Figure` (no pyplot: no global registry, no windows).

Non-finite steps are drawn, never dropped: a red band marks each step whose loss or gradient norm was NaN or
Inf, the failure that wandb and TensorBoard charts silently leave out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gradscope.trace.run_folder import HEATMAP_PLOT, LOSS_PLOT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gradscope.diagnose.diagnosis import Diagnosis
    from gradscope.trace.trace import Trace

WIDTH = 9.0  # inches, every PNG gradscope draws
CHAR_WIDTH = 0.6  # of a font size: DejaVu Sans' widest common glyphs, to size a margin for a tick label's text
TICK_FONT = 7  # the heatmap's parameter names ...
NAME_MARGIN = 3.5  # ... in at most this many inches of its width, shortened from the front beyond
_MARKERS = {"critical": "#c0392b", "warning": "#e67e22", "info": "#7f8c8d"}


def figure(height: float, *, left: float = 0.85, right: float = 0.2) -> Figure:
    """A blank figure WIDTH inches wide with its margins set in inches (`left`: room for the y tick labels and the
    y label; `right`: for a colorbar's).

    A bare Figure renders PNGs with the Agg canvas by itself: no matplotlib.use(...), which would switch the
    backend of the user's whole process (a notebook's inline plots included). The margins are fixed, not found
    by a layout engine: constrained layout measured every tick label twice, half the time a run folder's plots
    took (0.5 s of 1.0 s, spent after every diagnose).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height))
    fig.subplots_adjust(left=left / WIDTH, right=1 - right / WIDTH, bottom=0.55 / height, top=1 - 0.35 / height,
                        hspace=0.1)
    return fig


def mark_nonfinite(ax, steps: np.ndarray, values: np.ndarray, label: str) -> None:
    """Shade steps whose value is NaN/Inf and put an x at the top of the axis."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    for first, last in _runs(steps[bad]):  # a band per run of steps (one per step: 188 patches for one NaN run)
        ax.axvspan(first - 0.5, last + 0.5, color="#c0392b", alpha=0.25, lw=0)
    top = ax.get_ylim()[1]
    ax.plot(steps[bad], np.full(bad.sum(), top), "x", color="#c0392b", label=f"{label} NaN/Inf")


def _runs(steps: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive steps in the sorted `steps`."""
    if not len(steps):
        return []
    breaks = np.flatnonzero(np.diff(steps) != 1)
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, len(steps) - 1]
    return [(int(steps[a]), int(steps[b])) for a, b in zip(starts, ends, strict=True)]


def loss_and_grad_norm(trace: Trace, diagnosis: Diagnosis | None = None, clip: float | None = None) -> Figure:
    """Loss and global gradient norm (log scale) over steps, with symptom markers and non-finite steps."""
    fig = figure(6.0)
    ax_loss, ax_norm = fig.subplots(2, 1, sharex=True)
    steps, loss, norm = trace.steps, trace.loss, trace.grad_norm
    ax_loss.plot(steps, np.where(np.isfinite(loss), loss, np.nan), color="#2c3e50", lw=1.2, label="loss")
    finite = loss[np.isfinite(loss)]
    if len(finite) and finite.min() > 0 and finite.max() / max(finite.min(), 1e-300) > 100:
        ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss")
    mark_nonfinite(ax_loss, steps, loss, "loss")
    positive = np.where(np.isfinite(norm) & (norm > 0), norm, np.nan)
    ax_norm.plot(steps, positive, color="#2980b9", lw=1.2, label="grad norm (pre-clip)")
    if not np.isnan(positive).all():
        ax_norm.set_yscale("log")
    threshold = clip if clip is not None else (trace.info.clip_threshold if trace.info.clip_mode == "norm" else None)
    if threshold:
        ax_norm.axhline(threshold, color="#27ae60", ls="--", lw=1, label=f"clip norm {threshold:g}")
    ax_norm.set_ylabel("global grad L2 norm")
    ax_norm.set_xlabel("optimizer step")
    mark_nonfinite(ax_norm, steps, norm, "grad")
    if diagnosis is not None:
        for s in diagnosis.symptoms:
            for ax in (ax_loss, ax_norm):
                ax.axvline(s.step, color=_MARKERS[s.severity.value], lw=0.8, ls=":")
            ax_loss.annotate(s.kind.value, (s.step, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                             va="top", ha="right", fontsize=7, color=_MARKERS[s.severity.value])
    title = trace.info.label or "run"
    if diagnosis is not None:
        title += f": {diagnosis.verdict}"
    ax_loss.set_title(title)
    for ax in (ax_loss, ax_norm):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return fig


def _fitted(name: str) -> str:
    """A parameter's name as the heatmap's margin (at most NAME_MARGIN inches) holds it: its end, the most specific
    part (`...layers.11.self_attn.q_proj.weight`), when it is longer."""
    room = int(NAME_MARGIN * 72 / (CHAR_WIDTH * TICK_FONT))
    return name if len(name) <= room else "..." + name[-(room - 3):]


def layer_heatmap(trace: Trace) -> Figure | None:
    """log10 gradient norm per parameter (rows, model order) over steps (columns); NaN/Inf in red."""
    steps, norms = trace.grad_norms.series()
    if not len(steps) or not trace.info.param_names:
        return None
    from matplotlib.colors import ListedColormap

    names = trace.info.param_names
    with np.errstate(divide="ignore", invalid="ignore"):
        logn = np.log10(norms.T)
    bad = ~np.isfinite(norms.T)
    shown = np.where(np.isfinite(logn), logn, np.nan)
    height = min(2.0 + 0.22 * len(names), 14)
    labels = [_fitted(n) for n in names] if len(names) <= 60 else \
        [_fitted(n) if i % 5 == 0 else "" for i, n in enumerate(names)]
    fig = figure(height, left=0.25 + max(map(len, labels)) * CHAR_WIDTH * TICK_FONT / 72, right=0.4)
    ax = fig.subplots()
    extent = (steps[0] - 0.5, steps[-1] + 0.5, len(names) - 0.5, -0.5)
    image = ax.imshow(shown, aspect="auto", interpolation="nearest", cmap="viridis", extent=extent)
    if bad.any():
        ax.imshow(np.where(bad, 1.0, np.nan), aspect="auto", interpolation="nearest",
                  cmap=ListedColormap(["#e74c3c"]), extent=extent)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(labels, fontsize=TICK_FONT)
    ax.set_xlabel("optimizer step")
    ax.set_title("log10 gradient L2 norm per parameter (red: NaN/Inf)")
    fig.colorbar(image, ax=ax, label="log10 grad norm")
    return fig


def write_run_plots(run_dir: Path, trace: Trace, diagnosis: Diagnosis) -> None:
    """A run folder's PNGs: loss and global norm over steps, and the per-layer heatmap when there is one."""
    loss_and_grad_norm(trace, diagnosis).savefig(run_dir / LOSS_PLOT, dpi=110)
    heatmap = layer_heatmap(trace)
    if heatmap is not None:
        heatmap.savefig(run_dir / HEATMAP_PLOT, dpi=110)
