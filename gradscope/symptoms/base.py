"""The vocabulary of findings: kinds (the contract's JSON names), severities, and the `Symptom` record."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SymptomKind(StrEnum):
    """The contract's `kind` values: new ones may be added, none is renamed."""

    NONFINITE_LOSS = "nonfinite_loss"
    NONFINITE_GRADIENT = "nonfinite_gradient"
    NONFINITE_WEIGHT = "nonfinite_weight"
    EXPLODING_GRADIENT = "exploding_gradient"
    GRADIENT_SPIKE = "gradient_spike"
    LOSS_SPIKE = "loss_spike"
    LOSS_DIVERGENCE = "loss_divergence"
    LOSS_PLATEAU = "loss_plateau"
    WEIGHT_GROWTH = "weight_growth"
    VANISHING_GRADIENT = "vanishing_gradient"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


@dataclass(frozen=True)
class Symptom:
    """One finding: what, how bad, since which step, where in the model, and the numbers behind it."""

    kind: SymptomKind
    severity: Severity
    step: int  # first 0-based optimizer step where it shows
    message: str  # one line, for people
    parameter: str | None = None  # the parameter where it shows first
    module: str | None = None  # the module where it shows first (non-finite forward)
    evidence: dict[str, Any] = field(default_factory=dict)  # the measurements and thresholds
    advice: str = ""  # what to try next

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "severity": self.severity.value, "step": self.step,
                "parameter": self.parameter, "module": self.module, "message": self.message,
                "evidence": self.evidence, "advice": self.advice}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Symptom:
        return cls(SymptomKind(data["kind"]), Severity(data["severity"]), int(data["step"]), data["message"],
                   data.get("parameter"), data.get("module"), dict(data.get("evidence") or {}),
                   data.get("advice", ""))
