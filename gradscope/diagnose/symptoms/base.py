"""The contract every detector keeps: a `Detector` takes a trace, the shared `Thresholds` and a `Context`, and
returns `Symptom`s of the `Kind`s it declares. Each kind says, beside its detector, what it means and which
numbers of its evidence a report shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradscope.levels import Severity
from gradscope.trace.measures import Measure

if TYPE_CHECKING:
    from gradscope.diagnose.symptoms.thresholds import Thresholds
    from gradscope.trace.trace import Trace

__all__ = ["Context", "Detector", "Kind", "Severity", "Symptom"]


@dataclass(frozen=True, eq=False)
class Kind:
    """A kind of finding, declared by the detector that finds it. Compared by identity: one object per kind."""

    value: str  # the contract's JSON `kind`: new ones may be added, none is renamed
    explanation: str  # what it means for the run, one sentence for people
    evidence_line: Callable[[dict[str, Any]], str]  # the few numbers of a symptom's evidence, one short line
    clipping_may_help: bool = True  # False: gradient clipping cannot fix it (the report does not suggest it)
    ends_stable_phase: bool = False  # True: the run's normal regime ends where it starts (recommend's statistics)
    needs: tuple[Measure, ...] = ()  # what besides the loss it is found from: a log lacking one leaves it unchecked

    def __repr__(self) -> str:
        return f"Kind({self.value!r})"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Symptom:
    """One finding: what, how bad, since which step, where in the model, and the numbers behind it."""

    kind: Kind
    severity: Severity
    step: int  # first 0-based optimizer step where it shows
    message: str  # one line, for people
    parameter: str | None = None  # the parameter where it shows first
    module: str | None = None  # the module where it shows first (non-finite forward)
    evidence: dict[str, Any] = field(default_factory=dict)  # the measurements and thresholds
    advice: str = ""  # what to try next

    @property
    def evidence_line(self) -> str:
        return self.kind.evidence_line(self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "severity": self.severity.value, "step": self.step,
                "parameter": self.parameter, "module": self.module, "message": self.message,
                "evidence": self.evidence, "advice": self.advice}


@dataclass(frozen=True)
class Context:
    """What a detector must know of the findings before it; the catalogue builds it (its `couplings`)."""

    climb_steps: frozenset[int] = frozenset()  # steps inside an exponential climb of the gradient norm
    climb_onset: int | None = None  # the step that climb began
    overflow_in: str | None = None  # where an overflow hidden in the forward was found: "module 1 (RMSNorm)"


@dataclass(frozen=True)
class Detector:
    """One detector: its kinds and its function. Every detector has the same signature."""

    kinds: tuple[Kind, ...]
    detect: Callable[[Trace, Thresholds, Context], list[Symptom]]


NO_CONTEXT = Context()


def op_module_text(module: str | None, module_type: str | None) -> str | None:
    """How reports name the module an op ran in (an `OpOverflow`, or an event's `op`): "module net.1 (RMSNorm)",
    "module (the model) (Net)" for the root; None when it ran outside every module (the loss)."""
    return None if module is None else f"module {module or '(the model)'} ({module_type})"
