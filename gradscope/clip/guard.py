"""`Guard`: online adaptive gradient clipping in one run, from the statistics `Monitor.record` already took.

No trials: after each backward() it reads the step's global norm and loss (host floats that `record` copied in
its one transfer), decides, clips with `Monitor.clip_norm_` (the norm record computed, no second pass) only on
a step whose norm is over the threshold, and says whether to take the optimizer step. Its rules, each logged
in `events` with the step, the threshold and why:

- The start: the first update is taken blind (no history says how large a safe step is), and a run thrown in its
  first steps cannot be recovered by any clip applied later. A clip there would change every healthy run too
  (bounding the first updates moved healthy runs' late loss by up to 40%: issue 22), so the guard only watches: it
  keeps a snapshot of the weights, buffers and optimizer state from before the first update (`Snapshot`; the
  optimizer is met through a torch pre-step hook) for WATCH steps, taking the updates as they come. When two losses
  in a row rise 50% above where the run began (and beyond the spread of its first batches; a rise under twice the
  start must hold on a third step: an update at the edge of stability throws the loss up a step or two and the run
  falls back by itself, a catapult), or the weights go non-finite, it rolls the run back to the snapshot and skips
  that update. Under SGD (its update is the gradient times the lr: a clip bounds it, and a larger gradient is a
  larger step) two norms 4x the median of the (at least 3) norms before them with the loss not lower count too, and
  so does a weight matrix that has moved over its own norm by the watch's end, the model's matrices together over a
  quarter of theirs, while the loss has not come 10% down (updates too large to learn from: a model stalled at
  chance by its lr shows nothing else).
  An adaptive optimizer (Adam, RMSprop, Adagrad: it divides the gradient's scale out) moves each weight by about its
  lr whatever the gradient, and its healthy first steps jump the norm 4-25x: only its loss shows a throw. The
  optimizer is told apart at its first step (`StepKind`). Under SGD the thrown run restarts at a clip of a quarter
  of the first norm, held; thrown again within WATCH steps, it goes back to its start again at a quarter of that
  clip (SEARCH_TRIES restarts at most): one run's search for the loosest clip its start survives (a ramp that let go
  once the run looked stable threw most of these runs again later). Under an adaptive optimizer a clip does not
  bound the step, and the run restarts under the start ramp, a warm-up of the update: the threshold from 1/8 of the
  first norm, doubling each step whatever the loss does (its rise there is the transient: a threshold held low
  would normalise every later gradient), and a spike (below) ends the ramp at the spike's bar; otherwise the guard
  lets go once the threshold is 8x above the norms, after about 6 steps. The ramp's first updates see normalised
  gradients, which keeps the optimizer's second moments from being set by the early transient. A run that is not
  thrown is never touched: the snapshot is freed after WATCH steps.
- Saves: after the start, a calm run (its loss level at its best, within the noise) is saved every SAVE_EVERY
  steps, the last SAVES kept (`Saves`: copies of the weights, buffers and optimizer state on their device, with
  the guard's own trackers). When the loss rule below finds the run thrown (its level twice its best, five times
  under an adaptive optimizer, on three steps in a row or again within LOSS_RISE_AGAIN steps: a small batch's
  heavy losses lift the level for a step or two and the run comes back by itself; or 50% above it while clipping),
  or a non-finite step ends a rise (or the weights are non-finite), the run goes back to the older save, the
  update is skipped, and it is clipped from there at half the norms before the save (at most half the threshold
  that let the throw happen): clipping from where a throw left the run cannot undo it (SGD's momentum carries
  the thrown updates on, the weights have moved far).
  At most MAX_RESTORES times in a run; a save is taken only in a calm run, so a run never thrown never goes back,
  and its steps are the unguarded run's bit for bit.
- A non-finite loss or gradient in a calm run (a bad batch): skip the update (as OLMo-core's skip-step does) and
  tighten (or engage).
- A spike: a norm far above the robust level of the recent norms (median and MAD, which one spike cannot
  inflate, unlike ZClip's EMA or AutoClip's percentiles, which follow an explosion up) and above every norm the
  run has taken: clip at that level.
- Runaway growth: log(norm) climbing on a straight line (the exponential-growth fit the diagnosis uses) to a
  multiple (2x) of its level before the climb, while the loss is not falling (a model leaving a plateau learns
  faster and its norm grows with it), and with evidence that it is an explosion: the loss level doubled over
  its level before the climb, or the norm 8x every norm before it (not under an adaptive optimizer: its step does
  not grow with the norm), or the guard has acted in this run before
  (an edge-of-stability excursion climbs a few-fold and turns back, its loss far less moved; a healthy run
  never met the guard): hold the norm at half that level; if it still climbs, tighten. The hold is released
  once the evidence is gone (the norms back under 2x the level before the climb, the loss not above its best)
  if the guard had not acted in the run before it; a climb that comes back after that is held for good.
- Norm evidence before the run has learned: under SGD, a spike or a climb that only the norm shows (no clip in
  force, a run the guard has not acted in), found while the loss level is still over UNLEARNED of its start, waits
  up to EVIDENCE_WAIT steps for the loss, with no clip and no save taken. A model leaving its plateau finds its way
  down with a gradient that grows as it goes: a loss level that stays WAIT_LEARNED below its level at the finding
  is left alone; from LOSS_WINDOW steps on, a level that is not puts the run back to the older save (from before
  the finding), clipped from there as a throw is, and so, at once, does a climb whose loss doubles meanwhile. Found
  in a run that has learned, a spike or a climb is clipped at once.
- The loss's response: a loss far above its best (beyond its noise and a fraction of the starting loss) with
  no clipping engages at half the recent median norm; once clipping, a loss that rose since the last change,
  or stays far above its best without coming down, means the threshold is still too loose (the clip bounds the
  update's size): tighten, by the loss's rise up to 4x, but not a third time in a row when the last two left
  it where it was (the weights are already thrown). Clipping on most steps while the loss stops improving
  halves the threshold (reduce on plateau). This finds the clips far below every norm statistic that some
  runs need (a tanh RNN language model at a large SGD learning rate).

Under an adaptive optimizer (Adam, RMSprop, Adagrad...; `StepKind`, told apart at its first step) a clip bounds
the gradient's scale, not the step, so the rules that use it as the step's bound stand down: a norm is no evidence
(of a throw at the start, or of an explosion, even in a run the guard acted in), a spike is clipped at the bar it
crossed (kept out of the optimizer's moments) rather than at the median and not judged in the first WATCH steps
(unless under the start ramp: those steps' norm jumps are the optimizer's transient), and the loss's response
neither engages nor tightens a clip (a healthy Adam run's early loss rise is its transient); a run thrown far (its
loss level five times its best, or 50% above it while clipping) is still put back to a save, and a thrown start
still restarts under the ramp, which its loss does not hold.

Healthy noise engages nothing: each rule needs a change far outside what noise does (see the constants), and a
healthy run is the unguarded run bit for bit. `Guard(model, ramp=False)` does not watch the start (no snapshot:
a run with its own lr warm-up needs no second one); `Guard(model, ramp="always")` ramps every start from the
first update, as the guard did before (it moves healthy runs); `Guard(model, saves=0)` keeps no saves (a model
whose copies do not fit beside it: a throw after the start is then only clipped from where it left the run).
What it cannot do: see a run that learns badly without any signal (a model stalled at chance whose weights do not
move far either: healthy CNNs start as flat, a digits CNN under SGD no lower by step 60 than a ReLU MLP stalled
for good, benchmarks/guard_start.py), or find a threshold far below the norms before a throw without the loss's
slow response; `recommend`'s trials find those. benchmarks/guard_regret.py measures all of this against a
13-point grid oracle, beside ZClip, AutoClip and AGC.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gradscope.clip.snapshot import Saves, Snapshot, StepKind
from gradscope.diagnose.symptoms.thresholds import DEFAULT
from gradscope.monitor.monitor import Monitor, StepStats
from gradscope.numbers import ratio_text
from gradscope.stats import LogFit, log_fit, robust_sigma

WINDOW = 32  # recent norms (and losses) the robust levels are taken over
MIN_HISTORY = 3  # finite norms needed before a spike can be judged; losses that set the starting level
SPIKE_FACTOR = 10.0  # a spike is a norm over this multiple of the recent median, over median + SPIKE_SIGMAS
SPIKE_SIGMAS = 6.0  # robust sigmas (OLMo-core's skip-step uses 6 sigma), and over every norm the run survived
SPIKE_CLIP = 1.0  # a spike engages the clip at this multiple of the recent median (its update is clipped, not
#   skipped: skipping spikes as OLMo-core's skip-step does left an LSTM run skipping half its updates)
GROWTH_WINDOWS = (8, 16)  # trailing windows over which log(norm) must grow as the exploding-gradient detector's
#   rule says (`LogFit.grows` with Thresholds' max_doubling_steps and min_r2) ...
GROWTH_OVER = 2.0  # ... and already stand this many times above its level before the climb
GROWTH_HOLD = 0.5  # hold at half that level: the climb began at it, so the stable step is below it
GROWTH_LOSS = 2.0  # ... and either the loss level this multiple of its level before the climb, or ...
GROWTH_FAR = 8.0  # ... the norm this far above every norm before the climb: near a minimum the loss grows as the
#   norm squared, so a run that explodes shows it in its loss (a norm at GROWTH_OVER x its level: a loss ~4x);
#   an edge-of-stability excursion (a catapult) climbs a few-fold and turns back by itself, its loss level far
#   less moved (a LeNet at SGD lr 0.2: norm 4x in 8 steps, loss level +4%, held for the rest of its run: +41%
#   late loss; a polynomial regression: norm 8x its median, 4.6x its peak, loss level +53%); an RNN's norm can
#   explode before its loss moves, far past anything it had
GROWTH_LEARNING = 0.02  # unless the loss fell by 2% over the climb: a model leaving a plateau learns faster, and its
#   norm grows with it (a LeNet at SGD lr 0.2 did, and was clipped for 141 steps: +42% late loss)
LOSS_WINDOW = 5  # the loss level is the median of the last 5 losses, judged every step
UNLEARNED = 0.8  # under SGD a spike or a climb found by the norm alone (no clip in force, a run the guard has not
#   acted in) while the loss level is still over this fraction of its start (the run has not learned yet) waits for the
#   loss: a model leaving its plateau finds its way down with a gradient that grows as it goes (a raw-kW regression's
#   norm climbed 15x in 15 steps with its loss flat, which then fell 80% in 10 steps; clipped at the top of that climb
#   as a spike, it ended +27% to +101% higher at three seeds of the benchmark) ...
EVIDENCE_WAIT = 2 * LOSS_WINDOW  # ... for this many steps, with no clip and no save taken (norm evidence found in them
#   joins it: the climb goes on as the run learns) ...
WAIT_LEARNED = 0.1  # ... and whenever, from LOSS_WINDOW steps on, its level is not this fraction below its level at the
#   finding, the run goes back to the older save (from before the finding) and is clipped from there
LOSS_RISE_ENGAGE = 1.0  # unclipped: the loss level twice its best so far engages the guard ... (a healthy SGD run's
#   loss bumps, at other seeds of the benchmark's healthy runs, rose to 1.5-1.8x its best and came back by themselves;
#   put back and clipped at 1.5x, a raw-unit regression learning after a bumpy start was held at its start for good,
#   +30,891% late loss, and an LSTM +221%. The unstable runs this rule put back had risen 2.1x or more, but two: 1.6x
#   and 1.7x)
LOSS_RISE_ENGAGE_ADAPTIVE = 4.0  # ... five times under an adaptive optimizer: its clip does not bound the step, so
#   the restore only replays the steps, and its healthy runs' bumps are larger: at other seeds of the benchmark's
#   healthy runs they rose 2.7-4.4x their best and came back by themselves (a pre-norm transformer under AdamW at
#   2.7x, put back: +53.6% late loss), where a post-norm transformer under AdamW that blew up rose 18x
LOSS_RISE_HOLDS = 2  # ... once that level has held on two more steps (three in a row): a small-batch run's loss
#   level bumps to 2-7x its best for a step or two and comes back by itself, where a throw holds (put back at the
#   first level over the bar, healthy BatchNorm CNNs, ResNets and MLPs with batches of 8-16 ended +51.7%, +16.0%,
#   +6.9%, +5.6% and +5.0% higher at benchmark seeds; held on three steps, none moved by over 1%, and the mean
#   regret of the unstable runs rose 0.012: benchmarks/README.md, "sixth stop") ...
LOSS_RISE_AGAIN = 60  # ... or at once when it had gone over the bar within this many steps before: a run that bounces
#   (an LSTM at SGD lr 0.3 rose 3.6x its best, fell back within two steps and rose again 32 steps later; 150 steps
#   scored the same)
LOSS_RISE_FAR = 0.5  # ... and, once clipping, 50% above it is far: the clip did not hold the run (put back, or tighten)
LOSS_ENGAGE = 0.5  # ... at half the recent median norm (the updates of that size are what made it rise)
LOSS_RISE_TIGHTEN = 0.1  # clipping: the loss level 10% above its best, and rising, tightens the threshold ...
LOSS_NOISE = 6.0  # ... when the rise is also over 6 standard errors of a level where the best was set ...
LOSS_RISE_OF_START = (0.1, 0.02)  # ... and over this fraction of the starting loss (to engage, to tighten):
#   near a loss floor (a converged model) the relative noise is large and a relative rise means nothing
PLATEAU = 20  # clipping on most of the last PLATEAU steps, no new best loss since the last change, and the
#   loss below where it started (training, not crawling out of a blow-up): tighten (reduce on plateau)
PLATEAU_CLIPPED = 0.8  # "most": this fraction of them
TIGHTEN = 0.5  # a tightening at least halves the threshold ...
MAX_TIGHTEN = 0.25  # ... and divides it by the loss's rise (level / best), up to 4x: far too loose, far lower
NO_EFFECT_LIMIT = 2  # tightenings in a row that left a blown-up loss where it was: the clip is not what holds it
#   up (the weights are already thrown), so a third would only stall the recovery
COOLDOWN = 10  # steps after a change before the loss may change it again: its level needs them, and so does
#   the optimizer's memory (SGD's momentum 0.9 carries an update on for ~10 steps: judged at once, a clip that
#   holds looks like one that fails, and is tightened far below where the run can learn)
RAMP_START = 1 / 8  # the start: the threshold begins at this fraction of the first norm (each halving of it
#   doubles the steps a healthy run is clipped for, and the late loss of a noisy run moves with them: 1/64 moved
#   healthy runs by up to 8%, 1/8 by up to 4.8%, for the same mean regret) ...
RAMP_FACTOR = 2.0  # ... and doubles each step while the loss has not risen ...
RAMP_RISE = 0.5  # ... (risen: the last two losses 50% above the median of the losses before them, and above
#   their range: one noisy minibatch does that, and so do batches of unequal difficulty, two in a row over the
#   spread of the batches seen so far do not; a thrown run rises 2x to 100x) ...
RAMP_RISE_AT_ONCE = 1.0  # ... (at the start, the first updates watched: two risen losses throw the run when they rose
#   over this fraction, to twice the start or more; a smaller rise must hold on a third step: an update at the edge of
#   stability throws the loss up for a step or two and the run falls back by itself, a catapult, where a thrown run
#   goes on rising. A tabular regression under SGD rose 98% on two steps and came back; restarted at a held clip it
#   ended +124% higher. Of the benchmark's unstable runs thrown at the start by a smaller rise, one came back)
RAMP_NORM_RISE = 4.0  # ... or the last two norms 4x the median of the norms before them, the loss not lower ...
RAMP_BACK = 0.25  # ... when it has, the threshold goes back to a quarter of the last one and holds there ...
RAMP_RELEASE = 8.0  # ... and once it is over this multiple of the norms so far, the guard lets go
SAVE_EVERY = 10  # after the start watch, a calm run (its loss level at its best, within the noise) is saved every
#   10 steps, the last SAVES kept: a run thrown later is put back to the older one (MAX_RESTORES times at most) and
#   clipped from there, not from where the throw left it (SGD's momentum carries thrown updates on after a clip)
SAVES = 2
MAX_RESTORES = 3
SEARCH_START = 1 / 4  # under SGD, a run its first updates threw restarts from its start at a clip of this fraction of
#   the first norm, held: the throw showed its unclipped updates too large, and a ramp that let go threw it again ...
SEARCH_FACTOR = 1 / 4  # ... and a throw within WATCH steps of a restart puts it back again at this fraction of that
#   clip, up to SEARCH_TRIES restarts (1/4 .. 1/256 of the first norm): the clips that saved the benchmark's thrown
#   SGD runs lay from 1/2 to 1/700 of their first norm. Held at 1/8 or 1/2 of it instead, the same runs' regret
#   summed 3.7 and 5.2 against this search's 2.0 (benchmarks/guard_regret.py)
SEARCH_TRIES = 4
MOVED = 1.0  # at the watch's end, a weight matrix this many times its own norm from where it began ...
MOVED_MODEL = 0.25  # ... and the model's weight matrices together this fraction of their norm (an output layer grows
#   from its small init by design: a 10-64-1 MLP's 64 output weights moved 1.09x in a healthy run, the whole model
#   0.15x; restarted as thrown, it ended 19x higher. The benchmark's thrown starts moved 0.26-20.7x together, its
#   healthy runs at most 0.28x) ...
MOVED_LEARNED = 0.1  # ... while the loss level is not this fraction below its start: the updates were too large to
#   learn from (a model stalled at chance by its lr), and the run is put back as a thrown one. The benchmark's
#   healthy runs moved at most 0.67x with less progress (a post-norm transformer under momentum, 4.6%), and the
#   ones that moved more had learned at least 18.5% (an LSTM language model under momentum, moved 1.84x)
WATCH = 12  # the start is watched this many steps with a snapshot to roll back to (SGD's momentum 0.9 carries an
#   update ~10 steps: a throw shows within them); then the snapshot is freed


@dataclass(frozen=True)
class GuardEvent:
    """One decision: at `step` the threshold became `threshold` (None: not engaged), for the reason `why`."""

    step: int
    threshold: float | None
    why: str
    action: str  # "engage", "tighten", "hold", "release" or "skip"

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "threshold": self.threshold, "why": self.why, "action": self.action}


class _LossLevel:
    """The loss's level (median of the last LOSS_WINDOW losses), its best so far and the noise where it was set.

    The first MIN_HISTORY losses set the starting level: a run that blows up in its first steps is judged
    against where it began, not against its blown-up first window.
    """

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.start = math.nan  # the starting level: the median of the first MIN_HISTORY losses
        self.best = math.inf
        self.noise = 0.0  # standard error of a level, from the losses around the best
        self.levels: deque[float] = deque(maxlen=2 * LOSS_WINDOW + 1)
        self.seen = 0
        self.since_mark = math.inf  # the lowest level since the threshold last changed
        self.at_mark = math.nan  # the level when it changed
        self.changed_at = 0
        self.no_effect = 0  # tightenings in a row after which the loss neither rose nor fell
        self.marked_at = 0
        self.over_since: int | None = None  # the judgment at which the unclipped level went over the engage bar
        self.last_over: int | None = None  # ... and the one at which it last did so, held or not

    def add(self, loss: float) -> float | None:
        """Take this step's loss; returns the level once there is one."""
        self.recent.append(loss)
        self.seen += 1
        n = len(self.recent)
        if n < MIN_HISTORY:
            return None
        if self.seen == MIN_HISTORY:
            self.start = float(np.median(self.recent))
        level = float(np.median(list(self.recent)[-LOSS_WINDOW:]))
        self.levels.append(level)
        if level < self.best:
            sigma = robust_sigma(np.fromiter(self.recent, float))
            self.best, self.noise = level, 1.25 * sigma / math.sqrt(min(n, LOSS_WINDOW))
        return level

    def rise(self, level: float, of_start: float) -> float:
        """How far `level` is above the best, relative to it; 0 when within the noise or a small fraction
        `of_start` of the starting loss."""
        gap = level - self.best
        if gap <= LOSS_NOISE * self.noise or not gap > of_start * abs(self.start):
            return 0.0
        return gap / max(abs(self.best), 1e-12)

    def held_over(self, over: bool) -> bool:
        """Whether a level `over` the engage bar has held for LOSS_RISE_HOLDS more judgments, or went over it again
        within LOSS_RISE_AGAIN steps of the last time it did (see those constants)."""
        if not over:
            self.over_since = None
            return False
        if self.over_since is None:
            again = self.last_over is not None and self.seen - self.last_over <= LOSS_RISE_AGAIN
            self.over_since = self.seen - LOSS_RISE_HOLDS if again else self.seen
            self.last_over = self.seen
        return self.seen - self.over_since >= LOSS_RISE_HOLDS

    def calm(self) -> bool:
        """The level is at its best, within the noise: a state worth saving."""
        return bool(self.levels) and self.rise(self.levels[-1], LOSS_RISE_OF_START[1]) == 0

    def rising(self) -> bool:
        """The level is LOSS_RISE_TIGHTEN above its best: a non-finite step now ends a throw, where in a calm run
        it is a bad batch (skipped: a roll-back would lose every step since the save for it)."""
        return bool(self.levels) and self.rise(self.levels[-1], LOSS_RISE_OF_START[1]) > LOSS_RISE_TIGHTEN

    def change_failed(self, level: float, far: bool) -> bool:
        """Since the threshold last changed the level rose by LOSS_RISE_TIGHTEN (the change did not hold it), or,
        when it is `far` above its best, it has not fallen by that much over the last 2 x LOSS_WINDOW steps."""
        if not math.isfinite(self.at_mark):
            self.at_mark = level  # the first level after a change made before there was one
            return False
        if level - self.at_mark > LOSS_RISE_TIGHTEN * abs(self.at_mark):
            self.no_effect = 0
            return True
        then = self.levels[0]  # the level 2 x LOSS_WINDOW steps ago
        if level < then - LOSS_RISE_TIGHTEN * abs(then):
            self.no_effect = 0  # coming down: the last change worked
            return False
        if (far and self.seen - self.changed_at >= 2 * LOSS_WINDOW and len(self.levels) == self.levels.maxlen
                and self.no_effect < NO_EFFECT_LIMIT):
            self.no_effect += 1
            return True
        return False

    def mark(self) -> None:
        """The threshold changed: its effect is judged from here on."""
        self.since_mark = math.inf
        self.marked_at = self.changed_at = self.seen
        self.at_mark = self.levels[-1] if self.levels else math.nan

    def stalled(self, level: float) -> int:
        """Steps since the last change without a level below every level seen since it."""
        if level < self.since_mark:
            self.since_mark, self.marked_at = level, self.seen
        return self.seen - self.marked_at


@dataclass(frozen=True)
class Waiting:
    """Norm evidence (a spike, a climb) found at `step` before the run had learned, waiting for the loss (see
    UNLEARNED): what was found, and the loss level then."""

    step: int
    finding: str
    level: float


class Recovery:
    """The saves of a calm run (see the module's docstring, "Saves"), the restores made from them, the rule's
    finding that waits for the end of its step to be acted on, and norm evidence that waits for the loss."""

    def __init__(self, keep: int) -> None:
        self.saves = Saves(keep)  # with each, the guard's trackers as they were: (_LossLevel, raw norms, norms)
        self.last_save = -SAVE_EVERY
        self.restores = 0
        self.why = ""  # a rule found the run thrown: this step puts it back
        self.waiting: Waiting | None = None  # norm evidence waiting for the loss (see UNLEARNED)

    def ready(self) -> bool:
        return bool(self.saves) and self.restores < MAX_RESTORES

    def save(self, step: int, monitor: Monitor, loss: _LossLevel, raw: deque[float], norms: deque[float]) -> None:
        """Every SAVE_EVERY steps of a calm run."""
        if self.saves.keep and self.waiting is None and step - self.last_save >= SAVE_EVERY and loss.calm():
            self.saves.save(step, monitor.model, monitor.params, (copy.deepcopy(loss), list(raw), list(norms)))
            self.last_save = step

    def defer(self, step: int, why: str, loss: _LossLevel) -> bool:
        """Let norm evidence found at `step` for `why` wait for the loss (see UNLEARNED): True when it waits (one at a
        time: evidence found while one waits joins it); False with no save to put the run back to, or in a run whose
        loss level is under UNLEARNED x its start."""
        if self.waiting is None:
            level = loss.levels[-1] if loss.levels else math.nan
            if not (self.ready() and level > UNLEARNED * loss.start):
                return False
            self.waiting = Waiting(step, why, level)
        return True

    def judge(self, step: int, level: float | None) -> None:
        """From LOSS_WINDOW steps after the evidence waiting was found, the loss `level` (None: none yet) judges it:
        not WAIT_LEARNED below its level then, this step puts the run back; the wait ends EVIDENCE_WAIT steps after the
        finding."""
        waiting = self.waiting
        if waiting is None or level is None or step - waiting.step < LOSS_WINDOW:
            return
        if step - waiting.step >= EVIDENCE_WAIT:
            self.waiting = None
        if not level < waiting.level - WAIT_LEARNED * abs(waiting.level):
            self.waiting = None
            self.why = (f"{waiting.finding} in a run that has not learned, and {step - waiting.step} steps later its "
                        f"loss level {level:.4g} is not {WAIT_LEARNED:.0%} under its {waiting.level:.4g} then (not a "
                        "model leaving its plateau)")

    def answered(self, why: str) -> bool:
        """The loss doubled over a climb (`why`) while norm evidence waited: this step puts the run back (True), as
        a loss not come down would have; False when nothing waited."""
        waiting = self.waiting
        if waiting is None:
            return False
        self.waiting, self.why = None, f"{why}, its loss doubled, after {waiting.finding} at step {waiting.step}"
        return True

    def restore(self, step: int) -> tuple[int, _LossLevel, list[float], list[float]]:
        """Put the run back to the older save: (its step, and the guard's trackers as they were then)."""
        saved_at, (loss, raw, norms) = self.saves.restore_oldest()
        self.why, self.restores, self.last_save = "", self.restores + 1, step
        return saved_at, loss, raw, norms


class Guard:
    """Adaptive clipping for a plain training loop: `if guard.step(loss): optimizer.step()` after backward().

    Args:
        model: the module being trained (a `Monitor` is built on it), unless `monitor` is given.
        monitor: an existing `Monitor` to record through (it must copy statistics every step, sync_every=1).
        ramp: True (the default): watch the first updates and, when they throw the run, roll it back and restart
            it, under SGD at a held clip (tighter at each throw), otherwise under the start ramp (see the module's
            docstring); "always": the start ramp from the first update on, whatever it does (the guard before
            issue 22: it moves healthy runs); False: leave the start alone.
        saves: how many saves of a calm run to keep (SAVES; each a copy of the weights, buffers and optimizer state
            on their device, taken every SAVE_EVERY steps) to put a run thrown later back to; 0: none (a model
            whose copies do not fit: a throw is then only clipped from where it left the run).
        monitor_options: passed to the `Monitor` built here (e.g. scaler=, label=).
    """

    def __init__(self, model: nn.Module | None = None, *, monitor: Monitor | None = None,
                 ramp: bool | str = True, saves: int = SAVES, **monitor_options: Any) -> None:
        self.monitor = monitor = _checked_monitor(model, monitor, ramp, saves, monitor_options)
        self.threshold: float | None = None
        self.events: list[GuardEvent] = []
        self.skipped = 0  # updates skipped (non-finite loss or gradient)
        self.clipped = 0  # steps whose gradients were clipped
        self._norms: deque[float] = deque(maxlen=WINDOW)  # recent norms as applied (after clipping)
        self._raw: deque[float] = deque(maxlen=max(GROWTH_WINDOWS) + WINDOW)  # recent pre-clip norms
        self._peak = 0.0  # the largest finite norm the run has taken so far
        self._loss = _LossLevel()
        self._last_change = -COOLDOWN
        self._clipped_recently: deque[bool] = deque(maxlen=PLATEAU)
        self._ramping = ramp == "always"
        self._start = StartWatch() if ramp is True else None  # None once the watch is over (or with no watch)
        self._growth_hold: float | None = None  # the level before the climb, while the threshold is a releasable hold
        self._growth_released = False  # a growth hold was released once: a climb that comes back is held for good
        self._recovery = Recovery(saves)
        self._kind = StepKind(monitor.params)  # SGD or an adaptive optimizer, learned at its first step

    # -- the step ----------------------------------------------------------------------------------------
    def step(self, loss: torch.Tensor | float, *, lr: float | None = None) -> bool:
        """Record this step, decide, clip; True: take the optimizer step, False: skip this update."""
        stats = self.monitor.record(loss, lr=lr)
        assert stats is not None  # sync_every=1
        return self.decide(stats)

    def decide(self, stats: StepStats) -> bool:
        """Decide and clip on a step its monitor has just recorded (`step` without the recording: for callers
        that record themselves, the Lightning and Hugging Face callbacks)."""
        if stats.amp_skipped:  # the GradScaler skips this step itself
            return True
        if self._start is not None and self._watch(stats):
            return False  # rolled back: this step's gradients belong to the thrown weights
        if not stats.finite or not math.isfinite(stats.grad_norm):
            self._on_nonfinite(stats)
            return False
        norm = stats.grad_norm
        if self._ramping:
            self._loss.add(stats.loss)
            spike = self._check_spike(stats.step, norm)
            self._raw.append(norm)
            if spike:
                self._ramping = False  # the ramp is over: its threshold stays under the spike's level
            else:
                self._ramp(stats.step, norm, stats.loss)
        else:
            self._check_spike(stats.step, norm)
            self._raw.append(norm)
            self._check_growth(stats.step, stats.loss)
            self._check_release(stats.step)
            self._check_loss(stats.step, stats.loss)
        if self._recovery.why:
            self._restore(stats.step, self._recovery.why)
            return False
        clipped = self.threshold is not None and norm > self.threshold
        if clipped:
            self.monitor.clip_norm_(self.threshold)
            self.clipped += 1
        self._clipped_recently.append(clipped)
        self._norms.append(min(norm, self.threshold) if self.threshold is not None and not self._ramping else norm)
        self._peak = max(self._peak, norm)
        if self._start is None and not self._ramping:
            self._recovery.save(stats.step, self.monitor, self._loss, self._raw, self._norms)
        return True

    # -- the restore -------------------------------------------------------------------------------------
    def _restore(self, step: int, why: str) -> None:
        """Put the run back to a save, this update skipped, and clip from there: at LOSS_ENGAGE x the norms before
        the save, and at least TIGHTEN x the threshold that let the throw happen."""
        saved_at, loss, raw, norms = self._recovery.restore(step)
        self._reset(loss, raw, norms)
        target = LOSS_ENGAGE * float(np.median(norms))
        if self.threshold is not None:
            target = min(target, TIGHTEN * self.threshold)
        self._set(step, target, f"{why}: rolled back to the weights and optimizer state saved at step {saved_at}, "
                  f"this update skipped; clipped at {target:.3g} from there", "engage")

    # -- the start -----------------------------------------------------------------------------------------
    def _watch(self, stats: StepStats) -> bool:
        """The first WATCH steps: roll the run back when the updates taken since its start have thrown it, and
        restart it (True: rolled back, skip this update)."""
        start = self._start
        assert start is not None
        # the rules' trackers see this step as without the watch: the throw test reads them
        why = start.thrown(stats, self.monitor, self._loss.recent, self._raw, self._kind)
        if why:
            restart = start.roll_back(stats.step, why, self.threshold, self._kind)
            self._reset(_LossLevel(), [restart.norm], [restart.norm])
            self._loss.add(restart.loss)
            self._ramping = restart.ramp
            self._set(stats.step, restart.threshold, restart.why, "engage")
        if start.over:
            self._start = None
        return bool(why)

    # -- the rules ---------------------------------------------------------------------------------------
    def _ramp(self, step: int, norm: float, loss: float) -> None:
        """The start: a threshold from 1/8 of the first norm, doubling while (under SGD) neither loss nor norm rises."""
        if self.threshold is None:
            self._set(step, norm * RAMP_START, f"start: the first updates are bounded, from {RAMP_START:.3g} of the "
                      f"first norm {norm:.3g}, doubling each step (under SGD, while the loss does not rise: a warm-up "
                      "of the update's size)", "engage")
            return
        # risen: the last two; not under an adaptive optimizer (see the module's docstring: a linear regression
        # under Adam held here was clipped on 227 of its 250 steps, +155% late loss; ramped on to its release: -0.4%)
        why = "" if self._kind.adaptive else _thrown(list(self._loss.recent), list(self._raw), by_norm=True)
        if why:
            self._ramping = False
            self._set(step, self.threshold / RAMP_FACTOR * RAMP_BACK, why + ": the last steps were too large; hold "
                      f"at {RAMP_BACK:g}x the threshold the last step had", "hold")
            return
        ramped = self.threshold * RAMP_FACTOR
        if ramped > RAMP_RELEASE * max(self._raw):
            self._ramping = False
            self.threshold = None
            self._last_change = step
            self._loss.mark()
            self._log(step, f"start ramp over: the threshold passed {RAMP_RELEASE:g}x every norm so far "
                      f"(max {max(self._raw):.3g}) with the loss not rising; released", "release")
            return
        self.threshold = ramped

    def _on_nonfinite(self, stats: StepStats) -> None:
        if self._recovery.ready() and (stats.nonfinite_weights or self._loss.rising()):  # the end of a throw
            self._restore(stats.step, "non-finite " + ("weights" if stats.nonfinite_weights else
                                                       "loss" if not stats.loss_finite else "gradient"))
            return
        self.skipped += 1
        what = ("loss" if not stats.loss_finite else
                f"gradient of {stats.nonfinite_grads[0]}" if stats.nonfinite_grads else
                "weights" if stats.nonfinite_weights else "global gradient norm")
        why = f"non-finite {what}: update skipped"
        self._ramping = False
        if stats.nonfinite_weights:
            self._log(stats.step, why + " (the weights are already non-finite: nothing can recover them)", "skip")
            return
        level = self._level()
        if self.threshold is None and level is not None:
            self._set(stats.step, level, why + f"; engaged at the recent median norm {level:.3g}", "engage")
        elif self.threshold is not None:
            self._set(stats.step, self.threshold * TIGHTEN, why + "; the updates grew too large: tightened",
                      "tighten")
        else:
            self._log(stats.step, why, "skip")

    def _check_spike(self, step: int, norm: float) -> bool:
        """Clip a spike (`_spike`); True when `norm` is one (whether or not the threshold moved). Not in an adaptive
        optimizer's first WATCH steps unless ramping: its healthy first steps jump the norm 4-50x (module docstring)."""
        if self._kind.adaptive and step < WATCH and not self._ramping:
            return False
        spike, move = _spike(norm, self._norms, self._peak, self.threshold, self._ramping, self._kind.adaptive)
        if move is not None and move.threshold is not None and not self._defer(step, move.why.partition(": ")[0]):
            self._set(step, move.threshold, move.why, move.action)
        return spike

    def _check_growth(self, step: int, loss: float) -> None:
        raw = np.fromiter(self._raw, float)
        # a run the guard acted in (a thrown start, a spike) showed its updates can be too large: its climbs are
        # believed at once (3 steps' delay after a start ramp let a GRU and a GPT blow up) and held for good (the
        # README's linear_high_lr sample, released at step 21 after a roll-back, climbed again: 1.02 against 0.025)
        by_norm = not self._kind.adaptive  # under Adam only the loss says a climb explodes, acted in or not
        acted = bool(self.events) and by_norm
        losses = [*self._loss.recent, loss]
        runaway = _runaway_growth(raw, losses, believed=acted, by_norm=by_norm)
        if runaway is None:
            return
        window, level, fit = runaway
        why = _growth_text(fit, window, raw[-1] / level, level)
        if _explodes(raw, losses, window, by_norm=False):
            if self._recovery.answered(why):  # its loss doubled while norm evidence waited: put the run back
                return
        elif self._defer(step, why):  # the norm alone says it: the loss judges it first (see UNLEARNED)
            return
        hold = GROWTH_HOLD * level
        if self.threshold is None or hold < self.threshold:
            self._set(step, hold, why + f": hold the norm at {GROWTH_HOLD:g}x that level",
                      "engage" if self.threshold is None else "hold")
            self._growth_hold = None if acted or self._growth_released else level
        elif step - self._last_change >= COOLDOWN:
            self._set(step, self.threshold * TIGHTEN, why + " under the clip: tightened", "tighten")

    def _defer(self, step: int, why: str) -> bool:
        """Whether norm evidence found now waits for the loss (UNLEARNED): SGD, no clip, a run never acted in."""
        return not (self._kind.adaptive or self._ramping or self.threshold is not None or self.events) and \
            self._recovery.defer(step, why, self._loss)

    def _check_release(self, step: int) -> None:
        """Let go of a releasable growth hold (see `_check_growth`) once the climb turned back."""
        level = self._growth_hold
        if level is None or step - self._last_change < LOSS_WINDOW or not _turned_back(self._raw, level, self._loss):
            return
        self._growth_hold, self._growth_released, self.threshold, self._last_change = None, True, None, step
        self._loss.mark()
        self._log(step, f"the climb turned back: the last {LOSS_WINDOW} norms are under {GROWTH_OVER:g}x its level "
                  f"{level:.3g} before it and the loss is not above its best; released", "release")

    def _check_loss(self, step: int, loss: float) -> None:
        best = self._loss.best
        level = self._loss.add(loss)
        self._recovery.judge(step, level)
        if level is None or self._recovery.why or step - self._last_change < COOLDOWN:
            return
        move = _loss_response(self._loss, level, best, self.threshold, list(self._clipped_recently), self._level(),
                              self._kind.adaptive, self._recovery.ready(), step - self._last_change)
        if move is not None and move.threshold is None:
            self._recovery.why = move.why
        elif move is not None:
            self._set(step, move.threshold, move.why, move.action)

    # -- bookkeeping -------------------------------------------------------------------------------------
    def _reset(self, loss: _LossLevel, raw: list[float], norms: list[float]) -> None:
        """The trackers as they were at the point the run was put back to (a save, or its start)."""
        self._loss = loss
        self._raw.clear()
        self._raw.extend(raw)
        self._norms.clear()
        self._norms.extend(norms)
        self._peak = max(raw)
        self._clipped_recently.clear()

    def _level(self) -> float | None:
        return float(np.median(np.fromiter(self._norms, float))) if self._norms else None

    def _set(self, step: int, threshold: float, why: str, action: str) -> None:
        self._growth_hold = None  # another rule moved the threshold: no longer a growth hold alone
        self._recovery.waiting = None  # ... and the run is clipped now: evidence waiting for the loss is moot
        self.threshold, self._last_change = float(threshold), step
        self._loss.mark()
        self._log(step, why, action)

    def _log(self, step: int, why: str, action: str) -> None:
        self.events.append(event := GuardEvent(step, self.threshold, why, action))
        self.monitor.trace.info.guard_events.append(event.to_dict())  # the run's folder keeps each decision too


def _checked_monitor(model: nn.Module | None, monitor: Monitor | None, ramp: bool | str, saves: int,
                     options: dict[str, Any]) -> Monitor:
    """The Guard's arguments checked, one clear error each, and the Monitor it records through (built on `model`
    with `options` unless one is given)."""
    if monitor is None:
        if model is None:
            raise ValueError("Guard needs a model or a monitor")
        monitor = Monitor(model, **options)
    elif options:
        raise ValueError("pass monitor options to the Monitor, not to Guard, when giving a monitor")
    if monitor.sync_every != 1:
        raise ValueError("Guard decides every step: its Monitor needs sync_every=1")
    if ramp not in (True, False, "always"):
        raise ValueError(f"ramp must be True, False or 'always', not {ramp!r}")
    if not (isinstance(saves, int) and saves >= 0):
        raise ValueError(f"saves must be a number of saves, 0 or more, not {saves!r}")
    return monitor


@dataclass(frozen=True)
class Restart:
    """How a run its first updates threw starts again: at `threshold`, under the start ramp or held, for `why`;
    the first step's `loss` and `norm`, which the guard's trackers start again from."""

    threshold: float
    ramp: bool
    why: str
    loss: float
    norm: float


class StartWatch:
    """The first WATCH steps of a guarded run: a snapshot of its start to roll back to, and whether the updates
    taken since have thrown the run. Not frozen: it takes the snapshot at the first step and frees it at the end."""

    def __init__(self) -> None:
        self.first: tuple[int, float, float] | None = None  # the first step, its loss and norm
        self.snapshot: Snapshot | None = None
        self.over = False
        self.began = 0  # the step the watch began (again, after a restart)
        self.tries = 0  # restarts so far

    def thrown(self, stats: StepStats, monitor: Monitor, losses: deque[float], norms: deque[float],
               kind: StepKind) -> str:
        """Why the updates taken since the start threw the run ('' while they have not; the first step takes the
        snapshot). `losses` and `norms`: the guard's recent ones, this step's not in yet; `kind`: SGD or an
        adaptive optimizer. The watch is `over` after WATCH steps, or at once when the first step is already
        broken (no start to keep)."""
        finite = stats.finite and math.isfinite(stats.grad_norm)
        if self.first is None:
            if finite:
                self.first = (stats.step, stats.loss, stats.grad_norm)
                self.began = stats.step
                self.snapshot = Snapshot(monitor.model, monitor.params)
            else:
                self.over = True
            return ""
        if finite:
            why = _thrown([*losses, stats.loss], [*norms, stats.grad_norm], by_norm=not kind.adaptive, settle=True)
        else:
            start = self.first[1]
            last = losses[-1] if losses else start
            why = ("non-finite weights" if stats.nonfinite_weights else
                   f"a non-finite loss or gradient after the loss rose to {last:.4g} from {start:.4g}"
                   if last - start > RAMP_RISE * abs(start) else "")
        if not why and stats.step - self.began + 1 >= WATCH:
            # under SGD only (a step is the gradient times the lr: moved far, the steps were large), and not after a
            # restart (its clip bounds the moves); an adaptive optimizer moves each weight by about its lr a step,
            # whatever the gradient: a model fitting large targets moves far by design (a GELU MLP under Adam on
            # targets of scale 100 moved 1.33x its norm in 12 steps, its loss 2% down, and trained to 0.05x)
            why = self._unlearned(losses, stats.loss) if kind.proportional and not self.tries else ""
            if not why:
                self.close()
        return why

    def _unlearned(self, losses: deque[float], loss: float) -> str:
        """At the watch's end: why the weights moved too far for what the loss learned ('' when they did not)."""
        assert self.snapshot is not None
        moved, together = self.snapshot.moved()
        recent = [*losses, loss]
        start, level = float(np.median(recent[:MIN_HISTORY])), float(np.median(recent[-LOSS_WINDOW:]))
        if moved < MOVED or together < MOVED_MODEL or level < start - MOVED_LEARNED * abs(start):
            return ""
        return (f"a weight matrix moved {moved:.3g}x its norm (the model's {together:.3g}x) in {WATCH} steps while "
                f"the loss level {level:.4g} stayed within {MOVED_LEARNED:.0%} of its start {start:.4g}")

    def roll_back(self, step: int, why: str, threshold: float | None, kind: StepKind) -> Restart:
        """Put the run back to its start, thrown for `why` with `threshold` in force: how it restarts. Under SGD
        (`kind`) at a held clip, a quarter of the first norm and a quarter of `threshold` at each later throw,
        the watch beginning again here with the snapshot kept (SEARCH_TRIES restarts in all); otherwise under the
        start ramp, the watch over."""
        assert self.snapshot is not None and self.first is not None
        self.snapshot.restore()
        met = self.snapshot.optimizers
        first_step, loss, norm = self.first
        what = (f"the first {step - first_step} updates threw the run ({why}): rolled back to the weights "
                + (f"and the state of its optimizer{'s' if met > 1 else ''}" if met else
                   "(no torch optimizer was met: its state is as the thrown steps left it)")
                + " before them, this update skipped; ")
        search = bool(kind.proportional)
        clip = norm * SEARCH_START * SEARCH_FACTOR ** self.tries
        clip = min(clip, SEARCH_FACTOR * threshold) if threshold is not None else clip
        self.tries += 1
        self.began = step
        if not search or self.tries >= SEARCH_TRIES:
            self.close()
        if search:
            return Restart(clip, False, what + f"clipped at {clip:.3g} ({clip / norm:.3g} of the first norm "
                           f"{norm:.3g}) from there, held (under SGD a clip bounds the update)", loss, norm)
        rises = "" if kind.adaptive else " while the loss does not rise"
        return Restart(norm * RAMP_START, True, what + f"the start ramp begins, from {RAMP_START:.3g} of the first "
                       f"norm {norm:.3g}, doubling each step{rises} (an adaptive optimizer's step is not bounded by "
                       "a clip: the ramp warms it up)", loss, norm)

    def close(self) -> None:
        """The watch is over: free the snapshot (a copy of the weights)."""
        self.over = True
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None


def _growth_text(fit: LogFit, window: int, over: float, level: float) -> str:
    return (f"gradient norm grows exponentially (x{ratio_text(fit.factor_per_step)} per step over {window} steps, "
            f"R^2 {fit.r2:.2f}), now {over:.3g}x its level {level:.3g} before the climb")


def _runaway_growth(raw: np.ndarray, losses: list[float], believed: bool,
                    by_norm: bool) -> tuple[int, float, LogFit] | None:
    """The runaway-growth rule on the recent pre-clip norms `raw`: over the first of GROWTH_WINDOWS where log(norm)
    climbs on a straight line (the exploding-gradient detector's fit) to GROWTH_OVER x its level before the
    climb, while the loss (`losses`, this step's last) is not falling, and the climb is `believed` or shows
    itself an explosion (`_explodes`, its norm evidence only `by_norm`): (that window, that level, the fit)."""
    for window in GROWTH_WINDOWS:
        if len(raw) < window + 1:
            return None
        level = float(np.median(raw[:-window][-WINDOW:]))
        if raw[-1] < GROWTH_OVER * level or level <= 0:
            continue
        if not (raw[-window:] > 0).all():
            continue  # a norm of 0 (a dead network's) in the window: no straight line in log(norm) to fit
        fit = log_fit(raw[-window:])
        if not fit.grows(DEFAULT.max_doubling_steps, DEFAULT.min_r2) or _learning(losses[:-1], window):
            continue
        if believed or _explodes(raw, losses, window, by_norm):
            return window, level, fit
    return None


def _explodes(raw: np.ndarray, losses: list[float], window: int, by_norm: bool) -> bool:
    """The climb over the last `window` steps is an explosion, not a catapult: the loss level (median of the last
    LOSS_WINDOW losses, this step's in) GROWTH_LOSS x its level before the climb, or (`by_norm`) the norm
    GROWTH_FAR x the largest norm before it."""
    if by_norm and raw[-1] >= GROWTH_FAR * float(raw[:-window][-WINDOW:].max()):
        return True
    before = losses[:-window][-LOSS_WINDOW:]
    if len(before) < MIN_HISTORY:
        return False
    then, now = float(np.median(before)), float(np.median(losses[-LOSS_WINDOW:]))
    return then > 0 and now > GROWTH_LOSS * then


def _turned_back(raw: deque[float], level: float, loss: _LossLevel) -> bool:
    """A held climb is over: the last LOSS_WINDOW norms before the clip under GROWTH_OVER x `level`, the level before
    it, and the loss level not above its best (an edge-of-stability excursion's hold would only slow the run)."""
    return max(list(raw)[-LOSS_WINDOW:]) <= GROWTH_OVER * level and \
        loss.rise(loss.levels[-1], LOSS_RISE_OF_START[1]) == 0


def _learning(losses: list[float], window: int) -> bool:
    """The loss level fell over the last `window` steps by more than GROWTH_LEARNING: the norm climbs because the
    run has begun to learn (a model leaving a plateau), not because its updates are too large."""
    losses = losses[-(window + LOSS_WINDOW):]
    if len(losses) < window + LOSS_WINDOW:
        return False
    then, now = float(np.median(losses[:LOSS_WINDOW])), float(np.median(losses[-LOSS_WINDOW:]))
    return now < then - GROWTH_LEARNING * abs(then)


@dataclass(frozen=True)
class Move:
    """A rule's decision: the threshold becomes `threshold`, for `why`; `action` as a `GuardEvent`'s, or "restore"
    (no threshold): put the run back to a save, which sets the threshold."""

    threshold: float | None
    why: str
    action: str


def _spike(norm: float, norms: deque[float], peak: float, threshold: float | None, ramping: bool,
           adaptive: bool) -> tuple[bool, Move | None]:
    """The spike rule on this step's `norm` against the recent applied `norms` and the largest norm so far: whether
    it is a spike, and how it moves the threshold (None: it leaves it), under the start ramp or not (`ramping`),
    under an adaptive optimizer or SGD."""
    if len(norms) < MIN_HISTORY or norm <= peak:
        return False, None  # a norm no larger than one the run already took is not a spike
    recent = np.fromiter(norms, float)
    median, sigma = float(np.median(recent)), robust_sigma(recent)
    bar = max(SPIKE_FACTOR * median, median + SPIKE_SIGMAS * sigma)
    if norm <= bar or median <= 0:
        return False, None
    # under an adaptive optimizer a clip does not bound the step: it only keeps the spike out of the optimizer's
    # moments, and a threshold at the median would normalise every later gradient over it (an LSTM under Adam,
    # spiked at step 33 of a healthy run and clipped at the median from there: +71% late loss)
    target = bar if adaptive else SPIKE_CLIP * median
    # a spike ends the start ramp. Under SGD its threshold is kept (the stable step is below it); under an
    # adaptive optimizer the ramp's low threshold, held, would normalise every later gradient (an Adagrad
    # autoencoder held at 1/2 of its first norm: 0.73 late loss, where a clip at the spike bar reaches 0.13)
    ramp_low = ramping and threshold is not None and threshold <= target
    what = (f"gradient norm {norm:.3g} is {norm / median:.3g}x the median {median:.3g} of the last {len(recent)} "
            + ("steps (a spike) while the threshold ramped" if ramp_low else
               "steps and over any norm so far (a spike)"))
    if ramp_low and not adaptive:
        assert threshold is not None
        return True, Move(threshold, what + ": hold it where it is", "hold")
    if ramp_low or threshold is None or target < threshold:
        return True, Move(target, what + (": the ramp ends at " if ramp_low else ": clip at ")
                          + (f"the spike bar {bar:.3g} (an adaptive optimizer: only outliers are kept out of its "
                             "moments)" if adaptive else "that median" if SPIKE_CLIP == 1 else
                             f"{SPIKE_CLIP:g}x that median"),
                          "hold" if ramp_low else "engage" if threshold is None else "tighten")
    return True, None


def _risen(level: float, best: float, rise: float) -> str:
    """The loss's rise in words: a percentage, or a multiple where that reads better (a best of 0 has neither)."""
    if best > 0 and rise >= 9:
        return f"loss level {level:.4g} is {level / best:.3g}x its best {best:.4g}"
    if best > 0:
        return f"loss level {level:.4g} is {rise:.0%} above its best {best:.4g}"
    return f"loss level {level:.4g} is far above its best {best:.4g}"


def _loss_response(watch: _LossLevel, level: float, best: float, threshold: float | None, recent: list[bool],
                   median: float | None, adaptive: bool, can_restore: bool, since_change: int) -> Move | None:
    """The loss's response (see the module's docstring) to this step's `level` (`best`: the best before it), with
    `threshold` in force, `recent`: whether each of the last PLATEAU steps was clipped, `median`: the recent
    median applied norm, `can_restore`: a save is there to put the run back to, `since_change`: steps since the
    threshold last changed. Judging a change's effect updates `watch`."""
    if threshold is None:
        rise = watch.rise(level, LOSS_RISE_OF_START[0])
        bar = LOSS_RISE_ENGAGE_ADAPTIVE if adaptive else LOSS_RISE_ENGAGE
        if not watch.held_over(rise > bar and median is not None):
            return None
        risen = _risen(level, best, rise)
        if can_restore:
            return Move(None, risen, "restore")
        return None if adaptive else Move(LOSS_ENGAGE * median, risen + ": the updates are too large at their "
                                          f"recent size; engaged at {LOSS_ENGAGE:g}x the recent median norm "
                                          f"{median:.3g}", "engage")
    rise = watch.rise(level, LOSS_RISE_OF_START[1])
    if (any(recent[-LOSS_WINDOW:]) and rise > LOSS_RISE_TIGHTEN
            and watch.change_failed(level, far=rise > LOSS_RISE_FAR)):
        risen = _risen(level, best, rise)
        if rise > LOSS_RISE_FAR and can_restore:
            return Move(None, risen + " while clipping", "restore")
        if adaptive:
            return None
        factor = min(TIGHTEN, max(MAX_TIGHTEN, best / level)) if best > 0 else TIGHTEN
        return Move(threshold * factor, risen + " and the last change did not bring it down, while clipping on "
                    f"{sum(recent[-LOSS_WINDOW:])} of the last {LOSS_WINDOW} steps: the threshold is still too "
                    "loose; tightened", "tighten")
    if (watch.stalled(level) >= PLATEAU and len(recent) == PLATEAU and sum(recent) >= PLATEAU_CLIPPED * PLATEAU
            and level < watch.start and since_change >= PLATEAU and not adaptive):
        return Move(threshold * TIGHTEN, f"clipping on {sum(recent)} of the last {PLATEAU} steps and the loss (level "
                    f"{level:.4g}) no lower for {PLATEAU} steps: the clipped steps bounce; tightened", "tighten")
    return None


def _thrown(losses: list[float], norms: list[float], by_norm: bool, settle: bool = False) -> str:
    """Why the last two steps say the updates before them were too large ('' when they do not): both losses risen
    RAMP_RISE over the median of the losses before them and beyond their range (with `settle`, a rise under
    RAMP_RISE_AT_ONCE must hold on the last three steps: a catapult falls back by itself), or (`by_norm`) both norms
    RAMP_NORM_RISE x the median of the MIN_HISTORY or more norms before them with the loss not lower. Not by the
    norm under an adaptive optimizer: it divides the gradient's scale out, so a larger norm is not a larger step,
    and its healthy first steps jump 4-25x (a GELU MLP under Adam on targets of scale 100: 10x in 8 steps, its loss
    up 30%, then down to 0.05x its start); its throws show in the loss."""
    if len(losses) < 3:
        return ""
    before = losses[:-2]
    ref = float(np.median(before))
    last = min(losses[-2:])
    steps = 3 if settle and last - ref <= RAMP_RISE_AT_ONCE * abs(ref) else 2
    if len(losses) > steps:
        earlier = losses[:-steps]
        start, low = float(np.median(earlier)), min(losses[-steps:])
        if low - start > max(RAMP_RISE * abs(start), max(earlier) - min(earlier)):
            named = ", ".join(f"{v:.4g}" for v in losses[-steps:])
            return (f"loss {named} on the last {'two' if steps == 2 else 'three'} steps, each at least "
                    f"{(low - start) / abs(start):.0%} above its start {start:.4g}")
    # a norm's rise is judged against at least MIN_HISTORY norms before it: the first one or two are no level (an
    # LSTM's first norm 0.029, its next ones 32x that with the loss flat, was restarted twice, clipped at 1/16 of
    # that first norm, and never learned: +568% late loss)
    level = float(np.median(norms[:-2]))
    if by_norm and len(norms) - 2 >= MIN_HISTORY and min(norms[-2:]) > RAMP_NORM_RISE * level and last >= ref:
        return (f"gradient norm {norms[-1]:.3g} rose to {min(norms[-2:]) / level:.3g}x its start {level:.3g} on "
                "two steps with the loss not lower")
    return ""
