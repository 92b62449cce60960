"""Adversarial training judged as a game: the networks of a GAN (a discriminator and a generator, each with its
own optimizer and its own trace) are diagnosed together.

Their losses are not objectives that fall together: the generator's loss rising while the discriminator's falls
is the game being played, and a loss that hovers around the equilibrium is not a plateau. So on each side the
loss-trend findings (divergence, plateau, an unstable start, loss spikes) are left out, and what the numbers of
every network still mean (non-finite values, exploding or vanishing gradients, weight growth, overflows) is kept.
What only the game has is its collapse: one side's loss pinned near 0 or its gradients gone, which is critical
for every side (the game is over; the other network no longer learns). Pure functions over traces: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from gradscope.diagnose.diagnosis import Diagnosis, diagnose_trace
from gradscope.diagnose.symptoms.base import Severity, Symptom
from gradscope.diagnose.symptoms.collapse import ADVERSARIAL_COLLAPSE, CollapseSign, collapse_sign
from gradscope.diagnose.symptoms.early import EARLY_INSTABILITY
from gradscope.diagnose.symptoms.loss import LOSS_DIVERGENCE, LOSS_PLATEAU
from gradscope.diagnose.symptoms.spikes import LOSS_SPIKE
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.levels import verdict_of
from gradscope.numbers import number_text
from gradscope.trace.trace import Trace

# Findings on a loss's course, which a game's losses do not have the meaning of.
LOSS_COURSE_KINDS = (LOSS_DIVERGENCE, LOSS_PLATEAU, EARLY_INSTABILITY, LOSS_SPIKE)

ADVICE = ("the game collapsed: balance the two sides rather than clip (clipping cannot restore a gradient that is "
          "not there): lower the winning side's learning rate or train it less often, use the non-saturating "
          "generator loss (BCEWithLogitsLoss on the logits instead of Sigmoid + BCELoss), or weaken the "
          "discriminator (label smoothing, instance noise, spectral normalisation)")


def collapsed(trace: Trace, thresholds: Thresholds = DEFAULT) -> bool:
    """Whether this side of an adversarial game collapsed (its loss pinned near 0, or its gradients gone): a run
    with such a side is lost whatever its losses say, and never the best of a comparison. Meant for the traces of
    a game only: a single network whose loss reaches 0 has fitted its data."""
    return collapse_sign(trace, thresholds) is not None


def diagnose_adversarial(traces: Mapping[str, Trace], thresholds: Thresholds = DEFAULT) -> dict[str, Diagnosis]:
    """One diagnosis per side (by the names given, e.g. {"netD": ..., "netG": ...}), judged as a game.

    Each side keeps its own numerical findings without the loss-course ones; when any side collapsed, every side
    gets a critical `adversarial_collapse` (the side that shows it with its evidence, the others naming it)."""
    signs = {name: collapse_sign(trace, thresholds) for name, trace in traces.items()}
    shown = {name: sign for name, sign in signs.items() if sign is not None}
    out = {}
    for name, trace in traces.items():
        alone = diagnose_trace(trace, thresholds=thresholds, label=name)
        kept = [s for s in alone.symptoms if not any(s.kind is k for k in LOSS_COURSE_KINDS)]
        if shown:
            kept.append(_collapse_symptom(name, shown))
        kept.sort(key=lambda s: (-s.severity.rank, s.step))
        out[name] = replace(alone, verdict=verdict_of(s.severity for s in kept), symptoms=kept,
                            extra={**alone.extra, "adversarial": {"sides": list(traces),
                                                                  "collapsed": sorted(shown)}})
    return out


def _collapse_symptom(name: str, shown: dict[str, CollapseSign]) -> Symptom:
    own = shown.get(name)
    side, sign = (name, own) if own is not None else next(iter(shown.items()))
    what = (f"{side}'s loss is pinned near 0 ({number_text(sign.start_loss)} at the start, "
            f"{number_text(sign.late_loss)} at the end)" if sign.sign == "loss_pinned" else
            f"{side}'s gradients vanished (norm {number_text(sign.early_grad_norm)} at the start, "
            f"{number_text(sign.late_grad_norm)} at the end)")
    others = [n for n in shown if n != side]
    also = f"; {', '.join(others)} too" if others else ""
    lead = "" if own is not None else f"{name}'s opponent collapsed: "
    return Symptom(
        ADVERSARIAL_COLLAPSE, Severity.CRITICAL, sign.step,
        f"{lead}adversarial collapse from step {sign.step}: {what}{also}",
        evidence={"side": side, **sign.evidence(), "collapsed_sides": sorted(shown)},
        advice=ADVICE)
