"""compare and recommend on the user's own command: each trial is a rerun of the command, attached, with the clip
applied where the script steps (`gradscope.attach`), with its learning rate changed where it steps (`StepChange`:
`--lr-scale F`, `--warmup W`; recommend's alternatives), or with arguments appended (`--try ARGS`).

A script cannot be resumed, so a trial that must go further is run again from the start (recommend counts that
cost in runs of the script), and trials are comparable only when the script runs the same way twice: every
trial's first step must equal the baseline's (loss and gradient norm), else the comparison stops with one line
naming both numbers. The comparison, its judging and its artifacts are a config's (`trials.compare`); the
threshold search is `trials.recommend`'s, run through `ScriptRunner`.
"""

from __future__ import annotations

import math
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradscope.clip.setting import Clip
from gradscope.errors import ConfigError, GradscopeError
from gradscope.numbers import number_text, ratio_text
from gradscope.record.plots import write_run_plots
from gradscope.trace.run_folder import RECOMMEND_FOLDER, prepare_run_folder
from gradscope.trace.trace import StopReason
from gradscope.trials.compare import BASELINE, ComparedRun, Comparison, _finish

# Two runs of a deterministic script agree to the last bit on one machine; this allows for reductions whose order
# varies between runs (a threaded kernel), which move a float32 norm by a few ulps, never by 1e-6.
SAME_START = 1e-6
NO_LIMIT = 2**62  # a run without --steps goes as far as the script goes
MIN_SCRIPT_BUDGET = 2.0  # recommend on a script: the unclipped run and at least one whole trial


class ScriptFailed(Exception):
    """A trial of the user's command raised or exited non-zero (exit 3): `message` says which trial and how."""

    def __init__(self, message: str, run_dir: Path, result: Any = None) -> None:
        super().__init__(message)
        self.run_dir = run_dir
        self.result = result  # the CommandResult: the runs it recorded before it failed


@dataclass(frozen=True)
class ArgsChange:
    """A `--try ARGS` run: the command with ARGS (shell-split) appended."""

    args: tuple[str, ...]
    index: int = 1  # its place among the --try runs, for its folder

    @classmethod
    def parse(cls, text: str, index: int = 1) -> ArgsChange:
        try:
            args = tuple(shlex.split(text))
        except ValueError as exc:
            raise ConfigError(f"--try {text!r}: {exc} (fix: quote it as the shell would, e.g. "
                              "--try '--learning_rate=1e-3')") from None
        if not args:
            raise ConfigError(f"--try {text!r}: no arguments given (fix: e.g. --try '--learning_rate=1e-3')")
        return cls(args, index)

    @property
    def label(self) -> str:
        return shlex.join(self.args)

    @property
    def folder(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9.=_-]+", "_", "_".join(self.args)).strip("_")[:60]
        return f"try-{self.index}-{slug}"


@dataclass(frozen=True)
class StepChange:
    """A run with the learning rate changed where the script steps, its own schedule kept (attach/lr_change.py):
    `--lr-scale F` (every step's lr x F) or `--warmup W` (a linear warm-up over the first W optimizer steps)."""

    lr_scale: float | None = None
    warmup: int | None = None

    @classmethod
    def parse_scale(cls, text: str) -> StepChange:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"--lr-scale {text!r} is not a positive number (fix: e.g. --lr-scale 0.1 for a 10x "
                              "lower learning rate)")
        return cls(lr_scale=value)

    @classmethod
    def parse_warmup(cls, text: str) -> StepChange:
        if not text.strip().isdigit() or int(text) < 1:
            raise ConfigError(f"--warmup {text!r} is not a number of steps (fix: e.g. --warmup 50 for a linear "
                              "warm-up over the first 50 optimizer steps)")
        return cls(warmup=int(text))

    @property
    def label(self) -> str:
        parts = [f"lr x{self.lr_scale:g}"] if self.lr_scale is not None else []
        return ", ".join(parts + ([f"warm-up {self.warmup}"] if self.warmup else []))

    @property
    def options(self) -> str:
        """The `compare` options that make this run: `--lr-scale 0.1`, `--warmup 50`."""
        parts = [f"--lr-scale {self.lr_scale:g}"] if self.lr_scale is not None else []
        return " ".join(parts + ([f"--warmup {self.warmup}"] if self.warmup else []))

    @property
    def folder(self) -> str:
        parts = [f"lr-x{self.lr_scale:g}"] if self.lr_scale is not None else []
        return "-".join(parts + ([f"warmup-{self.warmup}"] if self.warmup else []))


def run_command(command: Sequence[str], run_dir: Path, label: str, *, clip: Clip | None = None,
                steps: int | None = None, seed: int = 0, plots: bool = True, locate: bool = False,
                change: StepChange | None = None) -> Any:
    """One attached run of `command` into `run_dir`: its `CommandResult`. A script that raised or exited non-zero
    is `ScriptFailed` (its folder keeps what was recorded); Ctrl-C is `KeyboardInterrupt` once it has stopped."""
    from gradscope.attach.session import record_command

    change = change or StepChange()
    result = record_command(list(command), Path(run_dir), steps=steps, seed=seed, clip=clip,
                            plots=plots, locate=locate, label=label, lr_scale=change.lr_scale,
                            warmup=change.warmup)
    if result.error is not None:
        raise ScriptFailed(f"{label}: {result.error}", result.run_dir, result)
    return result


def first_run(result: Any, label: str) -> Any:
    """The run a trial is judged by: the script's only optimizer's (the first, for a script with several)."""
    if not result.runs:
        raise GradscopeError(f"{label}: the command ended before its first optimizer step (fix: give it enough "
                             "data for one step, or check it trains with torch in this Python)")
    return result.runs[0]


def check_same_start(baseline: Any, trial: Any, label: str) -> None:
    """Stop (exit 2) unless `trial`'s first step has the baseline's loss and gradient norm."""
    if not len(baseline.trace) or not len(trial.trace):
        return
    for what, column in (("loss", "loss"), ("gradient norm", "grad_norm")):
        a, b = float(getattr(baseline.trace, column)[0]), float(getattr(trial.trace, column)[0])
        same = (math.isnan(a) and math.isnan(b)) or a == b or (
            math.isfinite(a) and math.isfinite(b) and abs(a - b) <= SAME_START * max(abs(a), abs(b)))
        if not same:
            raise ConfigError(
                f"the command does not run the same way twice: its first step's {what} was {number_text(a, '.9g')} "
                f"in the baseline and {number_text(b, '.9g')} in {label}, so trials cannot be compared (fix: seed "
                "everything the script draws at random, or pass it its own seed flag; gradscope seeds Python, "
                "NumPy and torch with --seed before it starts)")


def _note(text: str) -> None:
    print(f"gradscope: {text}", file=sys.stderr, flush=True)


# -- compare ---------------------------------------------------------------------------------------------------
def compare_command(command: Sequence[str], run_dir: Path, clips: Sequence[Clip], *,
                    tries: Sequence[ArgsChange] = (), changes: Sequence[StepChange] = (), steps: int | None = None,
                    seed: int = 0, recommend_mode: str | None = None, budget: float | None = None,
                    plots: bool = True) -> Comparison:
    """The baseline run of `command` (its own clipping, if any, as written), then one rerun per clip setting
    (the trial's threshold in place of the script's), per learning-rate change (`--lr-scale`, `--warmup`) and per
    `--try`, each in a subfolder of `run_dir`."""
    run_dir = prepare_run_folder(Path(run_dir))
    clips, recommendation, done = list(clips), None, {}
    if recommend_mode is not None:
        clips, recommendation, done = _recommended(command, run_dir, clips, recommend_mode, budget, steps, seed)
    if not clips and not tries and not changes:
        raise ConfigError("nothing to compare the baseline with (fix: give --clip-norm X, --clip-value X, "
                          "--clip-adaptive, --recommended, --lr-scale F, --warmup W or --try ARGS)")
    Variant = tuple[str, str, Clip | None, list[str], StepChange | None]
    variants: list[Variant] = [(BASELINE, BASELINE, None, list(command), None)]
    variants += [(s.label, s.folder, s, list(command), None) for s in clips]
    variants += [(c.label, c.folder, None, list(command), c) for c in changes]
    variants += [(t.label, t.folder, None, [*command, *t.args], None) for t in tries]
    runs: list[ComparedRun] = []
    by_run: dict[str, list[ComparedRun]] = {}  # a command that trains several runs: each one's, the first's is runs
    interrupted = False
    used: set[str] = set()
    base, base_optimizers = None, []
    for i, (label, name, setting, cmd, change) in enumerate(variants, start=1):
        while name in used:
            name += "-b"
        used.add(name)
        if change is not None and base is not None and base_optimizers == [None]:
            from gradscope.attach.session import NO_OPTIMIZER

            raise GradscopeError(f"{change.options}: {NO_OPTIMIZER}")  # the run would be the baseline again
        error = None
        if label in done:
            run, result = done[label], None
            _note(f"compare run {i}/{len(variants)}: {label}: recommend's own run, "
                  f"{RECOMMEND_FOLDER}/{run.run_dir.name} (not run again)")
            if plots:
                write_run_plots(run.run_dir, run.trace, run.diagnosis)
        else:
            _note(f"compare run {i}/{len(variants)}: {label}")
            try:
                result, error = _run_variant(cmd, run_dir / name, label, clip=setting, steps=steps, seed=seed,
                                             plots=plots, locate=i == 1, change=change)
            except KeyboardInterrupt:
                interrupted = True
                break
            run = first_run(result, label)
        if base is None:
            base, base_optimizers = run, [run.optimizer] if result is None else list({r.optimizer for r in result.runs})
            if result is not None and len(result.runs) > 1:
                _note(f"the command trains {len(result.runs)} runs ({', '.join(r.label for r in result.runs)}): "
                      "each is compared with its own baseline")
                by_run = {r.label: [] for r in result.runs}
        elif setting is not None or change is not None:  # the first step is taken before any change shows
            check_same_start(base, run, label)
        runs.append(_compared(label, setting, run, error))
        for other in result.runs if result is not None and by_run else ():
            if other.label in by_run:  # a run the baseline did not train has no baseline to be compared with
                by_run[other.label].append(_compared(label, setting, other, error))
        if result is not None and result.interrupted:
            interrupted = True
            break
    if not runs:
        raise KeyboardInterrupt
    return _finish(runs, run_dir, recorded=False, interrupted=interrupted, recommendation=recommendation,
                   plots=plots, optimizer_run=base.label if by_run else "",
                   others=[(name, group) for name, group in by_run.items() if name != base.label and len(group) > 1])


def _recommended(command: Sequence[str], run_dir: Path, clips: list[Clip], mode: str, budget: float | None,
                 steps: int | None, seed: int) -> tuple[list[Clip], dict[str, Any], dict[str, Any]]:
    """`--recommended`: recommend's search first. The clips with its threshold among them, its document, and its
    whole runs by label (the baseline's and the threshold's: not run again)."""
    runner = ScriptRunner(command, run_dir / RECOMMEND_FOLDER, steps=steps, seed=seed)
    rec = _recommend(runner, mode=mode, budget=budget, steps=steps)
    setting = Clip(rec.mode, float(rec.threshold), recommended=True)
    clips = [c for c in clips if (c.mode, c.threshold) != (setting.mode, setting.threshold)] + [setting]
    done = {label: run for label, run in ((BASELINE, runner.whole_run(None)),
                                            (setting.label, runner.whole_run(setting))) if run is not None}
    return clips, rec.to_dict(), done


def _run_variant(command: list[str], run_dir: Path, label: str, **options: Any) -> tuple[Any, str | None]:
    """One compared run of the command: its `CommandResult`, and the script's error where it raised or exited
    non-zero after its first step (compared as far as it ran: a script that blew up may raise for it)."""
    try:
        return run_command(command, run_dir, label, **options), None
    except ScriptFailed as exc:
        if not exc.result.runs:
            raise
        return exc.result, exc.result.error


def _compared(label: str, setting: Clip | None, run: Any, error: str | None) -> ComparedRun:
    return ComparedRun(label, setting, run.trace, run.diagnosis, run.diagnosis.summary, run.run_dir, error=error)


# -- recommend -------------------------------------------------------------------------------------------------
class ScriptTrial:
    """A recommend trial of the command (what `TrainingSession` is for a config): `advance` reruns the command
    from the start to the new length, since a script cannot be resumed. `steps_run` counts every step run."""

    def __init__(self, runner: ScriptRunner, run_dir: Path, clip: Clip | None, label: str,
                 change: StepChange | None = None) -> None:
        self.runner, self.run_dir, self.clip, self.label = runner, Path(run_dir), clip, label
        self.change = change  # an alternative's learning-rate change (no clip)
        self.step = 0
        self.steps_run = 0
        self.stop: StopReason | None = None
        self.error: BaseException | None = None
        self.result: Any = None
        self.trace: Any = None
        self.first_batch = None  # what a config's session keeps for the input-scale check: nothing here

    def advance(self, n: int, progress: Any = None) -> bool:
        if self.stop is not None or n <= 0:
            return self.stop is None
        target = min(self.runner.limit, self.step + n)
        try:
            result = run_command(self.runner.command, self.run_dir, self.label, clip=self.clip,
                                 steps=target if target < NO_LIMIT else None, seed=self.runner.seed, plots=False,
                                 change=self.change)
        except KeyboardInterrupt:
            self.stop = StopReason.INTERRUPTED
            return False
        except ScriptFailed as exc:
            self.stop, self.error = StopReason.ERROR, exc
            return False
        self.result = result
        run = first_run(result, self.label)
        self.trace = run.trace
        self.steps_run += len(run.trace)
        self.step = len(run.trace)
        if self.runner.probe is not None:
            check_same_start(self.runner.probe, run, self.label)
        if result.interrupted:
            self.stop = StopReason.INTERRUPTED
        elif result.stop is StopReason.NONFINITE_WEIGHTS:
            self.stop = StopReason.NONFINITE_WEIGHTS
        elif self.step >= self.runner.limit or self.step < target:  # done, or the script ended by itself
            self.stop = StopReason.COMPLETED
        return self.stop is None

    def finish(self, write_plots: bool = False) -> Any:
        """The last run's (folder already complete): what `TrainingSession.finish` returns, its `.diagnosis`."""
        return None if self.result is None else first_run(self.result, self.label)


class ScriptRunner:
    """recommend's trials as reruns of `command` (see `gradscope.trials.recommend.recommend`'s `runner`).

    The unclipped probe runs first and whole, when `total` is first asked for (after recommend has prepared its
    folder): its length is the run's length when --steps is not given, and its first step is the one every
    trial must reproduce."""

    restarts = True  # a trial advanced further costs its whole new length

    def __init__(self, command: Sequence[str], run_dir: Path, *, steps: int | None = None, seed: int = 0) -> None:
        self.command = list(command)
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.probe: Any = None  # the probe's run (its trace is the reference first step)
        self.limit = steps or NO_LIMIT  # the steps a trial may run: the probe's length once it has run
        self.probe_trial = ScriptTrial(self, self.run_dir / "unclipped", None, "unclipped")
        self.changes: dict[str, StepChange] = {}  # an alternative's folder -> its learning-rate change
        self.trials: list[ScriptTrial] = []  # the clipped trials started, in order

    # -- the fixes that are not a clip: the learning rate changed where the script steps (attach/lr_change.py) ---
    @property
    def optimizer(self) -> str | None:
        """The probe's optimizer class ("AdamW"); None for a script that updates its weights by hand."""
        return None if self.probe is None else self.probe.optimizer

    @property
    def lr(self) -> float | None:
        """The largest learning rate the script stepped at (the peak of its own schedule), if it has one."""
        lrs = self.probe.trace.column("lr") if self.probe is not None and len(self.probe.trace) else []
        lrs = [float(v) for v in lrs if math.isfinite(v) and v > 0]
        return max(lrs) if lrs else None

    @property
    def no_alternatives(self) -> str:
        """Why no learning-rate alternative is tried, if none is: said where a clip is suspect."""
        if self.optimizer is not None:
            return ""
        return ("no learning-rate alternative was tried: the script updates its weights by hand (no torch.optim "
                "optimizer), so gradscope cannot change its learning rate (try your own with gradscope compare "
                f"--try ARGS -- {shlex.join(self.command)})")

    def alternatives(self, total: int) -> list[Any]:
        """A 10x and a 100x lower learning rate, and a warm-up over the first 10% of the steps (at least 10) where
        the script's own schedule does not start low: each applied where the script steps, its schedule kept."""
        from gradscope.trials.recommend import LR_TRIAL_FACTOR, WARMUP_FRACTION, Alternative

        if self.optimizer is None:
            return []
        lr = self.lr
        stepped = f" (the script stepped at lr {lr:.3g})" if lr is not None else ""
        found = []
        for factor in (LR_TRIAL_FACTOR, LR_TRIAL_FACTOR**2):
            change = StepChange(lr_scale=float(f"{factor:.3g}"))
            found.append((f"lower the learning rate {ratio_text(1 / factor, '.0f')}x{stepped}", change))
        warm = max(10, math.ceil(WARMUP_FRACTION * total))
        if 2 * warm <= total and not self._warms_up(warm):
            found.append((f"a warm-up over the first {warm} steps, in front of the script's own schedule",
                          StepChange(warmup=warm)))
        self.changes = {change.folder: change for _, change in found}
        return [Alternative(note, change.options, folder=change.folder, command=self.compare_command(change.options))
                for note, change in found]

    def compare_command(self, options: str) -> str:
        """The `gradscope compare` command that shows `options` on the user's command."""
        return f"gradscope compare {options} -- {shlex.join(self.command)}"

    def _warms_up(self, warm: int) -> bool:
        """Whether the script's own lr rises over its first steps (it has a warm-up)."""
        lrs = self.probe.trace.column("lr")[:2 * warm]
        lrs = lrs[lrs == lrs]  # finite
        return len(lrs) > 1 and float(lrs[1:].max()) > 1.01 * float(lrs[0])

    def start_alternative(self, alt: Any, run_dir: Path) -> ScriptTrial:
        _note(f"recommend trial {alt.folder}")
        return ScriptTrial(self, run_dir, None, alt.folder, self.changes[alt.folder])

    @property
    def total(self) -> int:
        if self.probe is None:
            self._run_probe()
        return self.limit

    @property
    def steps_run(self) -> int:
        return self.probe_trial.steps_run

    def _run_probe(self) -> None:
        _note("recommend: the unclipped run first")
        trial = self.probe_trial
        trial.advance(self.limit)
        if trial.error is not None:
            raise trial.error
        if trial.stop is StopReason.INTERRUPTED:
            raise KeyboardInterrupt
        self.probe = first_run(trial.result, "unclipped")
        if len(trial.result.runs) > 1:
            _note(f"the command trains {len(trial.result.runs)} runs: the threshold is chosen by the first, "
                  f"{self.probe.label} (every trial clips them all)")
        if trial.stop is StopReason.NONFINITE_WEIGHTS and self.limit == NO_LIMIT:
            _note(f"the unclipped run's weights went non-finite at step {len(self.probe.trace) - 1}: the trials run "
                  "that many steps too (give --steps N for longer ones)")
        self.limit = min(self.limit, len(self.probe.trace))
        trial.stop = trial.stop or StopReason.COMPLETED

    def start(self, mode: str, threshold: float | None, run_dir: Path, label: str) -> ScriptTrial:
        if threshold is None:
            return self.probe_trial
        _note(f"recommend trial {label}")
        trial = ScriptTrial(self, run_dir, Clip(mode, threshold), label)
        self.trials.append(trial)
        return trial

    def whole_run(self, clip: Clip | None) -> Any:
        """The run of a trial clipped by `clip` (None: the unclipped probe) that went the whole length, as
        `compare` would run it again; None when there is none. The probe only when it stayed finite: a
        compare baseline that goes non-finite runs a second time to find where (`locate`), the probe did not."""
        if clip is None:
            trial = self.probe_trial
            if self.probe is None or self.probe.diagnosis.summary.first_nonfinite_step is not None:
                return None
        else:
            trial = next((t for t in self.trials
                          if t.clip is not None and (t.clip.mode, t.clip.threshold) == (clip.mode, clip.threshold)),
                         None)
        if trial is None or trial.result is None or trial.stop is not StopReason.COMPLETED or \
                trial.step != self.limit:
            return None
        return first_run(trial.result, trial.label)


def recommend_command(command: Sequence[str], run_dir: Path, *, mode: str = "norm", budget: float | None = None,
                      steps: int | None = None, seed: int = 0,
                      progress: Callable[[int, int], None] | None = None) -> Any:
    """recommend's threshold search (successive halving) with each trial a rerun of `command`: a Recommendation.
    `budget` counts in runs of the script (the unclipped probe is the first; at least 2: it and one trial)."""
    return _recommend(ScriptRunner(command, run_dir, steps=steps, seed=seed), mode=mode, budget=budget, steps=steps,
                      progress=progress)


def _recommend(runner: ScriptRunner, *, mode: str, budget: float | None, steps: int | None,
               progress: Callable[[int, int], None] | None = None) -> Any:
    from gradscope.trials.recommend import DEFAULT_BUDGET, recommend

    if budget is not None and not budget >= MIN_SCRIPT_BUDGET:
        raise ConfigError(f"--budget {budget:g} is less than two runs of the command: the unclipped run and one trial "
                          f"(fix: --budget {MIN_SCRIPT_BUDGET:g} or more; each trial reruns the script)")
    return recommend(None, runner.run_dir, mode=mode,
                     budget=DEFAULT_BUDGET if budget is None else budget, steps=steps, progress=progress,
                     runner=runner)
