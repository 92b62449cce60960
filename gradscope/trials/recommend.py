"""`recommend`: the clip threshold that actually fixes the run, measured by trials, with the evidence; or, when
the trials show that a clip is not the fix, the change that is (a lower learning rate, a warm-up, standardised
inputs), with the `compare --try` that shows it.

1. Probe: the unclipped run, seeded like `diagnose`. Its stable phase (the steps before the gradient norm
   starts to climb or anything goes non-finite) gives the typical gradient scale: robust percentiles
   (AutoClip clips at a low percentile of the history), an EMA z-score bound (ZClip), and the norm where
   exponential growth set in.
2. Candidates: a log-spaced bracket of thresholds around that scale (half-decade steps, 1e-3x to 10x the
   median), with the evidence-derived values snapped in, plus "no clipping". Under an adaptive optimizer
   (Adam, AdamW, RMSprop, ...) a clip barely changes the update's size, so fewer thresholds race, beside the
   alternatives: a 10x and a 100x lower learning rate and a warm-up.
3. Successive halving: every candidate runs a short horizon from the same seed and data order; the better half
   (by the late loss; any non-finite run loses) continues to twice the horizon, and so on, until the finalists
   run the full configured length. Runs are resumed, not restarted, so promotion costs only the extra steps.
   The default budget is 2x the steps of one diagnose run.
4. The winner is the finalist with the lowest full-length late loss. When a clip is not the fix (no threshold
   brings the loss below its start, the winning clip barely beats no clip, sits at the edge of the bracket, or
   an alternative trains clearly better), the alternatives not yet tried run on what is left of the budget, and
   the one that works is reported with `clipping_helps: false`. A winning threshold at the lower edge that does
   not clip on every step is extended one half-decade below when the budget allows; otherwise the edge is said.
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
from gradscope.config.load import Config, ScheduleConfig
from gradscope.diagnose.symptoms.catalogue import SymptomKind
from gradscope.errors import GradscopeError, UserCodeError
from gradscope.numbers import WORD, number_text
from gradscope.report.snippets import fix_snippets, optimizer_of, snippets
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
ALTERNATIVE_WINS = 0.5  # a lower lr / standardised inputs that halve the top clip's late loss: that is the fix
ALTERNATIVE_GAIN = 0.1  # ... or that closes 10% of the gap between the top clip and the start, when a clip was
#                          suspect (adaptive optimizer, edge of the bracket, barely better than no clip)
BARELY = 0.9  # a winning clip whose late loss is above 90% of the unclipped run's barely beats no clip
WARMUP_FRACTION = 0.1  # the warm-up alternative: over the first 10% of the steps (at least 10)
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
    losses: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @property
    def alternative(self) -> bool:
        return bool(self.changes)

    def late_at(self, steps: int) -> float:
        """The late loss over the first `steps` steps (to compare runs of different lengths)."""
        return late_loss(self.losses[:steps]) if len(self.losses) >= steps else math.inf

    def row(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "steps": self.steps, "late_loss": self.late_loss,
                "first_nonfinite_step": self.first_nonfinite_step, "clipped_fraction": self.clipped_fraction,
                "eliminated_at_step": self.eliminated_at, "note": self.note,
                **({"try": self.changes} if self.changes else {})}


@dataclass(frozen=True)
class Alternative:
    """A fix that is not a clip: what it changes in words, the `compare --try` text, and the changed config."""

    note: str  # "lr 0.1 -> 0.01"
    changes: str  # "optimizer.lr=0.01"
    config: Config | None = field(repr=False, default=None)
    folder: str = ""  # its trial's run folder: "lr-x0.1", "standardized", "warmup"


@dataclass(frozen=True)
class Recommendation:
    """The contract's `recommend --json` document, as data. `fix` is the alternative that works when clipping
    is not the fix ({"note", "try", "late_loss", "steps"}), else None."""

    mode: str
    threshold: float
    method: str
    clipping_helps: bool
    notes: list[str]
    evidence: dict[str, Any]
    snippets: dict[str, str]
    run_dir: str | None = None
    steps_run: int = 0
    budget_steps: int = 0
    fix: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "threshold": self.threshold, "method": self.method,
                "clipping_helps": self.clipping_helps, "fix": self.fix, "notes": self.notes,
                "evidence": self.evidence, "snippets": self.snippets, "run_dir": self.run_dir,
                "cost": {"steps_run": self.steps_run, "budget_steps": self.budget_steps}}


def late_loss(losses: np.ndarray) -> float:
    """Median of the last 10% of the losses; +inf when any loss is non-finite (a run that blew up loses)."""
    if not len(losses) or not np.all(np.isfinite(losses)):
        return math.inf
    k = max(3, math.ceil(len(losses) * LATE_FRACTION))
    return float(np.median(losses[-k:]))


def stable_phase(trace: Trace) -> int:
    """Number of leading steps before growth, spikes or non-finite values: the run's normal regime."""
    from gradscope.diagnose.diagnosis import diagnose_trace

    n = len(trace)
    end = n
    bad = np.flatnonzero(~np.isfinite(trace.loss) | ~np.isfinite(trace.grad_norm)
                         | (trace.column("nonfinite_grads") > 0))
    if len(bad):
        end = min(end, int(bad[0]))
    for s in diagnose_trace(trace).symptoms:
        if s.kind.ends_stable_phase:  # the onset of growth, or the step of a spike
            end = min(end, int(s.evidence.get("onset_step", s.step)))
    return max(end, min(n, 3))


def gradient_statistics(trace: Trace, mode: str) -> dict[str, Any]:
    """Percentiles, ZClip bound and growth onset of the probe's stable phase (norms, or element maxima)."""
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
    pct = {f"p{p}": float(np.percentile(stable, p)) for p in (10, 25, 50, 75, 90, 99)}
    return {"quantity": "global L2 gradient norm" if mode == "norm" else "largest |gradient element|",
            "stable_steps": int(end), "percentiles": pct, "zclip_bound": mean + ZCLIP_Z * math.sqrt(var),
            "autoclip_p10": pct["p10"]}


def candidate_thresholds(stats: dict[str, Any]) -> list[float]:
    """The bracket around the stable median, with AutoClip's p10, the p90 and ZClip's bound snapped in."""
    median = stats["percentiles"]["p50"]
    exponents = list(BRACKET_EXPONENTS)
    if stats["stable_steps"] < SHORT_STABLE_PHASE:  # the scale is unreliable: reach further down
        exponents = [k / 2 for k in range(-8, 1)]
    grid = [median * 10**k for k in exponents]
    snapped: set[int] = set()
    for value in (stats["autoclip_p10"], stats["percentiles"]["p90"], stats["zclip_bound"]):
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


def recommend(config: Config | None, run_dir: Path, *, mode: str = "norm", budget: float = DEFAULT_BUDGET,
              steps: int | None = None, progress: Callable[[int, int], None] | None = None,
              runner: Any = None) -> Recommendation:
    """Probe, bracket, trial and pick a clip threshold for `config`, or the fix that is not a clip (see the
    module docstring).

    `runner` makes the trials of something that is not a config (`gradscope.trials.script.ScriptRunner`: reruns
    of the user's command): its `total` steps, `start(mode, threshold, run_dir, label)` a session like
    `TrainingSession`, `restarts` (a trial advanced further is rerun from the start: the schedule counts that) and
    `steps_run` (spent before the search); `config` is then None (no alternative trials here: a script's own
    alternatives are `--try ARGS` reruns, judged by `judge`).

    Ctrl-C, or the user's code raising inside a trial, ends the search there (no winner from a crashed trial):
    every trial started keeps its record (trace, run.json, diagnosis.json), then the `KeyboardInterrupt` or the
    `UserCodeError` is raised."""
    started: list[Any] = []  # the sessions of the trials started, to finish if the search stops early
    try:
        return _search(config, run_dir, mode, budget, steps, progress, started, runner)
    except (KeyboardInterrupt, UserCodeError, GradscopeError, OSError):  # what ended a trial: every record kept
        for session in started:
            session.finish(write_plots=False)
        raise


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
    schedule = config.schedule
    if 2 * warm <= total and schedule.name is None:
        found.append(Alternative(f"a warm-up over the first {warm} steps",
                                 f'schedule.name="constant";schedule.warmup_steps={warm}',
                                 replace(config, schedule=ScheduleConfig(name="constant", warmup_steps=warm)),
                                 "warmup"))
    elif 2 * warm <= total and schedule.builtin and schedule.warmup_steps == 0:
        found.append(Alternative(f"a warm-up over the first {warm} steps", f"schedule.warmup_steps={warm}",
                                 replace(config, schedule=replace(schedule, warmup_steps=warm)), "warmup"))
    return found


def _search(config: Config | None, run_dir: Path, mode: str, budget: float, steps: int | None,
            progress: Callable[[int, int], None] | None, started: list[Any], runner: Any) -> Recommendation:
    from gradscope.drivers.loop import TrainingSession

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    # An earlier recommend's trials are not ours.
    run_dir = prepare_run_folder(Path(run_dir), keep=[config.path] if config is not None else [])
    if runner is None:
        total = steps or config.run.steps
        config = replace(config, run=replace(config.run, steps=total), clip=None)
    else:
        total = runner.total
    restarts = bool(getattr(runner, "restarts", False))
    budget_steps = int(budget * total)
    spent = getattr(runner, "steps_run", 0)

    def cost(session: Any) -> int:
        return getattr(session, "steps_run", session.step)

    def advance(trial: Trial, to_step: int) -> None:
        nonlocal spent
        session = trial.session
        before = cost(session)
        session.advance(max(0, to_step - session.step))
        spent += cost(session) - before
        _measure(trial)
        if progress is not None:
            progress(min(spent, budget_steps), budget_steps)
        _stop_if_failed(session)

    def start(threshold: float | None, cfg: Config = config, label: str | None = None) -> Trial:
        name = label or _label(mode, threshold)
        trial = Trial(threshold, runner.start(mode, threshold, run_dir / name, name) if runner is not None else
                      TrainingSession(replace(cfg, clip=_clip(mode, threshold)), run_dir / name, steps=total,
                                      label=name))
        started.append(trial.session)
        return trial

    def start_alternative(alt: Alternative) -> Trial:
        trial = start(None, alt.config, label=alt.folder)
        trial.note, trial.changes = alt.note, alt.changes
        return trial

    # Round 0: the unclipped probe; its first batch shows the input scale, its first horizon the gradient scale.
    probe = start(None)
    advance(probe, 1)
    scale_note = _input_scale_note(probe.session)
    optimizer_name = config.optimizer.name if config is not None else None
    adaptive = is_adaptive(optimizer_name)
    alternatives = alternatives_for(config, total)
    # Under an adaptive optimizer, or with badly scaled inputs, the alternatives race beside the clips from the
    # start (standardised inputs, a lower learning rate, a warm-up): a clip is the less likely fix there.
    raced = [a for a in alternatives if scale_note or (adaptive and not a.changes.startswith("data."))]
    raced.sort(key=lambda a: a.folder == "lr-x0.01")  # the 100x lower lr is the first to go when they do not fit
    while True:
        plan = plan_schedule(total, budget, ADAPTIVE_THRESHOLDS if raced else len(BRACKET_EXPONENTS),
                             alternatives=len(raced), restarts=restarts)
        if not raced or plan.cost(total) <= budget_steps:
            break
        raced.pop()  # what does not fit: the 100x lower lr first, then the warm-up, then the 10x lower lr
    advance(probe, plan.first_horizon)
    stats = gradient_statistics(probe.session.trace, mode)
    thresholds = _thin(candidate_thresholds(stats), plan.thresholds)
    trials = [probe] + [start(t) for t in thresholds] + [start_alternative(a) for a in raced]
    _successive_halving(trials, plan, total, advance, (lambda: spent) if not restarts else None)
    initial = float(probe.session.trace.loss[0]) if len(probe.session.trace) else math.nan
    kinds = {s.kind for s in probe.session.finish(write_plots=False).diagnosis.symptoms}

    search = _Search(optimizer_name, mode, total, initial, thresholds, trials, kinds,
                     scale_note, [a for a in alternatives if a not in raced],
                     lambda: budget_steps - spent, advance, start, start_alternative)
    verdict = search.judge()
    for trial in search.trials:
        if trial.session is not None and trial is not probe:
            trial.session.finish(write_plots=False)
    top = verdict.top_clip
    guard_rail = top.threshold is None or top.clipped_fraction == 0.0 or not verdict.clipping_helps
    threshold = stats["percentiles"]["p99"] * 2 if guard_rail else top.threshold
    predicted = _predicted_fraction(probe.session.trace, mode, threshold, stats["stable_steps"])
    notes = _with_result_notes(verdict, mode, threshold, probe, total, guard_rail, optimizer_name)
    clip_rows = [t for t in search.trials if not t.alternative]
    evidence = {
        "statistics": stats,
        "predicted_clipped_fraction": predicted,
        "observed_clipped_fraction": top.clipped_fraction if top.threshold is not None else 0.0,
        "initial_loss": initial,
        "unclipped": probe.row(),
        "trials": [t.row() for t in sorted(clip_rows, key=lambda t: (t.threshold is None, t.threshold or 0))],
        "winner": top.row(),
        "why": _why(top, [t for t in search.trials if t is not top and t.steps >= total], total),
        "probe_symptoms": sorted(k.value for k in kinds),
    }
    alt_rows = [t for t in search.trials if t.alternative]
    if alt_rows:
        evidence["alternatives"] = [t.row() for t in alt_rows]
    fix = None
    if verdict.fix is not None:
        fix = {"note": verdict.fix.note, "try": verdict.fix.changes, "late_loss": verdict.fix.late_loss,
               "steps": verdict.fix.steps}
    method = (f"successive halving over {len(trials)} trials (unclipped + {len(thresholds)} thresholds from "
              f"{thresholds[0]:.3g} to {thresholds[-1]:.3g} around the stable-phase median "
              f"{stats['percentiles']['p50']:.3g}"
              + (f" + {len(raced)} alternatives" if raced else "")
              + f"), scored by the late loss at {total} steps")
    optimizer, lr = optimizer_of(config) if config is not None else (None, None)
    if fix is not None:
        code = fix_snippets(fix["try"], optimizer, lr, total, mode, float(threshold))
    else:
        code = snippets(mode, float(threshold), optimizer, lr, guard_rail=not verdict.clipping_helps)
    return Recommendation(mode, float(threshold), method, verdict.clipping_helps, notes, evidence, code,
                          str(run_dir), spent, budget_steps, fix)


def judge(trials: list[Trial], *, mode: str, total: int, initial: float, thresholds: list[float],
          optimizer: str | None, kinds: set[Kind] | None = None, **runners: Any) -> Verdict:
    """Whether a clip is the fix, from trials someone else ran: for runs gradscope cannot resume, e.g. a script
    attached by command, whose trials are reruns with a threshold, or with `--try ARGS` for an alternative
    (`Trial(None, changes="--lr=1e-3", note="lr 0.1 -> 0.001")`, with `steps`, `late_loss`, `clipped_fraction`
    and `losses` set). `trials` holds the unclipped run, the clips (of the sorted `thresholds`) and any
    alternatives raced. Optional `runners` (`scale_note`, `pending`, `budget_left`, `advance`, `start`,
    `start_alternative`, as `_Search` takes them) let it run the alternatives and the threshold past the edge
    that the judgement asks for; without them it says what it would have tried."""
    return _Search(optimizer, mode, total, initial, list(thresholds), trials, set(kinds or ()), **runners).judge()


@dataclass(frozen=True)
class Verdict:
    """What the trials say: whether a clip is the fix, the top clip trial, the fix when it is not a clip, and the
    notes that explain it."""

    clipping_helps: bool
    top_clip: Trial
    fix: Trial | None
    notes: list[str]


@dataclass
class _Search:
    """The judgement after the race, with what it may still run: the alternatives not raced (`pending`), a
    threshold past the lower edge of the bracket. Not frozen: it adds the trials it runs to `trials`. Without
    `advance` it runs nothing more (see `judge`)."""

    optimizer: str | None
    mode: str
    total: int
    initial: float
    thresholds: list[float]
    trials: list[Trial]
    kinds: set[Kind]
    scale_note: str = ""
    pending: list[Alternative] = field(default_factory=list)
    budget_left: Callable[[], int] = lambda: 0
    advance: Callable[[Trial, int], None] | None = None
    start: Callable[..., Trial] | None = None
    start_alternative: Callable[[Alternative], Trial] | None = None

    @property
    def adaptive(self) -> bool:
        return is_adaptive(self.optimizer)

    @property
    def probe(self) -> Trial:
        return next(t for t in self.trials if t.threshold is None and not t.alternative)

    def top(self, alternative: bool) -> Trial | None:
        """The trial that ran furthest with the lowest late loss there, among clips (and unclipped) or
        alternatives."""
        pool = [t for t in self.trials if t.alternative == alternative]
        return min(pool, key=lambda t: (-t.steps, *_rank(t)), default=None)

    def judge(self) -> Verdict:
        notes: list[str] = []
        top = self.top(alternative=False)
        top = self._past_the_edge(top, notes)
        probe = self.probe
        clipped = top.threshold is not None and top.clipped_fraction > 0.0
        clipping_helps = clipped
        if not clipped:
            notes.append("the winning trial did not clip at all: the run never needed clipping"
                         if top.threshold is not None else "no threshold beat the unclipped run")
        elif not self.kinds and probe.steps >= self.total and _as_good(probe, self.trials):
            # Only a probe that ran the whole length can vouch for the run: instabilities often start late.
            clipping_helps = False
            notes.append(f"the unclipped run is healthy and within {HEALTHY_MARGIN - 1:.0%} of the winning "
                         f"trial's late loss at {probe.steps} steps: clipping is not needed")
        common = min(top.steps, probe.steps)  # the unclipped probe may have been stopped early: equal lengths
        unclipped_there = probe.late_at(common)
        barely = clipped and math.isfinite(unclipped_there) and top.late_at(common) >= BARELY * unclipped_there
        vanishing = (SymptomKind.VANISHING_GRADIENT in self.kinds
                     and not self.kinds & {SymptomKind.EXPLODING_GRADIENT, SymptomKind.NONFINITE_GRADIENT,
                                           SymptomKind.NONFINITE_LOSS}
                     and (not clipped or barely))  # a clip that clearly beats no clip outweighs the symptom
        if vanishing:
            clipping_helps = False
            notes.append("gradients vanish: clipping only makes them smaller. Use ReLU/GELU instead of "
                         "sigmoid/tanh, add normalisation or residual connections, or a variance-preserving init")
            return Verdict(False, top, None, notes)
        never_below_start = math.isfinite(self.initial) and all(
            t.late_loss >= self.initial for t in self.trials if not t.alternative)
        reasons = self._suspect(top, barely, never_below_start)
        if not reasons and not any(t.alternative for t in self.trials):
            return Verdict(clipping_helps, top, None, notes)
        notes += reasons
        if self.scale_note:
            notes.append(self.scale_note)
        self._run_pending()
        return self._weigh(clipping_helps, top, never_below_start, bool(reasons), notes)

    def _suspect(self, top: Trial, barely: bool, never_below_start: bool) -> list[str]:
        """Why a clip may not be the fix (each as a note), when the alternatives must be tried."""
        reasons = []
        if never_below_start:
            reasons.append(f"the loss stays above its start ({self.initial:.4g}) with every threshold tried: "
                           "clipping is not the fix")
        elif barely:
            common = min(top.steps, self.probe.steps)
            reasons.append(f"clip-{self.mode} {top.threshold:.3g} barely beats no clip (late loss "
                           f"{_fmt(top.late_at(common))} against {_fmt(self.probe.late_at(common))} unclipped at "
                           f"{common} steps)")
        if self.adaptive and top.threshold is not None:
            reasons.append(f"under {self.optimizer} a clip barely changes the update's size "
                           "(the optimizer divides by a running gradient scale): the learning rate or a warm-up "
                           "is the likelier fix")
        if (not never_below_start and top.threshold is not None and top.threshold == self.thresholds[0]
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
        if top.threshold == self.thresholds[-1] and len(self.thresholds) > 1:
            notes.append(f"the top clip is the largest threshold tried ({top.threshold:.3g}, clipping on "
                         f"{top.clipped_fraction:.0%} of steps): it only trims rare spikes")
            return top
        if top.threshold != self.thresholds[0] or top.clipped_fraction >= ALWAYS_ON:
            return top
        lower = float(f"{top.threshold / math.sqrt(10):.3g}")
        if self.advance is None or self.start is None or self.budget_left() < self.total:
            notes.append(f"the top clip is the lowest threshold tried ({top.threshold:.3g}); the budget "
                         f"left no trial below it: a lower one may do better (gradscope compare CONFIG "
                         f"--clip-{self.mode} {lower:.3g})")
            return top
        trial = self.start(lower)
        self.advance(trial, self.total)
        self.trials.append(trial)
        self.thresholds.insert(0, lower)
        if _rank(trial) < _rank(top):
            notes.append(f"the search went below its bracket: {lower:.3g} beat {top.threshold:.3g}")
            return self._past_the_edge(trial, notes) if trial.clipped_fraction < ALWAYS_ON else trial
        notes.append(f"{top.threshold:.3g} was the lowest threshold of the bracket; {lower:.3g} below it did "
                     f"worse (late loss {_fmt(trial.late_loss)})")
        return top

    def _run_pending(self) -> None:
        """The alternatives not raced, on what is left of the budget, shared equally (at least 10 steps each, the
        first ones first): standardised inputs, a 10x lower lr and a warm-up; the 100x lower lr only where the
        10x lower one still went non-finite."""
        if self.advance is None or self.start_alternative is None:
            return
        todo = [a for a in self.pending if not any(t.changes == a.changes for t in self.trials)]
        lrs = [a for a in todo if a.changes.startswith("optimizer.lr")]
        later = lrs[1:]  # the 100x lower lr: only if needed
        first = [a for a in todo if a not in later]
        for alt in first + later:
            if alt in later and (self._an_lr_trains() or not self._ran(lrs[0])):
                continue
            share = len(first) - sum(self._ran(a) for a in first) + (alt in later)
            shortest = min(self.total, 10)  # fewer steps say nothing: run fewer alternatives, in this order
            steps = max(shortest, min(self.total, self.budget_left() // max(1, share)))
            if steps > self.budget_left():
                break
            trial = self.start_alternative(alt)
            self.advance(trial, steps)
            self.trials.append(trial)

    def _ran(self, alt: Alternative) -> bool:
        return any(t.changes == alt.changes for t in self.trials)

    def _an_lr_trains(self) -> bool:
        return any(t.changes.startswith("optimizer.lr") and t.first_nonfinite_step is None for t in self.trials)

    def _weigh(self, clipping_helps: bool, top: Trial, never_below_start: bool, suspect: bool,
               notes: list[str]) -> Verdict:
        """The alternatives against the top clip at equal length: which is the fix."""
        alternatives = [t for t in self.trials if t.alternative]
        common = {id(t): min(t.steps, top.steps) for t in alternatives}
        clip_there = {id(t): top.late_at(common[id(t)]) for t in alternatives}
        where = "unclipped" if top.threshold is None else f"clip-{self.mode} {top.threshold:.3g}"
        for t in alternatives:
            n = common[id(t)]
            further = f"; {_fmt(t.late_loss)} at {t.steps} steps" if t.steps > n else ""
            notes.append(f"{t.note}: late loss {_fmt(t.late_at(n))} against {_fmt(clip_there[id(t)])} ({where}) at "
                         f"{n} steps{further}")
        best = min(alternatives, key=lambda t: (t.late_at(common[id(t)]) - clip_there[id(t)], t.late_loss),
                   default=None)
        if best is None:
            return Verdict(False if never_below_start else clipping_helps, top, None, notes)
        own, clip = best.late_at(common[id(best)]), clip_there[id(best)]
        if self.scale_note:
            wins = own <= clip
        elif suspect and math.isfinite(own):
            wins = own < clip and (clip - own) >= ALTERNATIVE_GAIN * (self.initial - own)
        else:
            wins = own <= ALTERNATIVE_WINS * clip
        fix = best if wins and own < min(self.initial, clip) else None
        if fix is not None:
            notes.append(f"fix the cause instead: {fix.note} (side by side, from the same seed: "
                         f"gradscope compare CONFIG --try '{fix.changes}')")
        return Verdict(clipping_helps and not wins and not never_below_start, top, fix, notes)


def _with_result_notes(verdict: Verdict, mode: str, threshold: float, unclipped: Trial, total: int,
                       guard_rail: bool, optimizer: str | None) -> list[str]:
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
        notes.insert(0, f"clip-{mode} {threshold:.3g}: late loss {_fmt(top.late_loss)} at {top.steps} steps; "
                        f"unclipped: late loss {_fmt(unclipped.late_loss)} at {unclipped.steps} steps"
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
            return total + schedule_cost(self.thresholds, total, self.first_horizon, self.min_keep, True)
        return schedule_cost(self.thresholds + 1 + self.alternatives, total, self.first_horizon, self.min_keep)


def plan_schedule(total: int, budget: float, max_thresholds: int = len(BRACKET_EXPONENTS),
                  alternatives: int = 0, *, restarts: bool = False) -> Schedule:
    """The richest successive-halving schedule that fits the budget: the most thresholds, then two survivors
    of the early cuts rather than one (a threshold that starts slower often ends better), then the reserve for
    alternatives after the race, then the longest first horizon. `restarts`: trials of a script (see
    `Schedule.restarts`), which has no alternative trials to reserve for."""
    shortest = max(min(total, 10), math.ceil(MIN_FIRST_HORIZON * total))
    horizons = sorted({max(shortest, math.ceil(total / 2**r)) for r in range(8)}, reverse=True)
    # The reserve: 20% of a run, and at least 20 steps (two alternatives of 10 steps) where runs are short.
    reserves = (0,) if restarts else (max(math.ceil(LR_TRIAL_RESERVE * total), min(total, 20)), 0)
    for n in range(max_thresholds, 1, -1):
        for min_keep in (2, 1):
            for reserve in reserves:
                for horizon in horizons:
                    plan = Schedule(n, horizon, min_keep, alternatives, restarts)
                    if plan.cost(total) <= budget * total - reserve:
                        return plan
    return Schedule(2, shortest, 1, alternatives, restarts)


# Which points of the 9-point bracket a thinner search keeps first: its ends, its middle, then half-decade
# neighbours, the lower ones first (winners fall below the stable median more often than above it).
THIN_ORDER = (0, 8, 4, 2, 6, 3, 5, 1, 7)


def _thin(thresholds: list[float], n: int) -> list[float]:
    """`n` of the sorted `thresholds`: for the 9-point bracket in `THIN_ORDER`, otherwise evenly spread over the
    bracket (its ends kept)."""
    if n >= len(thresholds):
        return thresholds
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
    per round when the rest of the plan still fits. Returns the finalists, best first."""
    alive = list(trials)
    horizon = plan.first_horizon
    planned = plan.cost(total)
    while True:
        for trial in alive:
            if trial.session.stop is None:
                advance(trial, horizon)
        if horizon >= total:
            return sorted(alive, key=_rank)
        alive.sort(key=lambda t: _rank(t, horizon))
        keep = _survivors(len(alive), horizon, total, plan.min_keep)
        if spent is not None and keep < len(alive) and math.isfinite(alive[keep].late_loss) and \
                spent() + _rest_cost(keep + 1, horizon, total, plan.min_keep) <= planned:
            keep += 1
        for trial in alive[keep:]:
            trial.eliminated_at = horizon
        alive = alive[:keep]
        horizon = min(total, horizon * 2)


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
        window = trial.losses[-max(5, math.ceil(RANK_WINDOW * len(trial.losses))):]
        loss = float(np.median(window)) if np.all(np.isfinite(window)) else math.inf
    loss = float(f"{loss:.9g}") if math.isfinite(loss) else math.inf
    threshold = trial.threshold if trial.threshold is not None else math.inf
    return loss, (-threshold if trial.clipped_fraction >= 0.999 else threshold)


def _input_scale_note(session: Any) -> str:
    """A note when the first batch's input features differ in scale by 100x or more. Integer inputs (token ids,
    class indices) and models that start with an embedding take ids, not features: no note."""
    import torch

    batch = getattr(session, "first_batch", None)
    if not isinstance(batch, tuple | list) or not isinstance(batch[0], torch.Tensor) or batch[0].ndim != 2:
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


def _why(top: Trial, others: list[Trial], total: int) -> str:
    """Why the top clip trial wins: its late loss where it stopped, beside the other full-length trials'."""
    parts = [f"{_threshold_text(top.threshold)} had the lowest late loss of the clips at {top.steps} steps "
             f"({_fmt(top.late_loss)})"]
    for t in others:
        parts.append(f"{t.changes or _threshold_text(t.threshold)}: {_fmt(t.late_loss)}"
                     + (f" (non-finite at step {t.first_nonfinite_step})" if t.first_nonfinite_step is not None
                        else ""))
    return "; ".join(parts)


def _threshold_text(threshold: float | None) -> str:
    return "unclipped" if threshold is None else f"{threshold:.3g}"


def _fmt(value: float) -> str:
    return number_text(value, nonfinite=WORD)


def _nan_note(trial: Trial) -> str:
    return f" (non-finite at step {trial.first_nonfinite_step})" if trial.first_nonfinite_step is not None else ""
