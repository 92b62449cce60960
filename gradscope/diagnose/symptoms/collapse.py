"""One side of an adversarial game (a GAN's discriminator or generator) that won or lost outright: its loss
pinned near 0 (a discriminator that tells every real sample from every fake), or its gradients gone (a generator
behind a saturated discriminator gets none). Either way the game is over: the other side no longer learns.

Evidence of one trace, judged only for the traces of a game (gradscope.diagnose.adversarial): in a single
network's run a loss near 0 is a model that fits its data, not a collapse, so no catalogue detector runs this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradscope.diagnose.symptoms.base import Kind
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import number_text
from gradscope.stats import finite_prefix
from gradscope.trace.trace import Trace


def _evidence_line(ev: dict) -> str:
    if ev.get("sign") == "loss_pinned":
        return f"{ev['side']} loss {number_text(ev['start_loss'])} -> {number_text(ev['late_loss'])}"
    if ev.get("sign") == "gradients_vanished":
        return f"{ev['side']} grad norm {number_text(ev['early_grad_norm'])} -> {number_text(ev['late_grad_norm'])}"
    return f"{ev['side']} collapsed"


ADVERSARIAL_COLLAPSE = Kind(
    "adversarial_collapse",
    "One side of the adversarial game won outright: the other gets no useful gradient and stops learning.",
    _evidence_line, clipping_may_help=False)


@dataclass(frozen=True)
class CollapseSign:
    """What one side's trace shows: its loss pinned near 0, or its gradient norm gone, from `step` on."""

    sign: str  # "loss_pinned" | "gradients_vanished"
    step: int
    start_loss: float
    late_loss: float
    early_grad_norm: float
    late_grad_norm: float

    def evidence(self) -> dict[str, float | int | str]:
        return {"sign": self.sign, "from_step": self.step, "start_loss": self.start_loss,
                "late_loss": self.late_loss, "early_grad_norm": self.early_grad_norm,
                "late_grad_norm": self.late_grad_norm}


def collapse_sign(trace: Trace, thresholds: Thresholds = DEFAULT) -> CollapseSign | None:
    """The collapse `trace` shows, if any. Levels are medians over the first `start_steps` (the loss) or the first
    `edge_fraction` (the gradient norm) and the last `edge_fraction` of the finite steps, at least 3 each;
    "pinned" means the late tail's `collapse_pinned_quantile` sits under the bar, so a loss that only dips to 0
    now and then is not pinned. The bar is on |loss|: a minimax generator's loss, log(1 - D(G(z))), starts
    negative and goes to 0 as it loses. A non-finite run is judged on its finite prefix."""
    t = thresholds
    loss = finite_prefix(trace.loss)
    norms = finite_prefix(trace.grad_norm[:len(loss)])
    n = min(len(loss), len(norms))
    if n < t.collapse_min_steps:
        return None
    loss, norms = loss[:n], norms[:n]
    k = max(3, int(n * t.edge_fraction))
    head = max(3, min(k, t.start_steps))  # as loss.py: a side that wins fast leaves its start level early
    start, late = float(np.median(loss[:head])), float(np.median(loss[-k:]))
    early, late_norm = float(np.median(norms[:k])), float(np.median(norms[-k:]))
    bar = t.collapse_loss_fraction * abs(start)
    if start != 0 and np.quantile(np.abs(loss[-k:]), t.collapse_pinned_quantile) <= bar:
        return CollapseSign("loss_pinned", _since(trace, np.abs(loss) <= bar), start, late, early, late_norm)
    if early > 0 and np.quantile(norms[-k:], t.collapse_pinned_quantile) <= t.collapse_grad_ratio * early:
        return CollapseSign("gradients_vanished", _since(trace, norms <= t.collapse_grad_ratio * early), start, late,
                            early, late_norm)
    return None


def _since(trace: Trace, under: np.ndarray) -> int:
    """The step from which `under` holds to the end (the last time it did not, plus one)."""
    over = np.flatnonzero(~under)
    return int(trace.steps[over[-1] + 1 if len(over) and over[-1] + 1 < len(under) else 0])
