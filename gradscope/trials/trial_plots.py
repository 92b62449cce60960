"""recommend's trials as pictures: every trial's loss and gradient norm over optimizer steps, overlaid with compare's
renderer, read back from the trial folders recommend keeps, so a config's trials and a script's reruns are drawn
alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gradscope.clip.setting import Clip
from gradscope.trace.run_folder import TRACE_FILE, TRIALS_GRAD_NORM_PLOT, TRIALS_LOSS_PLOT, is_run_folder
from gradscope.trace.trace import Trace, first_nonfinite_step

UNCLIPPED = "unclipped"  # the trial folder drawn as the baseline (dark), the others after it


@dataclass(frozen=True)
class PlottedTrial:
    """What the overlay needs of a trial: its folder's name as its label, its clip, its trace."""

    label: str
    clip: Clip | None
    trace: Trace

    @property
    def first_nonfinite_step(self) -> int | None:
        return first_nonfinite_step(self.trace)


def trials_in(run_dir: Path) -> list[PlottedTrial]:
    """The trials recorded under recommend's `run_dir`: the unclipped run first, then the clips by threshold, then
    the alternatives (a lower lr, a warm-up) by name."""
    from gradscope.sources.run_reader import read_trace

    found = []
    for folder in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        if is_run_folder(folder) and (folder / TRACE_FILE).is_file():
            trace = read_trace(folder)
            if len(trace):
                found.append(PlottedTrial(folder.name, trace.info.clip, trace))

    def order(trial: PlottedTrial) -> tuple[int, float, str]:
        if trial.label == UNCLIPPED:
            return (0, 0.0, "")
        threshold = trial.clip.threshold if trial.clip is not None else None
        return (1, threshold, "") if threshold is not None else (2, 0.0, trial.label)

    return sorted(found, key=order)


def write_trial_plots(run_dir: Path) -> list[Path]:
    """The overlaid loss and gradient-norm PNGs of recommend's trials in `run_dir` (none without a trial)."""
    trials = trials_in(run_dir)
    if not trials:
        return []
    from gradscope.report.compare_plots import grad_norm_overlay, loss_overlay

    written = []
    for name, build in ((TRIALS_LOSS_PLOT, loss_overlay), (TRIALS_GRAD_NORM_PLOT, grad_norm_overlay)):
        build(trials).savefig(run_dir / name, dpi=110)
        written.append(run_dir / name)
    return written
