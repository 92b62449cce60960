"""A/B runs: the unclipped baseline against the same run with clipping, and the verdict on whether it helped.

Every rerun starts from the config's seed, so initial weights and data order are the baseline's and clipping
is the only difference: a clipped run is the plain loop with `clip_grad_norm_` / `clip_grad_value_` at that
threshold. Runs already recorded (by diagnose, compare or `Monitor.save`) can be compared without rerunning.
This module returns data and writes the comparison's artifacts; rendering lives in `report/`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradscope.clip.setting import Clip
from gradscope.errors import ConfigError, GradscopeError
from gradscope.numbers import number_text
from gradscope.trace.run_folder import (
    COMPARE_GRAD_NORM_PLOT,
    COMPARE_LOSS_PLOT,
    COMPARISON_FILE,
    DIAGNOSIS_FILE,
    RECOMMEND_FOLDER,
    is_run_folder,
    prepare_run_folder,
    write_text_atomic,
)

if TYPE_CHECKING:
    from gradscope.config.load import Config
    from gradscope.diagnose.diagnosis import Diagnosis, Summary
    from gradscope.monitor.monitor import StepStats
    from gradscope.trace.trace import Trace

    ProgressFactory = Callable[[str], AbstractContextManager[Callable[[int, int, StepStats], None] | None]]

BASELINE = "baseline"
ENDED_APART = 1.5  # healthy runs whose late levels are this far apart are said to have ended apart


class Outcome(StrEnum):
    """What a compared run did relative to the baseline (the `outcome` field of the JSON)."""

    FIXED = "fixed"  # the baseline had findings (warning or critical), this run has none
    HELPED = "helped"  # a lower verdict than the baseline, but not healthy; or it trained on where the baseline died
    NO_HELP = "no_help"  # the same verdict as an unhealthy baseline, and it got no further
    WORSE = "worse"  # a higher verdict than the baseline (a healthy baseline, or a warning made critical)
    HEALTHY = "healthy"  # both healthy


FIXED, HELPED, NO_HELP, WORSE, HEALTHY = Outcome


@dataclass(frozen=True)
class ConfigChange:
    """A `--try` run: the config with `changes` applied (KEY=VALUE each, as `--set`), validated."""

    changes: tuple[str, ...]
    config: Config
    index: int = 1  # its place among the --try runs, for its folder

    @property
    def label(self) -> str:
        return "; ".join(self.changes)

    @property
    def folder(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9.=_-]+", "_", "_".join(self.changes)).strip("_")[:60]
        return f"try-{self.index}-{slug}"

    @property
    def changes_clip(self) -> bool:
        """A change of a [clip] key: that run clips as changed (otherwise it runs unclipped like the baseline)."""
        return any(c.split("=", 1)[0].strip().startswith("clip.") for c in self.changes)


def split_changes(text: str) -> tuple[str, ...]:
    """`--try 'a.b=1;c.d="x"'` -> ("a.b=1", 'c.d="x"'); blank parts are dropped."""
    parts = tuple(p.strip() for p in text.split(";") if p.strip())
    if not parts:
        raise ConfigError(f"--try {text!r}: no change given (fix: e.g. --try optimizer.lr=1e-3 or "
                          "--try 'schedule.name=\"cosine\";schedule.warmup_steps=100')")
    return parts


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its trace, findings, headline numbers and folder."""

    label: str
    clip: Clip | None
    trace: Trace
    diagnosis: Diagnosis
    summary: Summary  # final/best loss, grad norms, clipped fraction, ...
    run_dir: Path
    outcome: Outcome | None = None  # against the baseline; None for the baseline itself
    error: str | None = None  # an attached run whose script raised or exited non-zero: how (it is compared as far
    #                           as it ran, a script that blew up may raise for it)

    @property
    def verdict(self) -> str:
        return self.diagnosis.verdict

    @property
    def rank(self) -> int:
        """0 healthy, 1 warning, 2 critical; a run whose script failed is judged critical (it did not finish)."""
        return 2 if self.error else self.diagnosis.severity_rank

    @property
    def first_nonfinite_step(self) -> int | None:
        return self.summary.first_nonfinite_step

    def to_dict(self) -> dict[str, Any]:
        """The contract's entry of `compare --json` `runs` (floats raw: export makes NaN/Inf strict)."""
        s = self.summary
        return {
            "label": self.label,
            "clip": None if self.clip is None else self.clip.to_dict() | (
                {"threshold": self.trace.info.clip_threshold, "events": self.trace.info.guard_events}
                if self.clip.adaptive else {}),
            "recommended": bool(self.clip and self.clip.recommended),
            "verdict": self.verdict,
            "outcome": self.outcome,
            "steps_completed": len(self.trace),
            "stopped": s.stopped,
            "first_nonfinite_step": self.first_nonfinite_step,
            "initial_loss": s.initial_loss,
            "final_loss": s.final_loss,
            "best_loss": s.best_loss,
            "max_grad_norm": s.max_grad_norm,
            "median_grad_norm": s.median_grad_norm,
            "clipped_fraction": s.clipped_fraction,
            "seconds": s.seconds,
            "symptoms": [{"kind": x.kind.value, "severity": x.severity.value, "step": x.step}
                         for x in self.diagnosis.symptoms],
            "run_dir": str(self.run_dir),
        } | ({"error": self.error} if self.error else {})


@dataclass(frozen=True)
class Comparison:
    """The runs, baseline first, and the plain-words findings; `run_dir` holds the comparison's artifacts."""

    runs: tuple[ComparedRun, ...]
    findings: tuple[tuple[str | None, str], ...]  # (outcome, sentence): the conclusion, one per finding
    run_dir: Path
    recorded: bool = False  # compared folders recorded earlier rather than fresh runs
    interrupted: bool = False
    recommendation: dict[str, Any] | None = None  # Recommendation.to_dict() when --recommended was used
    plots: tuple[Path, ...] = ()  # the overlaid loss and gradient-norm PNGs written
    notes: tuple[str, ...] = ()  # recorded folders: what was damaged in them and how it was read instead
    optimizer_run: str = ""  # a command that trains several runs (a GAN's netD and netG): the one these runs are
    others: tuple[Comparison, ...] = ()  # ... and the comparisons of its other runs, one each, alike

    @property
    def conclusion(self) -> str:
        """The findings as one line, e.g. "clip-norm 0.1 fixed the run: no NaN/Inf (baseline: NaN at step 55),
        loss 1.97 -> 0.19"; for several runs of a command, each run's, named."""
        return "; ".join(f"{c.optimizer_run}: {sentence}" if c.optimizer_run else sentence
                         for c in (self, *self.others) for _, sentence in c.findings)

    @property
    def all(self) -> tuple[Comparison, ...]:
        """This comparison and the others: every optimizer run of the command compared."""
        return (self, *self.others)

    @property
    def baseline(self) -> ComparedRun:
        return self.runs[0]

    @property
    def compared(self) -> list[ComparedRun]:
        """Every run but the baseline."""
        return self.runs[1:]

    @property
    def best(self) -> ComparedRun | None:
        """The compared run with the lowest verdict, then the lowest final loss (NaN last)."""
        if not self.compared:
            return None
        return min(self.compared, key=lambda r: (r.rank, _sort_loss(r.summary.final_loss)))

    def to_dict(self) -> dict[str, Any]:
        """The `compare --json` document."""
        best = self.best
        return {
            "runs": [r.to_dict() for r in self.runs],
            "conclusion": self.conclusion,
            "best": best.label if best is not None else None,
            "recorded": self.recorded,
            "interrupted": self.interrupted,
            "recommendation": self.recommendation,
            "plots": [str(p) for p in self.plots],
            "run_dir": str(self.run_dir),
        } | ({"optimizer_run": self.optimizer_run} if self.optimizer_run else {}) | (
            {"others": [other.to_dict() for other in self.others]} if self.others else {})


# -- input ----------------------------------------------------------------------------------------------
def parse_clips(norms: Sequence[str] = (), values: Sequence[str] = (), *, adaptive: bool = False) -> list[Clip]:
    """The clip settings asked for, validated (positive, finite), duplicates dropped, in the order given; the
    adaptive run (`--clip-adaptive`) last."""
    out: list[Clip] = []
    for mode, texts in (("norm", norms), ("value", values)):
        for text in texts:
            setting = Clip(mode, _positive(f"--clip-{mode}", text))
            if setting not in out:
                out.append(setting)
    if adaptive:
        out.append(Clip("adaptive"))
    return out


def _positive(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a number (fix: e.g. {option} 1.0)") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{option} {text} must be a positive, finite threshold (fix: e.g. {option} 1.0; "
                          "gradscope recommend suggests one)")
    return value


def is_run_dir(path: Path) -> bool:
    """Whether `path` is a run already done: a recorded run folder (it holds trace.csv) or a log a source reads
    (trainer_state.json, TensorBoard, Lightning CSVLogger, CSV, JSONL); a .toml file is a config."""
    from gradscope.sources.registry import is_log

    path = Path(path)
    return is_run_folder(path) or bool(runs_within(path)) or (path.suffix.lower() != ".toml" and is_log(path))


def runs_within(path: Path) -> list[Path]:
    """The run folders of a folder holding several, as an attached command that trains several runs (a GAN's
    netD and netG) writes them: in the order its diagnosis.json lists them, else by name; [] for any other path."""
    path = Path(path)
    if not path.is_dir() or is_run_folder(path):
        return []
    found = {child.name: child for child in path.iterdir() if is_run_folder(child)}
    try:
        listed = [r["label"] for r in json.loads((path / DIAGNOSIS_FILE).read_text())["runs"]]
    except (OSError, ValueError, KeyError, TypeError):
        listed = []
    order = [name for name in listed if name in found] + sorted(set(found) - set(listed))
    return [found[name] for name in order]


def split_paths(paths: Sequence[Path]) -> tuple[Path | None, list[Path]]:
    """(config, []) for one config or none, (None, runs) for two or more runs already done (run folders or logs,
    in any mix of formats); else an error."""
    paths = list(paths)
    runs = [p for p in paths if is_run_dir(p)]
    if not runs:
        if len(paths) > 1:
            raise ConfigError(f"{paths[1]}: give one CONFIG, or two or more runs already done (run folders or "
                              "logs: trainer_state.json, TensorBoard, Lightning, CSV, JSONL) to compare as they are")
        return (paths[0] if paths else None), []
    others = [p for p in paths if p not in runs]
    if others:
        problem = "no such file or folder" if not Path(others[0]).exists() else \
            "not a run folder nor a log gradscope reads"
        raise ConfigError(f"{others[0]}: {problem} (fix: pass only runs already done: run folders or logs, or one "
                          "CONFIG to rerun)")
    if len(runs) < 2:
        raise ConfigError(f"{runs[0]}: one recorded run has nothing to compare with (fix: pass a second run "
                          "folder or log, or the config with --clip-norm X to rerun it with clipping)")
    return None, runs


# -- running ------------------------------------------------------------------------------------------------
def compare_config(config: Config, run_dir: Path, clips: Sequence[Clip], *, steps: int | None = None,
                   recommend_mode: str | None = None, recommend_budget: float | None = None,
                   progress: ProgressFactory | None = None, plots: bool = True,
                   tries: Sequence[ConfigChange] = ()) -> Comparison:
    """Run the unclipped baseline, then `config` once per clip setting and each changed config of `tries`,
    each in a subfolder of `run_dir`, all from the same seed (the same initial weights and data order).

    With `recommend_mode` ("norm" or "value"), `gradscope.trials.recommend` runs first (within `recommend_budget`,
    default its own) and its threshold is added.
    With no clip setting at all, the config's own `[clip]` is the one compared. A `UserCodeError` from the
    user's code is raised as soon as the run that hit it ends (its folder keeps the partial trace).
    """
    from gradscope.drivers.loop import train

    run_dir = prepare_run_folder(Path(run_dir), keep=[config.path])  # an earlier comparison's runs are not ours
    progress = progress or (lambda _label: nullcontext(None))
    clips = list(clips)
    recommendation = None
    if recommend_mode is not None:
        setting, recommendation = _recommend(config, run_dir, recommend_mode, steps, recommend_budget, progress)
        clips = [c for c in clips if (c.mode, c.threshold) != (setting.mode, setting.threshold)] + [setting]
    if not clips and config.clip is not None:
        clips = [config.clip]
    if not clips and not tries:
        raise ConfigError(f"{config.source}: nothing to compare the baseline with (fix: give --clip-norm X, "
                          "--clip-value X, --clip-adaptive, --recommended or --try CHANGES, or add a [clip] table "
                          "to the config)")

    # The baseline runs without clipping, not even the config's; a --try run keeps only what it changes.
    variants = [(BASELINE, BASELINE, None, replace(config, clip=None))]
    variants += [(s.label, s.folder, s, replace(config, clip=s)) for s in clips]
    variants += [(t.label, t.folder, None, t.config if t.changes_clip else replace(t.config, clip=None))
                 for t in tries]
    runs: list[ComparedRun] = []
    interrupted = False
    used: set[str] = set()
    for label, name, setting, cfg in variants:
        while name in used:  # thresholds equal to 6 significant digits: 1.0000001 and 1.0000002
            name += "-b"
        used.add(name)
        with progress(label) as update:
            result = train(cfg, run_dir / name, steps=steps, progress=update, label=label, write_plots=plots)
        if result.error is not None:
            raise result.error
        runs.append(ComparedRun(label, setting, result.trace, result.diagnosis, result.diagnosis.summary,
                                result.run_dir))
        if result.interrupted:
            interrupted = True
            break
    return _finish(runs, run_dir, recorded=False, interrupted=interrupted, recommendation=recommendation,
                   plots=plots)


def _recommend(config: Config, run_dir: Path, mode: str, steps: int | None, budget: float | None,
               progress: ProgressFactory) -> tuple[Clip, dict[str, Any]]:
    """Ask `gradscope.trials.recommend` for a threshold; its own runs go into run_dir/recommend."""
    try:
        from gradscope.trials.recommend import recommend
    except ImportError as exc:
        if getattr(exc, "name", None) != "gradscope.trials.recommend":
            raise
        raise GradscopeError("--recommended needs gradscope.trials.recommend, which this installation lacks "
                             "(fix: give the threshold with --clip-norm X or --clip-value X)") from None
    with progress("recommend") as update:
        rec = recommend(config, run_dir / RECOMMEND_FOLDER, mode=mode, steps=steps, progress=update,
                        **({} if budget is None else {"budget": budget}))
    return Clip(rec.mode, float(rec.threshold), recommended=True), rec.to_dict()


def compare_recorded(paths: Sequence[Path], run_dir: Path, *, plots: bool = True,
                     mapping: dict[str, str] | None = None) -> Comparison:
    """Compare runs already done, run folders or logs of any format, the first as the baseline; nothing is
    rerun. `mapping` (--map) names columns in the logs."""
    from gradscope.diagnose.logs import diagnose_reading
    from gradscope.sources.registry import read_log

    labels = _unique_labels([Path(p) for p in paths])
    within = [runs_within(Path(p)) for p in paths]
    if any(within):
        return _compare_recorded_groups(paths, labels, within, run_dir, plots)
    runs: list[ComparedRun] = []
    notes: list[str] = []
    for path, label in zip(paths, labels, strict=True):
        if not is_run_folder(Path(path)):
            reading = read_log(Path(path), mapping)
            notes += reading.notes
            diagnosis = diagnose_reading(reading, label=label)
            runs.append(ComparedRun(label, None, reading.trace, diagnosis, diagnosis.summary, Path(path)))
            continue
        runs.append(_recorded(Path(path), label, notes))
    return replace(_finish(runs, Path(run_dir), recorded=True, interrupted=False, plots=plots), notes=tuple(notes))


def _recorded(folder: Path, label: str, notes: list[str]) -> ComparedRun:
    """A run folder read back as a compared run; what reading it had to mend is added to `notes`."""
    from gradscope.sources.runs import load_run

    recorded = load_run(folder)
    notes += recorded.notes
    trace = recorded.rebuild_trace()
    # diagnosis.json keeps full float precision (trace.csv 10 significant digits): its summary is the one used
    return ComparedRun(label, trace.info.clip, trace, recorded.diagnosis, recorded.diagnosis.summary, folder)


def _compare_recorded_groups(paths: Sequence[Path], labels: list[str], within: list[list[Path]], run_dir: Path,
                             plots: bool) -> Comparison:
    """Folders each holding several runs (an attached GAN's netD and netG): each run compared with its namesakes
    in the others, the first folder's as the baseline; the runs every folder holds, in the first's order."""
    single = next((p for p, inner in zip(paths, within, strict=True) if not inner), None)
    if single is not None:
        several, inner = next((p, inner) for p, inner in zip(paths, within, strict=True) if inner)
        raise ConfigError(f"{several} holds several runs ({', '.join(r.name for r in inner)}) and {single} one: "
                          f"compare runs with runs (fix: give the run folders inside it, e.g. {inner[0]})")
    common = [r.name for r in within[0] if all(any(o.name == r.name for o in inner) for inner in within[1:])]
    if not common:
        raise ConfigError(f"{paths[0]} and {paths[1]} hold no run of the same name (fix: give the run folders "
                          "to compare, one from each)")
    notes: list[str] = []
    folders = list(zip(paths, labels, strict=True))
    groups = [(name, [_recorded(Path(folder) / name, label, notes) for folder, label in folders]) for name in common]
    comparison = _finish(groups[0][1], Path(run_dir), recorded=True, interrupted=False, plots=plots,
                         optimizer_run=common[0], others=groups[1:])
    return replace(comparison, notes=tuple(notes))


def _unique_labels(paths: list[Path]) -> list[str]:
    """Each folder's name, or more of its path where two names clash."""
    labels = [p.name or str(p) for p in paths]
    for depth in (2, 3):
        if len(set(labels)) == len(labels):
            break
        labels = ["/".join(p.resolve().parts[-depth:]) for p in paths]
    if len(set(labels)) != len(labels):
        labels = [str(p) for p in paths]
    return labels


def _finish(runs: list[ComparedRun], run_dir: Path, *, recorded: bool, interrupted: bool,
            recommendation: dict[str, Any] | None = None, plots: bool = True, optimizer_run: str = "",
            others: Sequence[tuple[str, list[ComparedRun]]] = ()) -> Comparison:
    """The comparison of `runs` (each judged against the first), with its plots and comparison.json written.
    A command that trains several runs: `runs` are its `optimizer_run`'s, `others` (name, runs) its others'."""
    from gradscope.strict_json import dumps

    run_dir.mkdir(parents=True, exist_ok=True)

    def judged(runs: list[ComparedRun], name: str = "", suffix: str = "") -> Comparison:
        base = runs[0]
        runs = [base, *(replace(run, outcome=outcome(base, run)) for run in runs[1:])]
        return Comparison(tuple(runs), tuple(conclude(runs, interrupted=interrupted)), run_dir, recorded,
                          interrupted, recommendation, tuple(write_plots(runs, run_dir, suffix)) if plots else (),
                          optimizer_run=name)

    comparison = replace(judged(runs, optimizer_run),
                         others=tuple(judged(group, name, f"-{name}") for name, group in others))
    write_text_atomic(run_dir / COMPARISON_FILE, dumps(comparison.to_dict()) + "\n")
    return comparison


def write_plots(runs: Sequence[ComparedRun], run_dir: Path, suffix: str = "") -> list[Path]:
    """The overlaid loss and gradient-norm PNGs of `runs` in `run_dir` (none when no run recorded a step), each
    name with `suffix` before its extension."""
    if not any(len(r.trace) for r in runs):
        return []
    from gradscope.report.compare_plots import grad_norm_overlay, loss_overlay

    written = []
    for name, build in ((COMPARE_LOSS_PLOT, loss_overlay), (COMPARE_GRAD_NORM_PLOT, grad_norm_overlay)):
        path = run_dir / name.replace(".png", f"{suffix}.png")
        build(list(runs)).savefig(path, dpi=110)
        written.append(path)
    return written


# -- judging ------------------------------------------------------------------------------------------------
def outcome(base: ComparedRun, run: ComparedRun) -> Outcome:
    """What `run` did relative to `base`, by verdict: FIXED, HELPED, NO_HELP, WORSE or HEALTHY. At the same
    verdict, a run that ended on a finite loss where the baseline's ended non-finite helped: a guard that skipped a
    NaN batch keeps its critical finding (the NaN happened) but saved the run."""
    if base.rank == 0:
        return HEALTHY if run.rank == 0 else WORSE
    if run.rank == 0:
        return FIXED
    if run.rank > base.rank:
        return WORSE
    return HELPED if run.rank < base.rank or _survived(base, run) else NO_HELP


def conclude(runs: Sequence[ComparedRun], *, interrupted: bool = False) -> list[tuple[str | None, str]]:
    """(outcome, sentence) pairs in plain words: healthy runs grouped in one sentence, then one per run."""
    base, compared = runs[0], list(runs[1:])
    if not compared:
        text = "interrupted before a compared run was recorded" if interrupted else "nothing compared"
        return [(None, text)]
    findings: list[tuple[str | None, str]] = []
    healthy = [r for r in compared if r.outcome == HEALTHY]
    if healthy:
        who = "both runs are healthy" if len(runs) == 2 else (
            f"all {len(runs)} runs are healthy" if len(healthy) == len(compared) else
            f"the baseline and {', '.join(r.label for r in healthy)} are healthy")
        losses = ", ".join(f"{_num(r.summary.final_loss)} ({r.label})" for r in [base, *healthy])
        apart = [(r, ended) for r, ended in ((r, _ended_apart(base, r)) for r in healthy) if ended]
        findings.append((HEALTHY, f"{who}: final loss {losses}" + "".join(
            f"; {r.label} ended {way}: {text}" for r, (way, text) in apart)))
    findings += [(run.outcome, _sentence(base, run)) for run in compared if run.outcome != HEALTHY]
    if interrupted:
        findings.append((None, "interrupted: the runs not listed did not run"))
    return findings


def _ended_apart(base: ComparedRun, run: ComparedRun, factor: float = ENDED_APART) -> tuple[str, str] | None:
    """Where two runs ended apart (a clip so tight that the run crawls is healthy too; a warm-up that removed a
    warning may still end higher): their late loss levels `factor` x or more apart, every late loss of the higher
    run above the lower's level (so not one noisy step). None when they ended alike."""
    import numpy as np

    from gradscope.stats import late_window
    from gradscope.trials.recommend import LATE_FRACTION, late_loss

    losses = [np.asarray(r.trace.loss, dtype=float) for r in (base, run)]
    (b, r) = levels = [late_loss(x) for x in losses]  # recommend's trial score: the median of the last 10%
    if not all(math.isfinite(x) and x > 0 for x in levels) or max(b, r) < factor * min(b, r) or b == r:
        return None
    low, high = (b, losses[1]) if r > b else (r, losses[0])
    if not np.all(late_window(high, LATE_FRACTION, round_up=True) > low):  # the window late_loss took
        return None
    return "higher" if r > b else "lower", f"its late loss {_num(r)} is {r / b:.3g}x the baseline's {_num(b)}"


def _sentence(base: ComparedRun, run: ComparedRun) -> str:
    loss = f"loss {_num(base.summary.final_loss)} -> {_num(run.summary.final_loss)}"
    apart = _ended_apart(base, run, factor=1.0) if run.outcome in (FIXED, HELPED) else None
    loss += f"; but it ended higher: {apart[1]}" if apart and apart[0] == "higher" else ""
    if run.outcome == FIXED:
        if base.first_nonfinite_step is not None:
            return f"{run.label} fixed the run: no NaN/Inf (baseline: {_nonfinite(base)}), {loss}"
        return f"{run.label} fixed the run: healthy (baseline: {base.verdict}, {_trouble(base)}), {loss}"
    if run.outcome == HELPED and run.rank == base.rank:  # _survived
        return (f"{run.label} helped but did not fix the run: it trained on past {_nonfinite(run)} "
                f"({len(run.trace)} steps; the baseline ended at {_nonfinite(base)}, after {len(base.trace)}), "
                f"still {run.verdict}, {loss}")
    if run.outcome == HELPED:
        gained = f", no NaN/Inf (baseline: {_nonfinite(base)})" if _cleared(base, run) else ""
        return (f"{run.label} helped but did not fix the run: {base.verdict} -> {run.verdict} "
                f"({_trouble(run)}){gained}, {loss}")
    if run.outcome == WORSE:
        where = "healthy" if base.rank == 0 else f"{base.verdict} ({_trouble(base)})"
        return f"{run.label} made it worse: {run.verdict} ({_trouble(run)}) where the baseline is {where}, {loss}"
    who = (f"clipping did not help: {run.label} is" if run.clip is not None
           else f"{run.label} did not fix the run:")
    cleared = "no NaN/Inf, " if _cleared(base, run) else ""
    return f"{who} still {run.verdict} ({_trouble(run)}; {cleared}baseline: {_trouble(base)}), {loss}"


def _survived(base: ComparedRun, run: ComparedRun) -> bool:
    """Whether the baseline ended on a non-finite loss and `run`, having met one too, ended on a finite loss."""
    return (base.first_nonfinite_step is not None and run.first_nonfinite_step is not None
            and not math.isfinite(_sort_loss(base.summary.final_loss))
            and math.isfinite(_sort_loss(run.summary.final_loss)))


def _cleared(base: ComparedRun, run: ComparedRun) -> bool:
    """Whether the baseline went non-finite and `run` did not."""
    return base.first_nonfinite_step is not None and run.first_nonfinite_step is None


def _trouble(run: ComparedRun) -> str:
    """The headline problem of an unhealthy run: its script's failure, where it went non-finite, else its worst
    symptom."""
    if run.error:
        return run.error.removeprefix("your ")
    if run.first_nonfinite_step is not None:
        return _nonfinite(run)
    worst = next((s for s in run.diagnosis.symptoms if s.severity.rank > 0), None)
    return f"{worst.kind.value} at step {worst.step}" if worst is not None else run.verdict


def _nonfinite(run: ComparedRun) -> str:
    step = run.first_nonfinite_step
    loss = run.trace.loss
    index = run.trace.index_of(int(step))
    value = float(loss[index]) if index is not None else math.nan
    overflow = index is not None and bool(run.trace.column("norm_overflow")[index])
    # A finite loss at that step means a gradient (or the float32 global norm) went non-finite first.
    if overflow and math.isfinite(value):
        what = "Inf grad norm"
    else:
        what = "NaN/Inf" if math.isfinite(value) else number_text(value, nonfinite=("NaN", "Inf", "Inf"))
    return f"{what} at step {step}"


def _num(value: Any) -> str:
    return number_text(value, ".3g")


def _sort_loss(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(float(value)) else math.inf
