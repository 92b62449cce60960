"""`recommend`: the clip threshold that actually fixes the run, measured by trials, with the evidence.

1. Probe: the unclipped run, seeded like `diagnose`. Its stable phase (the steps before the gradient norm
   starts to climb or anything goes non-finite) gives the typical gradient scale: robust percentiles
   (AutoClip clips at a low percentile of the history), an EMA z-score bound (ZClip), and the norm where
   exponential growth set in.
2. Candidates: a log-spaced bracket of thresholds around that scale (half-decade steps, 1e-3x to 10x the
   median), with the evidence-derived values snapped in, plus "no clipping".
3. Successive halving: every candidate runs a short horizon from the same seed and data order; the better half
   (by the late loss; any non-finite run loses) continues to twice the horizon, and so on, until the finalists
   run the full configured length. Runs are resumed, not restarted, so promotion costs only the extra steps.
   The default budget is 4x the steps of one diagnose run.
4. The winner is the finalist with the best full-length late loss. When no threshold brings the loss below its
   starting level, clipping is not the fix: a trial with a 10x lower learning rate (and standardised inputs for
   a CSV source) shows what is.
"""

from __future__ import annotations

import math
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
from gradscope.report.snippets import optimizer_of, snippets
from gradscope.trace.run_folder import prepare_run_folder
from gradscope.trace.trace import StopReason, Trace, first_nonfinite_step

if TYPE_CHECKING:
    from gradscope.diagnose.symptoms.base import Kind

MODES = ("norm", "value")
DEFAULT_BUDGET = 4.0  # total optimizer steps, in units of one diagnose run
BRACKET_EXPONENTS = tuple(k / 2 for k in range(-6, 3))  # thresholds at median x 10**(k/2): 1e-3 .. 10
SHORT_STABLE_PHASE = 10  # fewer stable steps than this: the median is not a reliable scale, widen downwards
LATE_FRACTION = 0.1  # the late loss is the median of the last 10% of a run's steps (at least 3)
ALWAYS_ON = 0.95  # a winner that clips on more steps than this has made the run normalised SGD
ZCLIP_ALPHA = 0.97  # ZClip's EMA factor and z threshold (its defaults)
ZCLIP_Z = 2.5
LR_TRIAL_FACTOR = 0.1
HEALTHY_MARGIN = 1.1  # a healthy unclipped run this close to the best trial needs no clipping
ALTERNATIVE_WINS = 0.5  # a lower lr / standardised inputs that halve the best clipped late loss: that is the fix


@dataclass
class Trial:
    """One clipped (or unclipped) trial: how far it ran and its late loss there. Not frozen: successive
    halving measures it after every round it survives (`_measure`)."""

    threshold: float | None  # None: no clipping
    session: Any = field(repr=False, default=None)
    steps: int = 0
    late_loss: float = math.inf
    first_nonfinite_step: int | None = None
    clipped_fraction: float = 0.0
    eliminated_at: int | None = None
    note: str = ""
    changes: str = ""  # an alternative trial's config change, as `compare --try` takes it


    def row(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "steps": self.steps, "late_loss": self.late_loss,
                "first_nonfinite_step": self.first_nonfinite_step, "clipped_fraction": self.clipped_fraction,
                "eliminated_at_step": self.eliminated_at, "note": self.note,
                **({"try": self.changes} if self.changes else {})}


@dataclass(frozen=True)
class Recommendation:
    """The contract's `recommend --json` document, as data."""

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

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "threshold": self.threshold, "method": self.method,
                "clipping_helps": self.clipping_helps, "notes": self.notes, "evidence": self.evidence,
                "snippets": self.snippets, "run_dir": self.run_dir,
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
    loss = trace.loss
    trial.late_loss = late_loss(loss) if not _blew_up(trial.session) else math.inf
    trial.first_nonfinite_step = first_nonfinite_step(trace)
    trial.clipped_fraction = float(trace.column("clipped").mean()) if len(trace) else 0.0


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
    """Probe, bracket, trial and pick a clip threshold for `config` (see the module docstring).

    `runner` makes the trials of something that is not a config (`gradscope.trials.script.ScriptRunner`: reruns
    of the user's command): its `total` steps, `start(mode, threshold, run_dir, label)` a session like
    `TrainingSession`, `restarts` (a trial advanced further is rerun from the start: the schedule counts that) and
    `steps_run` (spent before the search); `config` is then None (no alternative trials).

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

    # Round 0: the unclipped probe, long enough for the statistics (it is also a candidate).
    plan = plan_schedule(total, budget, restarts=getattr(runner, "restarts", False))
    probe = start(None)
    advance(probe, plan.first_horizon)
    stats = gradient_statistics(probe.session.trace, mode)
    thresholds = _thin(candidate_thresholds(stats), plan.thresholds)
    trials = [probe] + [start(t) for t in thresholds]

    finalists = _successive_halving(trials, plan, total, advance)
    winner = finalists[0]
    unclipped = probe
    initial = float(probe.session.trace.loss[0]) if len(probe.session.trace) else math.nan

    kinds = {s.kind for s in probe.session.finish(write_plots=False).diagnosis.symptoms}
    clipping_helps, notes, alternatives, vanishing = _judge(
        config, trials, winner, initial, kinds, _input_scale_note(probe.session), total,
        lambda: budget_steps - spent, advance, start)
    for trial in trials:
        if trial.session is not None and trial is not probe:
            trial.session.finish(write_plots=False)
    guard_rail = winner.threshold is None or winner.clipped_fraction == 0.0 or vanishing or (
        not clipping_helps and not alternatives)
    threshold = stats["percentiles"]["p99"] * 2 if guard_rail else winner.threshold
    predicted = _predicted_fraction(probe.session.trace, mode, threshold, stats["stable_steps"])
    notes = _with_result_notes(notes, mode, threshold, winner, unclipped, total, clipping_helps, guard_rail)
    evidence = {
        "statistics": stats,
        "predicted_clipped_fraction": predicted,
        "observed_clipped_fraction": winner.clipped_fraction if winner.threshold is not None else 0.0,
        "initial_loss": initial,
        **_trial_evidence(trials, finalists, total),
        "probe_symptoms": sorted(k.value for k in kinds),
    }
    if alternatives:
        evidence["alternatives"] = [t.row() for t in alternatives]
    method = (f"successive halving over {len(trials)} trials (unclipped + {len(thresholds)} thresholds from "
              f"{thresholds[0]:.3g} to {thresholds[-1]:.3g} around the stable-phase median "
              f"{stats['percentiles']['p50']:.3g}), scored by the late loss at {total} steps")
    return Recommendation(mode, float(threshold), method, clipping_helps, notes, evidence,
                          snippets(mode, float(threshold), *(optimizer_of(config) if config is not None else ())),
                          str(run_dir), spent, budget_steps)


def _with_result_notes(notes: list[str], mode: str, threshold: float, winner: Trial, unclipped: Trial, total: int,
                       clipping_helps: bool, guard_rail: bool) -> list[str]:
    """The judgement's `notes` with the result: first the winner against the unclipped run when clipping helps,
    last a warning when it clips on nearly every step, or the guard rail when clipping is not needed."""
    notes = list(notes)
    if clipping_helps and winner.clipped_fraction >= ALWAYS_ON:
        notes.append(f"clipping engages on {winner.clipped_fraction:.0%} of steps: the run becomes normalised "
                     f"SGD (step = lr x {winner.threshold:.3g}); a lower learning rate may serve better")
    if clipping_helps:
        notes.insert(0, f"clip-{mode} {threshold:.3g}: late loss {_fmt(winner.late_loss)} at {total} steps; "
                        f"unclipped: late loss {_fmt(unclipped.late_loss)} at {unclipped.steps} steps"
                        f"{_nan_note(unclipped)}")
    elif guard_rail:
        notes.append(f"if you want a guard rail anyway, {threshold:.3g} (2x the 99th percentile of the stable "
                     "phase) rarely clips")
    return notes


def _trial_evidence(trials: list[Trial], finalists: list[Trial], total: int) -> dict[str, Any]:
    """The evidence's trial rows (by threshold, unclipped last), the unclipped probe, the winner and why."""
    winner, unclipped = finalists[0], next(t for t in trials if t.threshold is None)
    return {"unclipped": unclipped.row(),
            "trials": [t.row() for t in sorted(trials, key=lambda t: (t.threshold is None, t.threshold or 0))],
            "winner": winner.row(), "why": _why(winner, finalists, total)}


def schedule_cost(candidates: int, total: int, first_horizon: int, min_keep: int = 2, restarts: bool = False) -> int:
    """Optimizer steps successive halving spends at most (runs that blow up stop early and cost less). With
    `restarts` a promoted trial runs again from its first step (a script cannot be resumed)."""
    alive, horizon = candidates, first_horizon
    cost = candidates * first_horizon
    while horizon < total:
        alive = max(min_keep, alive // 2)
        nxt = min(total, horizon * 2)
        cost += alive * (nxt - (0 if restarts else horizon))
        horizon = nxt
    return cost


LR_TRIAL_RESERVE = 0.5  # budget (in runs) kept for the lower-learning-rate / standardised-input trials
MIN_FIRST_HORIZON = 0.1  # the first round runs at least 10% of the steps: shorter says too little


@dataclass(frozen=True)
class Schedule:
    thresholds: int  # how many clip thresholds (the unclipped run comes on top)
    first_horizon: int
    min_keep: int  # finalists that run the full length
    restarts: bool = False  # trials rerun from the start; the unclipped probe has run whole before

    def cost(self, total: int) -> int:
        if self.restarts:  # the probe's whole run, then the thresholds (the probe advances for free)
            return total + schedule_cost(self.thresholds, total, self.first_horizon, self.min_keep, True)
        return schedule_cost(self.thresholds + 1, total, self.first_horizon, self.min_keep)


def plan_schedule(total: int, budget: float, max_thresholds: int = len(BRACKET_EXPONENTS), *,
                  restarts: bool = False) -> Schedule:
    """The richest successive-halving schedule that fits the budget: two finalists, all thresholds and the
    longest first horizon if possible; then fewer thresholds, one finalist, no reserve for alternatives.
    `restarts`: trials of a script (see `Schedule.restarts`), which has no alternative trials to reserve for."""
    shortest = max(min(total, 10), math.ceil(MIN_FIRST_HORIZON * total))
    horizons = sorted({max(shortest, math.ceil(total / 2**r)) for r in range(8)}, reverse=True)
    for reserve in (0.0,) if restarts else (LR_TRIAL_RESERVE, 0.0):
        for min_keep in (2, 1):
            for n in range(max_thresholds, 1, -1):
                for horizon in horizons:
                    plan = Schedule(n, horizon, min_keep, restarts)
                    if plan.cost(total) <= (budget - reserve) * total:
                        return plan
    return Schedule(2, shortest, 1, restarts)


def _thin(thresholds: list[float], n: int) -> list[float]:
    """`n` of the sorted `thresholds`, evenly spread over the bracket (its ends kept)."""
    if n >= len(thresholds):
        return thresholds
    picks = {round(i * (len(thresholds) - 1) / (n - 1)) for i in range(n)}
    return [t for i, t in enumerate(thresholds) if i in picks]


def _judge(config: Config, trials: list[Trial], winner: Trial, initial: float, kinds: set[Kind], scale_note: str,
           total: int, budget_left: Callable[[], int], advance, start) -> tuple[bool, list[str], list[Trial], bool]:
    """Does clipping fix this run, or is the cause elsewhere? (clipping_helps, notes, alternative trials,
    vanishing). Vanishing gradients, a winner that never clipped, a loss that stays above its start with every
    threshold, or a lower learning rate / standardised inputs that beat the best clip all say "elsewhere"."""
    notes: list[str] = []
    clipping_helps = True
    best_clipped = min((t for t in trials if t.threshold is not None), key=lambda t: t.late_loss, default=None)
    probe = next(t for t in trials if t.threshold is None)
    if winner.threshold is None or winner.clipped_fraction == 0.0:
        clipping_helps = False
        notes.append("the run never needed clipping: the best trial did not clip at all"
                     if winner.threshold is not None else "no threshold beat the unclipped run")
    elif not kinds and probe.steps >= total and _as_good(probe, trials):
        # Only a probe that ran the whole length can vouch for the run: instabilities often start late.
        clipping_helps = False
        notes.append(f"the unclipped run is healthy and within {HEALTHY_MARGIN - 1:.0%} of the best trial's loss "
                     f"at {probe.steps} steps: clipping is not needed")
    vanishing = (SymptomKind.VANISHING_GRADIENT in kinds
                 and not kinds & {SymptomKind.EXPLODING_GRADIENT, SymptomKind.NONFINITE_GRADIENT,
                                  SymptomKind.NONFINITE_LOSS})
    if vanishing:
        clipping_helps = False
        notes.append("gradients vanish: clipping only makes them smaller. Use ReLU/GELU instead of "
                     "sigmoid/tanh, add normalisation or residual connections, or a variance-preserving init")
    alternatives: list[Trial] = []
    never_below_start = math.isfinite(initial) and all(t.late_loss >= initial for t in trials)
    if best_clipped is None or vanishing or not (never_below_start or scale_note):
        return clipping_helps, notes, alternatives, vanishing
    # The cause may be the learning rate or the input scale, not the gradient tails: try fixing those.
    if never_below_start:
        notes.append(f"the loss stays above its start ({initial:.4g}) with every threshold tried: clipping "
                     "is not the fix")
    if scale_note:
        notes.append(scale_note)
    alternatives = _alternative_trials(config, total, budget_left(), advance, start)
    best_alt = min(alternatives, key=lambda t: t.late_loss, default=None)
    # Compare at equal length: the best clipped run's late loss over as many steps as the alternatives ran.
    clipped_there = math.inf
    if best_alt is not None:
        clipped_there = late_loss(best_clipped.session.trace.loss[:best_alt.steps])
    for trial in alternatives:
        trial.note = (f"{trial.note}: late loss {_fmt(clipped_there)} (best clip) -> "
                      f"{_fmt(trial.late_loss)} at {trial.steps} steps")
        notes.append(trial.note)
    # With badly scaled inputs, an alternative that does at least as well as the best clip is the fix;
    # otherwise it must halve the loss to overrule clipping.
    margin = 1.0 if scale_note else ALTERNATIVE_WINS
    if never_below_start or (best_alt is not None and best_alt.late_loss <= margin * clipped_there):
        clipping_helps = False
        if best_alt is not None and best_alt.late_loss < min(initial, clipped_there):
            notes.append(f"fix the cause instead: {best_alt.note.split(':')[0]} (side by side, from the same seed: "
                         f"gradscope compare CONFIG --try '{best_alt.changes}')")
    return clipping_helps, notes, alternatives, vanishing


def _as_good(probe: Trial, trials: list[Trial]) -> bool:
    """Whether the unclipped probe's late loss is within HEALTHY_MARGIN of every trial's at the same length."""
    best = min((late_loss(t.session.trace.loss[:probe.steps]) for t in trials if t.steps >= probe.steps),
               default=math.inf)
    return math.isfinite(probe.late_loss) and probe.late_loss <= HEALTHY_MARGIN * best


def _successive_halving(trials: list[Trial], plan: Schedule, total: int, advance) -> list[Trial]:
    """Run every trial to the first horizon; keep the better half, double the horizon, until the finalists
    have run `total` steps. Returns the finalists, best first."""
    alive = list(trials)
    horizon = plan.first_horizon
    while True:
        for trial in alive:
            if trial.session.stop is None:
                advance(trial, horizon)
        if horizon >= total:
            return sorted(alive, key=_rank)
        alive.sort(key=_rank)
        keep = max(plan.min_keep, len(alive) // 2)
        for trial in alive[keep:]:
            trial.eliminated_at = horizon
        alive = alive[:keep]
        horizon = min(total, horizon * 2)


def _rank(trial: Trial) -> tuple[float, float]:
    """Lower late loss first. Exact ties are runs that behaved identically so far: among runs that never
    clipped (the unclipped trajectory) the smallest threshold is the safest; among runs that always clipped
    (under Adam, any threshold that always clips gives the same updates) the largest interferes least."""
    loss = float(f"{trial.late_loss:.9g}") if math.isfinite(trial.late_loss) else math.inf
    threshold = trial.threshold if trial.threshold is not None else math.inf
    return loss, (-threshold if trial.clipped_fraction >= 0.999 else threshold)


def _alternative_trials(config: Config, total: int, budget_left: int, advance, start) -> list[Trial]:
    """Unclipped trials that fix the likely cause: a 10x (then 100x) lower learning rate; standardised CSV
    inputs. They share what is left of the budget."""
    if config is None:  # a script's learning rate is its own flag, unknown here
        return []
    lr = config.optimizer.options.get("lr")
    has_lr = isinstance(lr, int | float) and not isinstance(lr, bool) and lr > 0
    csv = config.data.source == "csv" and not config.data.standardize
    count = int(has_lr) + int(csv)
    steps = min(total, budget_left // max(1, count))
    if not count or steps < min(total, 10):
        return []
    trials: list[Trial] = []

    def run(change: str, cfg: Config, label: str, changes: str) -> Trial:
        trial = start(None, cfg, label=label)
        advance(trial, steps)
        trial.session.finish(write_plots=False)
        trial.note = change
        trial.changes = changes
        trials.append(trial)
        return trial

    if csv:
        run("standardised inputs ([data] standardize = true)",
            replace(config, data=replace(config.data, standardize=True)), "standardized", "data.standardize=true")
    if has_lr:
        for factor in (LR_TRIAL_FACTOR, LR_TRIAL_FACTOR**2):
            options = dict(config.optimizer.options, lr=lr * factor)
            trial = run(f"lr {lr:g} -> {lr * factor:g}",
                        replace(config, optimizer=replace(config.optimizer, options=options)), f"lr-x{factor:g}",
                        f"optimizer.lr={lr * factor:g}")
            if trial.first_nonfinite_step is None or budget_left - steps * len(trials) < steps:
                break  # it trains (or nothing is left for a 100x lower rate)
    return trials


def _input_scale_note(session: Any) -> str:
    """A note when the first batch's input features differ in scale by 100x or more."""
    import torch

    batch = getattr(session, "first_batch", None)
    if not isinstance(batch, tuple | list) or not isinstance(batch[0], torch.Tensor) or batch[0].ndim != 2:
        return ""
    std = batch[0].float().std(0)
    std = std[std > 0]
    if len(std) < 2 or float(std.max() / std.min()) < 100:
        return ""
    return (f"input features differ in scale by {float(std.max() / std.min()):.3g}x: standardise them "
            "(zero mean, unit variance)")


def _predicted_fraction(trace: Trace, mode: str, threshold: float, stable_steps: int) -> float:
    values = trace.grad_norm if mode == "norm" else trace.column("grad_max_abs")
    values = values[:max(stable_steps, 1)]
    values = values[np.isfinite(values)]
    return float(np.mean(values > threshold)) if len(values) else 0.0


def _why(winner: Trial, finalists: list[Trial], total: int) -> str:
    others = [t for t in finalists if t is not winner]
    parts = [f"{_threshold_text(winner.threshold)} had the lowest late loss at {total} steps "
             f"({_fmt(winner.late_loss)})"]
    for t in others:
        parts.append(f"{_threshold_text(t.threshold)}: {_fmt(t.late_loss)}"
                     + (f" (non-finite at step {t.first_nonfinite_step})" if t.first_nonfinite_step is not None
                        else ""))
    return "; ".join(parts)


def _threshold_text(threshold: float | None) -> str:
    return "unclipped" if threshold is None else f"{threshold:.3g}"


def _fmt(value: float) -> str:
    return number_text(value, nonfinite=WORD)


def _nan_note(trial: Trial) -> str:
    return f" (non-finite at step {trial.first_nonfinite_step})" if trial.first_nonfinite_step is not None else ""
