"""`recommend`: the clip threshold that actually fixes the run, measured by trials, with the evidence; or, when
the trials show that a clip is not the fix, the change that is (a lower learning rate, a warm-up, standardised
inputs), with the `compare --try` that shows it.

1. Probe: the unclipped run, seeded like `diagnose`. Its stable phase (the steps before the gradient norm
   starts to climb or spikes, the loss diverges, or anything goes non-finite) gives the typical gradient scale:
   robust percentiles (AutoClip clips at a low percentile of the history), an EMA z-score bound (ZClip), and the
   norm where exponential growth set in.
2. Candidates: a log-spaced bracket of thresholds around that scale (half-decade steps, 1e-3x to 10x the
   median), with the evidence-derived values snapped in, plus "no clipping". Under an adaptive optimizer
   (Adam, AdamW, RMSprop, ...) a clip barely changes the update's size, so fewer thresholds race, beside the
   alternatives: a 10x and a 100x lower learning rate and a warm-up.
3. Successive halving: every candidate runs a short horizon from the same seed and data order; the better half
   (by the late loss; any non-finite run loses) continues to twice the horizon, and so on, until the finalists
   run the full configured length. Runs are resumed, not restarted, so promotion costs only the extra steps.
   A clip must earn its place: the unclipped run, within 10% of the best at a cut, takes the last survivor's place
   (an early cut is a few noisy batches; a healthy run judged there lost to clips that then ran ten times longer).
   The default budget is 2x the steps of one diagnose run. (A script's trials are reruns: a promotion costs the
   new length whole, its unclipped run has run whole first and takes no survivor's place, and when no race fits
   the budget one threshold runs whole.)
4. The winner is the finalist with the lowest full-length late loss. When a clip is not the fix (no threshold
   brings the loss below its start, the winning clip barely beats no clip, sits at the edge of the bracket, or
   an alternative trains clearly better), the alternatives not yet tried run on what is left of the budget, and
   the one that works is reported with `clipping_helps: false`. A winning threshold at the lower edge that does
   not clip on every step is extended one half-decade below when the budget allows; otherwise the edge is said.
   A script's alternatives are the same changes made where it steps (trials/script.py, attach/lr_change.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradscope.clip.setting import Clip
from gradscope.config.load import Config
from gradscope.diagnose.symptoms.catalogue import SymptomKind
from gradscope.errors import GradscopeError, UserCodeError
from gradscope.numbers import WORD, number_text
from gradscope.report.snippets import fix_snippets, optimizer_of, snippets
from gradscope.stats import late_level
from gradscope.trace.run_folder import prepare_run_folder
from gradscope.trace.trace import StopReason, Trace, first_nonfinite_step

if TYPE_CHECKING:
    from gradscope.diagnose.symptoms.base import Kind

MODES = ("norm", "value")
DEFAULT_BUDGET = 2.0  # total optimizer steps, in units of one diagnose run
BRACKET_EXPONENTS = tuple(k / 2 for k in range(-6, 3))  # thresholds at median x 10**(k/2): 1e-3 .. 10
SHORT_STABLE_PHASE = 10  # fewer stable steps than this: the median is not a reliable scale, widen downwards
LATE_FRACTION = 0.1  # the late loss is the median of the last 10% of a run's steps (at least 3)
ALWAYS_ON = 0.95  # a winner that clips on more steps than this has made the run normalised SGD
ZCLIP_ALPHA = 0.97  # ZClip's EMA factor and z threshold (its defaults)
ZCLIP_Z = 2.5
LR_TRIAL_FACTOR = 0.1
HEALTHY_MARGIN = 1.1  # a healthy unclipped run this close to the winning trial needs no clipping
OWN_CLIP_COSTS = "your script's own"  # the note that begins so: a script's own clip bites, and the run is better
#                                        without it (a trial that never clipped beat it by HEALTHY_MARGIN)
SPARE_MARGIN = 1.1  # the unclipped run this close to the best at a cut goes on (`_spare_the_unclipped`); at 1.25
#   tiny_transformer's unclipped run (it blows up at step 90) took its winning clip's place: regret 0 -> 1
ALTERNATIVE_WINS = 0.5  # a lower lr / standardised inputs that halve the top clip's late loss: that is the fix
ALTERNATIVE_GAIN = 0.1  # ... or that closes 10% of the gap between the top clip and the start, when a clip was
#                          suspect (adaptive optimizer, edge of the bracket, barely better than no clip)
BARELY = 0.9  # a winning clip whose late loss is above 90% of the unclipped run's barely beats no clip
WARMUP_FRACTION = 0.1  # the warm-up alternative: over the first 10% of the steps (at least 10)
# symptoms of updates too large: beside them, vanishing gradients may be their work, and no reason to rule out a clip
TOO_LARGE = frozenset({SymptomKind.EXPLODING_GRADIENT, SymptomKind.NONFINITE_GRADIENT, SymptomKind.NONFINITE_LOSS,
                       SymptomKind.EARLY_INSTABILITY, SymptomKind.GRADIENT_SPIKE, SymptomKind.LOSS_SPIKE})
ADAPTIVE_THRESHOLDS = 4  # under an adaptive optimizer: thresholds that race beside the alternatives
# torch.optim classes (and common third-party names) whose update divides by a running gradient scale: a clip
# rescales the gradient, the optimizer mostly undoes it, so the update's size is set by the learning rate.
ADAPTIVE_OPTIMIZERS = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad", "Adadelta", "RMSprop",
                                 "SparseAdam", "Adafactor", "Lion", "LAMB", "Lamb", "AdaBelief", "Sophia"})


@dataclass
class Trial:
    """One trial: clipped, unclipped, or an alternative config change (`changes`, as `compare --try` takes it),
    how far it ran and its late loss there. Not frozen: successive halving measures it after every round it
    survives (`_measure`). Without a session (a caller that runs trials itself, e.g. a script attached by
    command), set `steps`, `late_loss`, `clipped_fraction` and `losses` directly."""

    threshold: float | None  # None: no clipping
    session: Any = field(repr=False, default=None)
    steps: int = 0
    late_loss: float = math.inf
    first_nonfinite_step: int | None = None
    clipped_fraction: float = 0.0
    eliminated_at: int | None = None
    note: str = ""
    changes: str = ""  # an alternative trial's config change, as `compare --try` takes it
    command: str = ""  # the gradscope command that shows the alternative (default: compare CONFIG --try CHANGES)
    losses: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    own_clip: Clip | None = None  # the clip an unclipped trial applied by itself (an attached script's own
    #   clip_grad_norm_, which only a trial's clip replaces): nanoGPT's "unclipped" run clips at 1.0

    @property
    def alternative(self) -> bool:
        return bool(self.changes)

    @property
    def unclipped(self) -> bool:
        """The run without a trial's clip (recommend's probe): no threshold, and no alternative's change."""
        return self.threshold is None and not self.alternative

    @property
    def name(self) -> str:
        return trial_name(self.threshold, self.own_clip)

    def late_at(self, steps: int) -> float:
        """The late loss over the first `steps` steps (to compare runs of different lengths)."""
        return late_loss(self.losses[:steps]) if len(self.losses) >= steps else math.inf

    def result(self) -> TrialResult:
        """What the trial measured, frozen for the evidence."""
        return TrialResult(self.threshold, self.steps, self.late_loss, self.first_nonfinite_step,
                           self.clipped_fraction, self.eliminated_at, self.note, self.changes, self.own_clip)


@dataclass(frozen=True)
class TrialResult:
    """One trial's row of the evidence: how far it ran, its late loss there, where it went non-finite, how often
    it clipped, when successive halving cut it, and for an alternative its `compare --try` change."""

    threshold: float | None  # None: no clipping
    steps: int
    late_loss: float
    first_nonfinite_step: int | None
    clipped_fraction: float
    eliminated_at_step: int | None
    note: str = ""
    changes: str = ""  # an alternative's config change ("try" in JSON)
    own_clip: Clip | None = None  # the clip an unclipped run applied by itself (an attached script's own)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "steps": self.steps, "late_loss": self.late_loss,
                "first_nonfinite_step": self.first_nonfinite_step, "clipped_fraction": self.clipped_fraction,
                "eliminated_at_step": self.eliminated_at_step, "note": self.note,
                **({"try": self.changes} if self.changes else {}),
                **({"own_clip": self.own_clip.to_dict()} if self.own_clip else {})}

    @property
    def name(self) -> str:
        return trial_name(self.threshold, self.own_clip)


def _the_run(trial: Trial) -> str:
    """The unclipped trial in a sentence: "the unclipped run", or "the run as written (its own clip-norm 1)"."""
    return "the unclipped run" if trial.own_clip is None else f"the run {trial.name}"


def trial_name(threshold: float | None, own_clip: Clip | None) -> str:
    """How reports name a trial: its threshold, "unclipped", or, for a script that clips by itself, "as written
    (its own clip-norm 1)"."""
    if threshold is not None:
        return f"{threshold:.3g}"
    return "unclipped" if own_clip is None else f"as written (its own {own_clip.label})"


@dataclass(frozen=True)
class Alternative:
    """A fix that is not a clip: what it changes in words, the `compare --try` text, and the changed config."""

    note: str  # "lr 0.1 -> 0.01"
    changes: str  # "optimizer.lr=0.01"; a script's: "--lr-scale 0.1" (compare's options)
    config: Config | None = field(repr=False, default=None)
    folder: str = ""  # its trial's run folder: "lr-x0.1", "standardized", "warmup"
    command: str = ""  # the gradscope command that shows it, where not `compare CONFIG --try CHANGES` (a script's)

    @property
    def lowers_lr(self) -> bool:
        return _lowers_lr(self.changes)


def _lowers_lr(changes: str) -> bool:
    """Whether an alternative's change is a lower learning rate (a config's key, or a script's --lr-scale)."""
    return changes.startswith(("optimizer.lr", "--lr-scale"))


PERCENTILES = (10, 25, 50, 75, 90, 99)


@dataclass(frozen=True)
class Percentiles:
    """Percentiles of the gradient scale over the probe's stable phase."""

    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    p99: float

    def to_dict(self) -> dict[str, float]:
        return {f"p{p}": getattr(self, f"p{p}") for p in PERCENTILES}


@dataclass(frozen=True)
class GradientStatistics:
    """The typical gradient scale of the probe's stable phase: its percentiles and ZClip's bound (norms, or the
    largest element in value mode). AutoClip clips at the p10."""

    quantity: str  # what was measured, in words
    stable_steps: int
    percentiles: Percentiles
    zclip_bound: float

    @property
    def autoclip_p10(self) -> float:
        return self.percentiles.p10

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "stable_steps": self.stable_steps,
                "percentiles": self.percentiles.to_dict(), "zclip_bound": self.zclip_bound,
                "autoclip_p10": self.autoclip_p10}


@dataclass(frozen=True)
class Evidence:
    """What the recommendation rests on: the probe's statistics, how often the threshold clips (predicted on the
    stable phase, observed in the top clip trial), every trial's result, and why the top clip won."""

    statistics: GradientStatistics
    predicted_clipped_fraction: float
    observed_clipped_fraction: float
    initial_loss: float
    unclipped: TrialResult
    trials: tuple[TrialResult, ...]  # the clips and the unclipped run, by threshold (unclipped last)
    winner: TrialResult  # the top clip trial: the winner only where clipping is the fix
    why: str
    probe_symptoms: tuple[str, ...]
    alternatives: tuple[TrialResult, ...] = ()  # the trials of the fixes that are not a clip

    def to_dict(self) -> dict[str, Any]:
        doc = {"statistics": self.statistics.to_dict(),
               "predicted_clipped_fraction": self.predicted_clipped_fraction,
               "observed_clipped_fraction": self.observed_clipped_fraction, "initial_loss": self.initial_loss,
               "unclipped": self.unclipped.to_dict(), "trials": [t.to_dict() for t in self.trials],
               "winner": self.winner.to_dict(), "why": self.why, "probe_symptoms": list(self.probe_symptoms)}
        if self.alternatives:
            doc["alternatives"] = [t.to_dict() for t in self.alternatives]
        return doc


@dataclass(frozen=True)
class Fix:
    """The alternative that works when clipping is not the fix: what it changes, its `compare --try` text, and
    its late loss where it stopped."""

    note: str  # "lr 0.1 -> 0.01"
    changes: str  # "optimizer.lr=0.01" ("try" in JSON); a script's: "--lr-scale 0.1", compare's options
    late_loss: float
    steps: int
    command: str = ""  # a script's: the gradscope command that shows it ("command" in JSON)

    def to_dict(self) -> dict[str, Any]:
        return {"note": self.note, "try": self.changes, "late_loss": self.late_loss, "steps": self.steps,
                **({"command": self.command} if self.command else {})}


@dataclass(frozen=True)
class Recommendation:
    """The contract's `recommend --json` document, as data (`to_dict`). `fix` is the alternative that works when
    clipping is not the fix, else None."""

    mode: str
    threshold: float
    method: str
    clipping_helps: bool
    notes: tuple[str, ...]
    evidence: Evidence
    snippets: dict[str, str]
    run_dir: str | None = None
    steps_run: int = 0
    budget_steps: int = 0
    fix: Fix | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "threshold": self.threshold, "method": self.method,
                "clipping_helps": self.clipping_helps, "fix": None if self.fix is None else self.fix.to_dict(),
                "notes": list(self.notes), "evidence": self.evidence.to_dict(), "snippets": self.snippets,
                "run_dir": self.run_dir, "cost": {"steps_run": self.steps_run, "budget_steps": self.budget_steps}}


def late_loss(losses: np.ndarray) -> float:
    """A trial's score: its late level (the median of the last 10% of the losses, `gradscope.stats.late_level`);
    +inf when any loss is non-finite (a run that blew up loses)."""
    if not len(losses) or not np.all(np.isfinite(losses)):
        return math.inf
    return late_level(losses, LATE_FRACTION, round_up=True)


def stable_phase(trace: Trace) -> int:
    """Number of leading steps before growth, spikes, a diverging loss or non-finite values: the run's normal
    regime."""
    from gradscope.diagnose.diagnosis import diagnose_trace

    n = len(trace)
    end = n
    bad = first_nonfinite_step(trace)
    if bad is not None:
        end = min(end, trace.rows_before(bad))
    for s in diagnose_trace(trace).symptoms:
        if s.kind.ends_stable_phase:  # the onset of growth, the step of a spike, or of the divergence
            end = min(end, trace.rows_before(int(s.evidence.get("onset_step", s.step))))
    return max(end, min(n, 3))


def gradient_statistics(trace: Trace, mode: str) -> GradientStatistics:
    """Percentiles and ZClip bound of the probe's stable phase (norms, or element maxima)."""
    values = trace.grad_norm if mode == "norm" else trace.column("grad_max_abs")
    end = stable_phase(trace)
    stable = values[:end]
    stable = stable[np.isfinite(stable) & (stable > 0)]
    if not len(stable):
        finite = values[np.isfinite(values) & (values > 0)]
        stable = finite[:1] if len(finite) else np.array([1.0])
    mean, var = float(stable[0]), 0.0
    for v in stable[1:]:  # ZClip: EMA of mean and variance, bound at mean + z * std
        diff = float(v) - mean
        mean += (1 - ZCLIP_ALPHA) * diff
        var = ZCLIP_ALPHA * (var + (1 - ZCLIP_ALPHA) * diff * diff)
    percentiles = Percentiles(*(float(np.percentile(stable, p)) for p in PERCENTILES))
    return GradientStatistics("global L2 gradient norm" if mode == "norm" else "largest |gradient element|",
                              int(end), percentiles, mean + ZCLIP_Z * math.sqrt(var))


def candidate_thresholds(stats: GradientStatistics) -> list[float]:
    """The bracket around the stable median, with AutoClip's p10, the p90 and ZClip's bound snapped in."""
    median = stats.percentiles.p50
    exponents = list(BRACKET_EXPONENTS)
    if stats.stable_steps < SHORT_STABLE_PHASE:  # the scale is unreliable: reach further down
        exponents = [k / 2 for k in range(-8, 1)]
    grid = [median * 10**k for k in exponents]
    snapped: set[int] = set()
    for value in (stats.autoclip_p10, stats.percentiles.p90, stats.zclip_bound):
        free = [i for i in range(len(grid)) if i not in snapped]
        if value > 0 and math.isfinite(value) and free:
            nearest = min(free, key=lambda i: abs(math.log(grid[i] / value)))
            if abs(math.log(grid[nearest] / value)) < math.log(10) / 4:  # within a quarter decade
                grid[nearest] = value
                snapped.add(nearest)
    return sorted({float(f"{g:.3g}") for g in grid})


def _clip(mode: str, threshold: float | None) -> Clip | None:
    return None if threshold is None else Clip(mode, threshold)


def _label(mode: str, threshold: float | None) -> str:
    return "unclipped" if threshold is None else Clip(mode, threshold).folder  # thresholds have 3 digits


def _measure(trial: Trial) -> None:
    trace = trial.session.trace
    trial.steps = len(trace)
    trial.losses = loss = trace.loss
    trial.late_loss = late_loss(loss) if not (_blew_up(trial.session) or collapsed(trial)) else math.inf
    trial.first_nonfinite_step = first_nonfinite_step(trace)
    trial.clipped_fraction = float(trace.column("clipped").mean()) if len(trace) else 0.0
    trial.own_clip = trace.info.clip if trial.threshold is None else None


def collapsed(trial: Trial) -> bool:
    """Whether the trial is one side of an adversarial game that collapsed (one side's loss pinned near 0 or its
    gradients gone; the rule is `gradscope.diagnose.adversarial.collapsed`): such a run scores like one that blew
    up, so it never wins. Only a session that says it is a game's (`adversarial = True`, e.g. a script runner's
    trial of a GAN) is judged so: a single network whose loss reaches 0 has fitted its data."""
    if not getattr(trial.session, "adversarial", False):
        return False
    from gradscope.diagnose.adversarial import collapsed as rule

    return bool(rule(trial.session.trace))


def _blew_up(session: Any) -> bool:
    return session.stop is StopReason.NONFINITE_WEIGHTS


def _stop_if_failed(session: Any) -> None:
    """A trial whose user code raised, or that Ctrl-C stopped, ends the search: no winner from a crashed trial."""
    if session.error is not None:
        raise session.error
    if session.stop is StopReason.INTERRUPTED:
        raise KeyboardInterrupt


def is_adaptive(optimizer: str | None) -> bool:
    """Whether the optimizer (a torch.optim class name or an import path) divides its update by a running
    gradient scale (Adam and kin): a clip then rescales gradients the optimizer mostly renormalises, so it barely
    changes the update's size, and the learning rate or a warm-up is the likelier fix."""
    return bool(optimizer) and re.split(r"[:.]", optimizer)[-1] in ADAPTIVE_OPTIMIZERS


def alternatives_for(config: Config | None, total: int) -> list[Alternative]:
    """The fixes that are not a clip, for a config: standardised CSV inputs, a 10x and a 100x lower learning
    rate, and a warm-up over the first 10% of the steps where the schedule has none (none without a config)."""
    found: list[Alternative] = []
    if config is None:
        return found
    if config.data.source == "csv" and not config.data.standardize:
        found.append(Alternative("standardised inputs ([data] standardize = true)", "data.standardize=true",
                                 replace(config, data=replace(config.data, standardize=True)), "standardized"))
    lr = config.optimizer.options.get("lr")
    if isinstance(lr, int | float) and not isinstance(lr, bool) and lr > 0:
        for factor in (LR_TRIAL_FACTOR, LR_TRIAL_FACTOR**2):
            new = float(f"{lr * factor:.3g}")
            options = dict(config.optimizer.options, lr=new)
            found.append(Alternative(f"lr {lr:g} -> {new:g}", f"optimizer.lr={new:g}",
                                     replace(config, optimizer=replace(config.optimizer, options=options)),
                                     f"lr-x{factor:g}"))
    warm = max(10, math.ceil(WARMUP_FRACTION * total))
    warmed = config.schedule.warmed_up(warm) if 2 * warm <= total else None
    if warmed is not None:
        schedule, changes = warmed
        found.append(Alternative(f"a warm-up over the first {warm} steps", changes,
                                 replace(config, schedule=schedule), "warmup"))
    return found


def recommend(config: Config | None, run_dir: Path, *, mode: str = "norm", budget: float = DEFAULT_BUDGET,
              steps: int | None = None, progress: Callable[[int, int], None] | None = None,
              runner: Any = None) -> Recommendation:
    """Probe, bracket, trial and pick a clip threshold for `config`, or the fix that is not a clip (see the
    module docstring).

    `runner` makes the trials of something that is not a config (`gradscope.trials.script.ScriptRunner`: reruns
    of the user's command): its `total` steps, `start(mode, threshold, run_dir, label)` a session like
    `TrainingSession`, `restarts` (a trial advanced further is rerun from the start: the schedule counts that),
    `steps_run` (spent before the search), and optionally `optimizer` (its class name), `lr`, `alternatives(total)`
    (the fixes that are not a clip, as `Alternative`s), `start_alternative(alt, run_dir)` and `no_alternatives`
    (why there are none, said where a clip is suspect); `config` is then None.

    Ctrl-C, or the user's code raising inside a trial, ends the search there (no winner from a crashed trial):
    every trial started keeps its record (trace, run.json, diagnosis.json), then the `KeyboardInterrupt` or the
    `UserCodeError` is raised."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    # An earlier recommend's trials are not ours.
    run_dir = prepare_run_folder(Path(run_dir), keep=[config.path] if config is not None else [])
    bench = TrialBench.for_search(config, run_dir, mode, budget, steps, progress, runner)
    try:
        return _search(bench, budget)
    except (KeyboardInterrupt, UserCodeError, GradscopeError, OSError):  # what ended a trial: every record kept
        for session in bench.started:
            session.finish(write_plots=False)
        raise


class TrialBench:
    """Starts the trials of one search, each in its own folder (a config's `TrainingSession`, or a runner's
    rerun of a script), and advances them, counting the optimizer steps spent against the budget. A trial whose
    user code raised, or that Ctrl-C stopped, ends the search. Not frozen: it counts what it spends."""

    def __init__(self, config: Config | None, run_dir: Path, mode: str, total: int, budget_steps: int,
                 runner: Any = None, progress: Callable[[int, int], None] | None = None) -> None:
        self.config = config  # the config every trial starts from (its steps set, no clip); None for a runner
        self.run_dir = run_dir
        self.mode = mode
        self.total = total
        self.budget_steps = budget_steps
        self.runner = runner
        self.progress = progress
        self.restarts = bool(getattr(runner, "restarts", False))
        self.spent: int = getattr(runner, "steps_run", 0)
        self.started: list[Any] = []  # the sessions of the trials started, to finish if the search stops early

    @classmethod
    def for_search(cls, config: Config | None, run_dir: Path, mode: str, budget: float, steps: int | None,
                   progress: Callable[[int, int], None] | None, runner: Any) -> TrialBench:
        """The bench for `recommend`'s arguments: the run's length (the config's or `steps`, else the runner's)
        and the budget in steps."""
        if runner is None:
            total = steps or config.run.steps
            config = replace(config, run=replace(config.run, steps=total), clip=None)
        else:
            total = runner.total
        return cls(config, run_dir, mode, total, int(budget * total), runner, progress)

    def budget_left(self) -> int:
        return self.budget_steps - self.spent

    @property
    def optimizer(self) -> str | None:
        """The optimizer's class name (a config's, or the runner's script's); None when unknown or none."""
        return self.config.optimizer.name if self.config is not None else getattr(self.runner, "optimizer", None)

    def alternatives(self) -> list[Alternative]:
        """The fixes that are not a clip: a config's (`alternatives_for`), or the runner's for its script."""
        if self.runner is not None:
            return list(getattr(self.runner, "alternatives", lambda total: [])(self.total))
        return alternatives_for(self.config, self.total)

    def start(self, threshold: float | None, config: Config | None = None, label: str | None = None) -> Trial:
        """A trial clipped at `threshold` (None: unclipped), from `config` (default: the search's)."""
        name = label or _label(self.mode, threshold)
        if self.runner is not None:
            session = self.runner.start(self.mode, threshold, self.run_dir / name, name)
        else:
            from gradscope.drivers.loop import TrainingSession  # torch: not for a script's trials

            cfg = self.config if config is None else config
            session = TrainingSession(replace(cfg, clip=_clip(self.mode, threshold)), self.run_dir / name,
                                      steps=self.total, label=name)
        trial = Trial(threshold, session)
        self.started.append(trial.session)
        return trial

    def start_alternative(self, alt: Alternative) -> Trial:
        """An unclipped trial of the alternative's changed config (or the runner's change to its script), in the
        alternative's folder."""
        if self.runner is not None:
            trial = Trial(None, self.runner.start_alternative(alt, self.run_dir / alt.folder))
            self.started.append(trial.session)
        else:
            trial = self.start(None, alt.config, label=alt.folder)
        trial.note, trial.changes, trial.command = alt.note, alt.changes, alt.command
        return trial

    def advance(self, trial: Trial, to_step: int) -> None:
        """Run `trial` on to `to_step`, measure it, and count what it cost."""
        session = trial.session
        before = _cost(session)
        session.advance(max(0, to_step - session.step))
        self.spent += _cost(session) - before
        _measure(trial)
        if self.progress is not None:
            self.progress(min(self.spent, self.budget_steps), self.budget_steps)
        _stop_if_failed(session)


def _cost(session: Any) -> int:
    """Optimizer steps a session has spent (a rerun script's count its restarts)."""
    return getattr(session, "steps_run", session.step)


@dataclass(frozen=True)
class Opening:
    """What the probe's first step and the budget decide before the race: the input-scale note, which
    alternatives race beside the clips (`raced`) or wait for the judgement (`pending`), and the schedule."""

    probe: Trial
    scale_note: str
    raced: tuple[Alternative, ...]
    pending: tuple[Alternative, ...]
    plan: Schedule


def _open(bench: TrialBench, budget: float) -> Opening:
    """Round 0: the unclipped probe's first batch shows the input scale; the optimizer and the budget decide which
    alternatives race and the schedule."""
    probe = bench.start(None)
    bench.advance(probe, 1)
    scale_note = _input_scale_note(probe.session)
    adaptive = is_adaptive(bench.optimizer)
    alternatives = bench.alternatives()
    # Under an adaptive optimizer, or with badly scaled inputs, the alternatives race beside the clips from the
    # start (standardised inputs, a lower learning rate, a warm-up): a clip is the less likely fix there.
    raced = [a for a in alternatives if scale_note or (adaptive and not a.changes.startswith("data."))]
    raced.sort(key=lambda a: a.folder == "lr-x0.01")  # the 100x lower lr is the first to go when they do not fit
    while True:
        plan = plan_schedule(bench.total, budget, ADAPTIVE_THRESHOLDS if raced else len(BRACKET_EXPONENTS),
                             alternatives=len(raced), restarts=bench.restarts,
                             reserve=len(raced) < len(alternatives) if bench.restarts else None)
        if not raced or plan.cost(bench.total) <= bench.budget_steps:
            break
        raced.pop()  # what does not fit: the 100x lower lr first, then the warm-up, then the 10x lower lr
    return Opening(probe, scale_note, tuple(raced), tuple(a for a in alternatives if a not in raced), plan)


def _search(bench: TrialBench, budget: float) -> Recommendation:
    """The probe, the race of the thresholds (and the alternatives raced) from the probe's stable phase, then
    the judgement and the recommendation."""
    opening = _open(bench, budget)
    probe, plan = opening.probe, opening.plan
    bench.advance(probe, plan.first_horizon)
    stats = gradient_statistics(probe.session.trace, bench.mode)
    thresholds = _thin(candidate_thresholds(stats), plan.thresholds, stats.percentiles.p50)
    trials = ([probe] + [bench.start(t) for t in thresholds]
              + [bench.start_alternative(a) for a in opening.raced])
    _successive_halving(trials, plan, bench.total, bench.advance,
                        (lambda: bench.spent) if not bench.restarts else None)
    initial = float(probe.session.trace.loss[0]) if len(probe.session.trace) else math.nan
    kinds = {s.kind for s in probe.session.finish(write_plots=False).diagnosis.symptoms}
    search = _Search(bench.optimizer, bench.mode, bench.total, initial, thresholds, trials, kinds,
                     opening.scale_note, list(opening.pending), bench,
                     getattr(bench.runner, "no_alternatives", ""))
    verdict = search.judge()
    for trial in search.trials:
        if trial.session is not None and trial is not probe:
            trial.session.finish(write_plots=False)
    return _recommendation(search, verdict, stats, opening, bench)


def _recommendation(search: _Search, verdict: Verdict, stats: GradientStatistics, opening: Opening,
                    bench: TrialBench) -> Recommendation:
    """The verdict as the contract's document: the threshold (the top clip, or a rarely clipping guard rail when
    clipping is not the fix), the evidence, the notes and the snippets to paste."""
    top, probe, mode = verdict.top_clip, opening.probe, bench.mode
    guard_rail = top.threshold is None or top.clipped_fraction == 0.0 or not verdict.clipping_helps
    threshold = stats.percentiles.p99 * 2 if guard_rail else top.threshold
    notes = _with_result_notes(verdict, mode, threshold, probe, guard_rail, search.optimizer)
    evidence = _evidence(search, verdict, stats, probe, threshold)
    fix = None if verdict.fix is None else Fix(verdict.fix.note, verdict.fix.changes, verdict.fix.late_loss,
                                               verdict.fix.steps, verdict.fix.command)
    thresholds = search.thresholds  # with any trial past the lower edge of the bracket
    method = (f"successive halving over {len(search.trials)} trials (unclipped + {len(thresholds)} thresholds "
              f"from {thresholds[0]:.3g} to {thresholds[-1]:.3g} around the stable-phase median "
              f"{stats.percentiles.p50:.3g}"
              + (f" + {len(opening.raced)} alternatives" if opening.raced else "")
              + f"), scored by the late loss at {bench.total} steps")
    optimizer, lr = (optimizer_of(bench.config) if bench.config is not None
                     else (bench.optimizer, getattr(bench.runner, "lr", None)))
    if fix is not None:
        code = fix_snippets(fix.changes, optimizer, lr, bench.total, mode, float(threshold))
    else:
        code = snippets(mode, float(threshold), optimizer, lr, guard_rail=not verdict.clipping_helps)
    return Recommendation(mode, float(threshold), method, verdict.clipping_helps, tuple(notes), evidence, code,
                          str(bench.run_dir), bench.spent, bench.budget_steps, fix)


def _evidence(search: _Search, verdict: Verdict, stats: GradientStatistics, probe: Trial,
              threshold: float) -> Evidence:
    """Every trial's result beside the probe's statistics and how often `threshold` clips."""
    top = verdict.top_clip
    clips = sorted((t for t in search.trials if not t.alternative),
                   key=lambda t: (t.threshold is None, t.threshold or 0))
    return Evidence(
        statistics=stats,
        predicted_clipped_fraction=_predicted_fraction(probe.session.trace, search.mode, threshold,
                                                       stats.stable_steps),
        observed_clipped_fraction=top.clipped_fraction if top.threshold is not None else 0.0,
        initial_loss=search.initial,
        unclipped=probe.result(),
        trials=tuple(t.result() for t in clips),
        winner=top.result(),
        why=_why(top, [t for t in search.trials if t is not top and t.steps >= search.total]),
        probe_symptoms=tuple(sorted(k.value for k in search.kinds)),
        alternatives=tuple(t.result() for t in search.trials if t.alternative))


def judge(trials: list[Trial], *, mode: str, total: int, initial: float, thresholds: list[float],
          optimizer: str | None, kinds: set[Kind] | None = None, scale_note: str = "",
          pending: list[Alternative] | None = None, bench: TrialBench | None = None) -> Verdict:
    """Whether a clip is the fix, from trials someone else ran: for runs gradscope cannot resume, e.g. a script
    attached by command, whose trials are reruns with a threshold, or with `--try ARGS` for an alternative
    (`Trial(None, changes="--lr=1e-3", note="lr 0.1 -> 0.001")`, with `steps`, `late_loss`, `clipped_fraction`
    and `losses` set). `trials` holds the unclipped run, the clips (of the sorted `thresholds`) and any
    alternatives raced. With a `bench` it runs the `pending` alternatives and the threshold past the edge that
    the judgement asks for; without one it says what it would have tried."""
    return _Search(optimizer, mode, total, initial, list(thresholds), trials, set(kinds or ()), scale_note,
                   list(pending or ()), bench).judge()


@dataclass(frozen=True)
class Verdict:
    """What the trials say: whether a clip is the fix, the top clip trial, the fix when it is not a clip, and the
    notes that explain it."""

    clipping_helps: bool
    top_clip: Trial
    fix: Trial | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Standing:
    """The top clip trial against the unclipped probe, what the judgement weighs: whether it clipped at all,
    whether it barely beats no clip at equal length, and whether any clip brought the loss below its start."""

    top: Trial
    clipped: bool  # a threshold that clipped on some step
    barely: bool  # its late loss is above BARELY x the unclipped run's at equal length
    never_below_start: bool  # no clip (nor the unclipped run) ended below the initial loss
    common: int  # the steps both the top clip and the probe ran


@dataclass
class _Search:
    """The judgement after the race, with what it may still run on the `bench`: the alternatives not raced
    (`pending`), a threshold past the lower edge of the bracket. Not frozen: it adds the trials it runs to
    `trials`. Without a bench it runs nothing more (see `judge`)."""

    optimizer: str | None
    mode: str
    total: int
    initial: float
    thresholds: list[float]
    trials: list[Trial]
    kinds: set[Kind]
    scale_note: str = ""
    pending: list[Alternative] = field(default_factory=list)
    bench: TrialBench | None = None
    no_alternatives: str = ""  # why no alternative could be tried (a script without optimizer), said when suspect

    @property
    def adaptive(self) -> bool:
        return is_adaptive(self.optimizer)

    @property
    def probe(self) -> Trial:
        return next(t for t in self.trials if t.unclipped)

    def top(self, alternative: bool) -> Trial | None:
        """The trial that ran furthest with the lowest late loss there, among clips (and unclipped) or
        alternatives."""
        pool = [t for t in self.trials if t.alternative == alternative]
        return min(pool, key=lambda t: (-t.steps, *_rank(t)), default=None)

    def standing(self, top: Trial) -> Standing:
        probe = self.probe
        clipped = top.threshold is not None and top.clipped_fraction > 0.0
        common = min(top.steps, probe.steps)  # the unclipped probe may have been stopped early: equal lengths
        unclipped_there = probe.late_at(common)
        barely = clipped and math.isfinite(unclipped_there) and top.late_at(common) >= BARELY * unclipped_there
        never_below_start = math.isfinite(self.initial) and all(
            t.late_loss >= self.initial for t in self.trials if not t.alternative)
        return Standing(top, clipped, barely, never_below_start, common)

    def judge(self) -> Verdict:
        notes: list[str] = []
        top = self._past_the_edge(self.top(alternative=False), notes)
        standing = self.standing(top)
        needs_no_clip = self._needs_no_clip(standing, notes)  # said in the notes
        clipping_helps = standing.clipped and not needs_no_clip
        if self._vanishing(standing):
            notes.append("gradients vanish: clipping only makes them smaller. Use ReLU/GELU instead of "
                         "sigmoid/tanh, add normalisation or residual connections, or a variance-preserving init")
            return Verdict(False, top, None, tuple(notes))
        reasons = self._suspect(standing)
        if not reasons and not any(t.alternative for t in self.trials):
            return Verdict(clipping_helps, top, None, tuple(notes))
        notes += reasons
        if self.no_alternatives and not self.pending and not any(t.alternative for t in self.trials):
            notes.append(self.no_alternatives)
        if self.scale_note:
            notes.append(self.scale_note)
        self._run_pending()
        if self.bench is not None and self.pending and not any(t.alternative for t in self.trials):
            notes.append("the budget left no room to try the fixes that are not a clip ("
                         + "; ".join(a.note for a in self.pending) + "): a larger --budget tries them")
        return self._weigh(standing, clipping_helps, bool(reasons), notes)

    def _needs_no_clip(self, standing: Standing, notes: list[str]) -> bool:
        """Whether the run needs no clip: the top trial never clipped, or the unclipped run is healthy and as good
        (said in `notes`)."""
        probe, top = self.probe, standing.top
        if not standing.clipped:
            common = standing.common
            if probe.own_clip is not None and top.threshold is not None and \
                    top.late_at(common) * HEALTHY_MARGIN < probe.late_at(common):  # the script's own clip costs it
                notes.append(f"{OWN_CLIP_COSTS} clip-{probe.own_clip.mode} {probe.own_clip.threshold:.3g} bites on "
                             f"{probe.clipped_fraction:.0%} of its steps, and the run is better without it (late loss "
                             f"{_fmt(top.late_at(common))} at clip-{self.mode} {top.threshold:.3g}, which never bit, "
                             f"against {_fmt(probe.late_at(common))} at {common} steps): raise it or drop it")
            else:
                notes.append("the winning trial did not clip at all: the run never needed clipping"
                             if top.threshold is not None else f"no threshold beat {_the_run(probe)}")
            return True
        if not self.kinds and probe.steps >= self.total and _as_good(probe, self.trials):
            # Only a probe that ran the whole length can vouch for the run: instabilities often start late.
            notes.append(f"{_the_run(probe)} is healthy and within {HEALTHY_MARGIN - 1:.0%} of the winning "
                         f"trial's late loss at {probe.steps} steps: clipping is not needed")
            return True
        return False

    def _vanishing(self, standing: Standing) -> bool:
        """Gradients vanish, no update was too large, and no clip clearly beats no clip (which would outweigh
        the symptom): clipping only makes small gradients smaller. Where the start was thrown, or the gradients
        spiked, exploded or went non-finite, the vanishing can be the large updates' work (saturated gates and
        dead units after a too-high lr: PyTorch's word language model at lr 20 unclipped), and a clip that
        bounds them is a fix: the trials judge it."""
        return (SymptomKind.VANISHING_GRADIENT in self.kinds and not self.kinds & TOO_LARGE
                and (not standing.clipped or standing.barely))

    def _suspect(self, standing: Standing) -> list[str]:
        """Why a clip may not be the fix (each as a note), when the alternatives must be tried."""
        top, reasons = standing.top, []
        if standing.never_below_start:
            reasons.append(f"the loss stays above its start ({self.initial:.4g}) with every threshold tried: "
                           "clipping is not the fix")
        elif standing.barely:
            common = standing.common
            own = self.probe.own_clip
            reasons.append(f"clip-{self.mode} {top.threshold:.3g} barely beats "
                           + ("no clip" if own is None else _the_run(self.probe))
                           + f" (late loss {_fmt(top.late_at(common))} against {_fmt(self.probe.late_at(common))}"
                           + (" unclipped" if own is None else "") + f" at {common} steps)")
        if self.adaptive:  # whether a clip or no clip came out on top
            reasons.append(f"under {self.optimizer} a clip barely changes the update's size "
                           "(the optimizer divides by a running gradient scale): the learning rate or a warm-up "
                           "is the likelier fix")
        if (not standing.never_below_start and top.threshold is not None and top.threshold == self.thresholds[0]
                and top.clipped_fraction >= ALWAYS_ON):
            reasons.append(f"the top clip is the lowest threshold tried ({top.threshold:.3g}) and clips on "
                           f"{top.clipped_fraction:.0%} of steps: "
                           + ("below it only the step size changes (normalised SGD: step = lr x clip), which the "
                              "learning rate sets more simply" if not self.adaptive else
                              f"under {self.optimizer} every threshold that always clips gives about the "
                              "same updates, so a lower one would change nothing"))
        if self.scale_note and not reasons:
            reasons.append("the input scale may be the cause")
        return reasons

    def _past_the_edge(self, top: Trial, notes: list[str]) -> Trial:
        """A winner at the lower edge of the bracket that does not clip on every step: try one half-decade lower
        when the budget allows (a lower threshold may do better), else say the edge was reached. A winner at the
        upper edge is said: it only trims rare spikes."""
        if top.threshold is None or top.clipped_fraction == 0.0:
            return top
        if len(self.thresholds) == 1:
            notes.append(f"the budget fit one threshold ({top.threshold:.3g}, the nearest the stable-phase median): "
                         "a larger --budget searches a bracket around it")
            return top
        if top.threshold == self.thresholds[-1]:
            notes.append(f"the top clip is the largest threshold tried ({top.threshold:.3g}, clipping on "
                         f"{top.clipped_fraction:.0%} of steps): it only trims rare spikes")
            return top
        if top.threshold != self.thresholds[0] or top.clipped_fraction >= ALWAYS_ON:
            return top
        lower = float(f"{top.threshold / math.sqrt(10):.3g}")
        if self.bench is None or self.bench.budget_left() < self.total:
            notes.append(f"the top clip is the lowest threshold tried ({top.threshold:.3g}); the budget "
                         f"left no trial below it: a lower one may do better "
                         f"({self._compare(f'--clip-{self.mode} {lower:.3g}')})")
            return top
        trial = self.bench.start(lower)
        self.bench.advance(trial, self.total)
        self.trials.append(trial)
        self.thresholds.insert(0, lower)
        if _rank(trial) < _rank(top):
            notes.append(f"the search went below its bracket: {lower:.3g} beat {top.threshold:.3g}")
            return self._past_the_edge(trial, notes) if trial.clipped_fraction < ALWAYS_ON else trial
        notes.append(f"{top.threshold:.3g} was the lowest threshold of the bracket; {lower:.3g} below it did "
                     f"worse (late loss {_fmt(trial.late_loss)})")
        return top

    def _compare(self, options: str) -> str:
        """The `gradscope compare` command that shows `options` on this run (a script's, or CONFIG)."""
        runner = getattr(self.bench, "runner", None)
        return runner.compare_command(options) if hasattr(runner, "compare_command") else \
            f"gradscope compare CONFIG {options}"

    def _run_pending(self) -> None:
        """The alternatives not raced, on what is left of the budget, shared equally (at least 10 steps each, the
        first ones first): standardised inputs, a 10x lower lr and a warm-up; the 100x lower lr only where the
        10x lower one still went non-finite."""
        if self.bench is None:
            return
        todo = [a for a in self.pending if not any(t.changes == a.changes for t in self.trials)]
        lrs = [a for a in todo if a.lowers_lr]
        later = lrs[1:]  # the 100x lower lr: only if needed
        first = [a for a in todo if a not in later]
        for alt in first + later:
            if alt in later and (self._an_lr_trains() or not self._ran(lrs[0])):
                continue
            share = len(first) - sum(self._ran(a) for a in first) + (alt in later)
            shortest = min(self.total, 10)  # fewer steps say nothing: run fewer alternatives, in this order
            steps = max(shortest, min(self.total, self.bench.budget_left() // max(1, share)))
            if steps > self.bench.budget_left():
                break
            trial = self.bench.start_alternative(alt)
            self.bench.advance(trial, steps)
            self.trials.append(trial)

    def _ran(self, alt: Alternative) -> bool:
        return any(t.changes == alt.changes for t in self.trials)

    def _an_lr_trains(self) -> bool:
        return any(_lowers_lr(t.changes) and t.first_nonfinite_step is None for t in self.trials)

    def _weigh(self, standing: Standing, clipping_helps: bool, suspect: bool, notes: list[str]) -> Verdict:
        """The alternatives against the top clip at equal length: which is the fix."""
        top, never_below_start = standing.top, standing.never_below_start
        alternatives = [t for t in self.trials if t.alternative]
        common = {id(t): min(t.steps, top.steps) for t in alternatives}
        clip_there = {id(t): top.late_at(common[id(t)]) for t in alternatives}
        where = top.name if top.threshold is None else f"clip-{self.mode} {top.threshold:.3g}"
        for t in alternatives:
            n = common[id(t)]
            further = f"; {_fmt(t.late_loss)} at {t.steps} steps" if t.steps > n else ""
            notes.append(f"{t.note}: late loss {_fmt(t.late_at(n))} against {_fmt(clip_there[id(t)])} ({where}) at "
                         f"{n} steps{further}")
        if not alternatives:
            return Verdict(False if never_below_start else clipping_helps, top, None, tuple(notes))

        def wins(t: Trial) -> bool:
            own, clip = t.late_at(common[id(t)]), clip_there[id(t)]
            if self.scale_note:
                return own <= clip
            if suspect and math.isfinite(own):
                return own < clip and (clip - own) >= ALTERNATIVE_GAIN * (self.initial - own)
            return own <= ALTERNATIVE_WINS * clip

        winning = [t for t in alternatives if wins(t)]
        # The fix: of those that win and end below the start, the one compared over the most steps (a raced
        # alternative that outlasted another beat it in the race), then the largest gain over the top clip there.
        fixes = sorted((t for t in winning if t.late_at(common[id(t)]) < min(self.initial, clip_there[id(t)])),
                       key=lambda t: (-common[id(t)], t.late_at(common[id(t)]) - clip_there[id(t)], t.late_loss))
        fix = fixes[0] if fixes else None
        if fix is not None:
            shows = fix.command or self._compare(f"--try '{fix.changes}'")
            notes.append(f"fix the cause instead: {fix.note} (side by side, from the same seed: {shows})")
        return Verdict(clipping_helps and not winning and not never_below_start, top, fix, tuple(notes))


def _with_result_notes(verdict: Verdict, mode: str, threshold: float, unclipped: Trial, guard_rail: bool,
                       optimizer: str | None) -> list[str]:
    """The judgement's notes with the result: first the winner against the unclipped run when clipping helps,
    last what a clip on (nearly) every step means under this optimizer, or the guard rail."""
    notes = list(verdict.notes)
    top = verdict.top_clip
    if verdict.clipping_helps and top.clipped_fraction >= ALWAYS_ON:
        if is_adaptive(optimizer):
            notes.append(f"clipping engages on {top.clipped_fraction:.0%} of steps: every gradient is rescaled to "
                         f"norm {top.threshold:.3g}, which {optimizer}'s normalisation mostly undoes; the "
                         "learning rate sets the update's size")
        else:
            notes.append(f"clipping engages on {top.clipped_fraction:.0%} of steps: every update is "
                         f"lr x {top.threshold:.3g} long (normalised SGD); a lower learning rate may serve better")
    if verdict.clipping_helps:
        there = (f" ({_fmt(top.late_at(unclipped.steps))} at {unclipped.steps})"
                 if 0 < unclipped.steps < top.steps and math.isfinite(top.late_at(unclipped.steps)) else "")
        notes.insert(0, f"clip-{mode} {threshold:.3g}: late loss {_fmt(top.late_loss)} at {top.steps} steps{there}; "
                        f"{unclipped.name}: late loss {_fmt(unclipped.late_loss)} at {unclipped.steps} steps"
                        f"{_nan_note(unclipped)}")
    elif guard_rail:
        notes.append(f"if you want a guard rail anyway, clip-{mode} {threshold:.3g} (2x the 99th percentile of "
                     "the stable phase) rarely clips")
    return notes


KEEP_UNTIL = 0.4  # `min_keep` trials survive each cut made before 40% of the run; later cuts keep the better half


def _survivors(alive: int, horizon: int, total: int, min_keep: int) -> int:
    """How many of `alive` trials go on after the cut at `horizon`."""
    return max(min_keep if horizon < KEEP_UNTIL * total else 1, alive // 2)


def schedule_cost(candidates: int, total: int, first_horizon: int, min_keep: int = 2, restarts: bool = False) -> int:
    """Optimizer steps successive halving spends at most (runs that blow up stop early and cost less). With
    `restarts` a promoted trial runs again from its first step (a script cannot be resumed)."""
    alive, horizon = candidates, first_horizon
    cost = candidates * first_horizon
    while horizon < total:
        alive = _survivors(alive, horizon, total, min_keep)
        nxt = min(total, horizon * 2)
        cost += alive * (nxt - (0 if restarts else horizon))
        horizon = nxt
    return cost


LR_TRIAL_RESERVE = 0.2  # budget (in runs) kept for the alternatives run after the race
MIN_FIRST_HORIZON = 0.1  # the first round runs at least 10% of the steps: shorter says too little


@dataclass(frozen=True)
class Schedule:
    thresholds: int  # how many clip thresholds (the unclipped run comes on top)
    first_horizon: int
    min_keep: int  # trials that survive each cut before KEEP_UNTIL of the run
    alternatives: int = 0  # alternatives that race beside the thresholds
    restarts: bool = False  # trials rerun from the start; the unclipped probe has run whole before

    def cost(self, total: int) -> int:
        if self.restarts:  # the probe's whole run, then the thresholds (the probe advances for free)
            return total + schedule_cost(self.thresholds + self.alternatives, total, self.first_horizon,
                                         self.min_keep, True)
        return schedule_cost(self.thresholds + 1 + self.alternatives, total, self.first_horizon, self.min_keep)


def plan_schedule(total: int, budget: float, max_thresholds: int = len(BRACKET_EXPONENTS),
                  alternatives: int = 0, *, restarts: bool = False, reserve: bool | None = None) -> Schedule:
    """The richest successive-halving schedule that fits the budget: the most thresholds, then two survivors
    of the early cuts rather than one (a threshold that starts slower often ends better), then the reserve for
    alternatives after the race (`reserve`: whether some wait for it; by default a config's do), then the longest
    first horizon. `restarts`: trials of a script (see `Schedule.restarts`). When no race of two thresholds fits,
    the cheapest plan: one threshold (a script's runs the whole length at once: a rerun to a longer horizon
    repeats the shorter one)."""
    shortest = max(min(total, 10), math.ceil(MIN_FIRST_HORIZON * total))
    horizons = sorted({max(shortest, math.ceil(total / 2**r)) for r in range(8)}, reverse=True)
    # The reserve: 20% of a run, and at least 20 steps (two alternatives of 10 steps) where runs are short.
    reserve = not restarts if reserve is None else reserve
    reserves = (max(math.ceil(LR_TRIAL_RESERVE * total), min(total, 20)), 0) if reserve else (0,)
    for n in range(max_thresholds, 1, -1):
        for min_keep in (2, 1):
            for kept in reserves:
                for horizon in horizons:
                    plan = Schedule(n, horizon, min_keep, alternatives, restarts)
                    if plan.cost(total) <= budget * total - kept:
                        return plan
    return Schedule(1, total if restarts else shortest, 1, alternatives, restarts)


# Which points of the 9-point bracket a thinner search keeps first: its ends, its middle, then half-decade
# neighbours, the lower ones first (winners fall below the stable median more often than above it).
THIN_ORDER = (0, 8, 4, 2, 6, 3, 5, 1, 7)


def _thin(thresholds: list[float], n: int, median: float) -> list[float]:
    """`n` of the sorted `thresholds`: for the 9-point bracket in `THIN_ORDER`, otherwise evenly spread over the
    bracket (its ends kept); a single one is the nearest the stable `median` (it clips about half the steps)."""
    if n >= len(thresholds):
        return thresholds
    if n == 1:
        return [min(thresholds, key=lambda t: abs(math.log(t / median)) if median > 0 else 0.0)]
    if len(thresholds) == len(THIN_ORDER):
        picks = set(THIN_ORDER[:n])
    else:
        picks = {round(i * (len(thresholds) - 1) / (n - 1)) for i in range(n)}
    return [t for i, t in enumerate(thresholds) if i in picks]


def _as_good(probe: Trial, trials: list[Trial]) -> bool:
    """Whether the unclipped probe's late loss is within HEALTHY_MARGIN of every trial's at the same length."""
    best = min((t.late_at(probe.steps) for t in trials if t.steps >= probe.steps), default=math.inf)
    return math.isfinite(probe.late_loss) and probe.late_loss <= HEALTHY_MARGIN * best


def _successive_halving(trials: list[Trial], plan: Schedule, total: int, advance,
                        spent: Callable[[], int] | None = None) -> list[Trial]:
    """Run every trial to the first horizon; keep the better half, double the horizon, until the finalists
    have run `total` steps. Steps the plan counted but trials that blew up did not spend buy one more survivor
    per round when the rest of the plan still fits. A trial that has run the whole length already (a script's
    unclipped probe, run whole first) is a finalist and takes no survivor's place. Returns the finalists, best
    first."""
    alive = list(trials)
    horizon = plan.first_horizon
    planned = plan.cost(total)
    while True:
        for trial in alive:
            if trial.session.stop is None:
                advance(trial, horizon)
        if horizon >= total:
            return sorted(alive, key=_rank)
        finished = [t for t in alive if t.steps >= total]
        alive = [t for t in alive if t.steps < total]
        alive.sort(key=lambda t: _rank(t, horizon))
        keep = _survivors(len(alive), horizon, total, plan.min_keep)
        if spent is not None and keep < len(alive) and math.isfinite(alive[keep].late_loss) and \
                spent() + _rest_cost(keep + 1, horizon, total, plan.min_keep) <= planned:
            keep += 1
        _spare_the_unclipped(alive, keep, horizon)
        for trial in alive[keep:]:
            trial.eliminated_at = horizon
        alive = finished + alive[:keep]
        horizon = min(total, horizon * 2)


def _spare_the_unclipped(ranked: list[Trial], keep: int, horizon: int) -> None:
    """A clip must earn its place: the unclipped trial, about to be cut (at `keep` or below in `ranked`, best
    first) while its loss at this `horizon` is within SPARE_MARGIN of the best, takes the last survivor's
    place. An early cut is a few noisy batches: a healthy run lost to a clip by 1% there was judged against
    clips that had run ten times longer (the bundled healthy MLP and transformer got a clip on every step)."""
    at = next((i for i, t in enumerate(ranked) if t.unclipped), None)
    if at is None or at < keep or keep == 0:
        return
    best, own = _rank(ranked[0], horizon)[0], _rank(ranked[at], horizon)[0]
    if best > 0 and own <= SPARE_MARGIN * best:
        ranked[keep - 1], ranked[at] = ranked[at], ranked[keep - 1]


def _rest_cost(alive: int, horizon: int, total: int, min_keep: int) -> int:
    """Steps the rest of a halving schedule costs at most, from `alive` survivors at `horizon`."""
    cost = 0
    while horizon < total:
        nxt = min(total, horizon * 2)
        cost += alive * (nxt - horizon)
        alive, horizon = _survivors(alive, nxt, total, min_keep), nxt
    return cost


RANK_WINDOW = 0.25  # a trial cut short is ranked by the median of its last 25% of steps (at least 5)


def _rank(trial: Trial, horizon: int | None = None) -> tuple[float, float]:
    """Lower late loss first; at an intermediate `horizon`, the median of the last quarter of the steps (at least
    5): the last 10% of a short horizon is a few noisy batches. Exact ties are runs that behaved identically so
    far: among runs that never clipped (the unclipped trajectory) the smallest threshold is the safest; among runs
    that always clipped (under Adam, any threshold that always clips gives the same updates) the largest
    interferes least."""
    loss = trial.late_loss
    if horizon is not None and math.isfinite(loss) and len(trial.losses):
        loss = late_level(trial.losses, RANK_WINDOW, round_up=True, at_least=5)
    loss = float(f"{loss:.9g}") if math.isfinite(loss) else math.inf
    threshold = trial.threshold if trial.threshold is not None else math.inf
    return loss, (-threshold if trial.clipped_fraction >= 0.999 else threshold)


def _input_scale_note(session: Any) -> str:
    """A note when the first batch's input features differ in scale by 100x or more. Integer inputs (token ids,
    class indices) and models that start with an embedding take ids, not features: no note."""
    batch = getattr(session, "first_batch", None)
    if not isinstance(batch, tuple | list) or not batch:  # a script's trial: its batches are the script's own
        return ""
    import torch

    if not isinstance(batch[0], torch.Tensor) or batch[0].ndim != 2:
        return ""
    if not batch[0].is_floating_point() or _embedding_first(getattr(session, "model", None)):
        return ""
    std = batch[0].float().std(0)
    std = std[std > 0]
    if len(std) < 2 or float(std.max() / std.min()) < 100:
        return ""
    ratio = number_text(float(std.max() / std.min()), ".3g")
    return f"input features differ in scale by {ratio}x: standardise them (zero mean, unit variance)"


def _embedding_first(model: Any) -> bool:
    """Whether the model's first leaf module is an embedding (its inputs are ids, not features)."""
    import torch

    if model is None:
        return False
    leaf = next((m for m in model.modules() if not list(m.children())), None)
    return isinstance(leaf, torch.nn.Embedding | torch.nn.EmbeddingBag)


def _predicted_fraction(trace: Trace, mode: str, threshold: float, stable_steps: int) -> float:
    values = trace.grad_norm if mode == "norm" else trace.column("grad_max_abs")
    values = values[:max(stable_steps, 1)]
    values = values[np.isfinite(values)]
    return float(np.mean(values > threshold)) if len(values) else 0.0


def _why(top: Trial, others: list[Trial]) -> str:
    """Why the top clip trial wins: its late loss where it stopped, beside the other full-length trials'."""
    parts = [f"{top.name} had the lowest late loss of the clips at {top.steps} steps "
             f"({_fmt(top.late_loss)})"]
    for t in others:
        parts.append(f"{t.changes or t.name}: {_fmt(t.late_loss)}{_nan_note(t)}")
    return "; ".join(parts)



def _fmt(value: float) -> str:
    return number_text(value, nonfinite=WORD)


def _nan_note(trial: Trial) -> str:
    return f" (non-finite at step {trial.first_nonfinite_step})" if trial.first_nonfinite_step is not None else ""
