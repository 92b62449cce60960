"""The catalogue: every detector, in the order they run. It is the only list of detectors; the kinds
(`SymptomKind`) are the ones its detectors declare and the few judged over several traces (`GAME_KINDS`), and the
couplings between detectors live in `couplings`.

To add a detector: write `gradscope/diagnose/symptoms/<name>.py` with its `Kind`(s) and a `Detector`, add one line
below, and a test file under tests/symptoms/ (README, "Adding a detector").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from gradscope.diagnose.symptoms import (
    amp_scale,
    collapse,
    early,
    growth,
    hidden_overflow,
    loss,
    nonfinite,
    overflow,
    spikes,
    vanishing,
)
from gradscope.diagnose.symptoms.base import Context, Detector, Kind, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.levels import Severity
from gradscope.trace.trace import Trace

CATALOGUE: tuple[Detector, ...] = (
    nonfinite.NONFINITE,
    overflow.NORM_OVERFLOW_DETECTOR,
    growth.EXPLODING,  # its climb is passed on to the detectors after it (see `couplings`)
    amp_scale.AMP_UNSETTLED_DETECTOR,
    hidden_overflow.ACTIVATION_OVERFLOW_DETECTOR,
    early.EARLY,
    spikes.GRADIENT_SPIKES,
    spikes.LOSS_SPIKES,
    loss.DIVERGENCE,
    loss.PLATEAU,
    growth.WEIGHTS,
    vanishing.VANISHING,
)

# Kinds found over several traces at once, not by a detector of one trace: an adversarial game's collapse
# (gradscope.diagnose.adversarial judges the networks of a GAN together).
GAME_KINDS: tuple[Kind, ...] = (collapse.ADVERSARIAL_COLLAPSE,)


def couplings(found: list[Symptom]) -> Context:
    """What the findings so far tell the detectors after them. An exponential climb of the gradient norm:
    spikes inside it are the climb, not separate events; and once gradients explode, early layers often die
    (ReLUs stuck at zero), so only the steps before its onset can say whether gradients vanish with depth. An
    overflow hidden in the forward zeroes the gradients behind it: vanishing gradients there are its doing."""
    hidden = next((s for s in found if s.kind is hidden_overflow.ACTIVATION_OVERFLOW), None)
    overflow_in = None
    if hidden is not None:
        op = hidden.evidence
        overflow_in = (f"module {op.get('module') or '(the model)'} ({op.get('module_type')})"
                       if op.get("module") is not None else "the loss")
    climb = next((s for s in found if s.kind is growth.EXPLODING_GRADIENT), None)
    if climb is None:
        return Context(overflow_in=overflow_in)
    onset, last = climb.evidence["onset_step"], climb.evidence["last_growth_step"]
    return Context(climb_steps=frozenset(range(onset, last + 2)), climb_onset=onset, overflow_in=overflow_in)


def run_catalogue(trace: Trace, thresholds: Thresholds = DEFAULT) -> list[Symptom]:
    """Every detector's symptoms, in catalogue order, each detector seeing the couplings of those before it."""
    found: list[Symptom] = []
    for detector in CATALOGUE:
        found += detector.detect(trace, thresholds, couplings(found))
    return found


class KindIndex:
    """The kinds the catalogue's detectors declare, looked up like an enum: `SymptomKind.LOSS_SPIKE`,
    `SymptomKind("loss_spike")`, `list(SymptomKind)`."""

    def __init__(self, kinds: Iterable[Kind]) -> None:
        self._by_value: dict[str, Kind] = {}
        for kind in kinds:
            if kind.value in self._by_value:
                raise ValueError(f"two detectors declare the kind {kind.value!r}")
            self._by_value[kind.value] = kind

    def __call__(self, value: str) -> Kind:
        try:
            return self._by_value[value]
        except KeyError:
            raise ValueError(f"{value!r} is not a symptom kind of this gradscope "
                             f"(known: {', '.join(self._by_value)})") from None

    def __getattr__(self, name: str) -> Kind:
        kind = self.__dict__.get("_by_value", {}).get(name.lower()) if name.isupper() else None
        if kind is None:
            raise AttributeError(name)
        return kind

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._by_value.values())

    def __len__(self) -> int:
        return len(self._by_value)

    def __contains__(self, kind: object) -> bool:
        return any(kind is k for k in self._by_value.values())


SymptomKind = KindIndex([*(kind for detector in CATALOGUE for kind in detector.kinds), *GAME_KINDS])


def symptom_from_dict(data: dict[str, Any]) -> Symptom:
    """A `Symptom` read back from a diagnosis.json entry; a kind no detector declares is an error."""
    return Symptom(SymptomKind(data["kind"]), Severity(data["severity"]), int(data["step"]), data["message"],
                   data.get("parameter"), data.get("module"), dict(data.get("evidence") or {}),
                   data.get("advice", ""))
