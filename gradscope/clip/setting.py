"""`Clip`: one clip setting (how, and at what threshold), with the one label and folder name each run gets.

A plain value, torch-free: the config, the trials, the run's record (`RunInfo.clip_mode` / `clip_threshold`) and the
recorder all speak it, so a clip is described and named in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ClipMode = Literal["norm", "value", "adaptive"]
MODES: tuple[ClipMode, ...] = ("norm", "value", "adaptive")
THRESHOLD_MODES: tuple[ClipMode, ...] = ("norm", "value")  # the modes with a threshold the user picks


@dataclass(frozen=True)
class Clip:
    """`mode` "norm" (the global L2 norm, `clip_grad_norm_`), "value" (each element, `clip_grad_value_`) at
    `threshold`, or "adaptive" (`gradscope.Guard`: no threshold given, it finds its own during the run).
    `recommended`: the threshold `gradscope recommend` chose (its label and folder say so)."""

    mode: ClipMode
    threshold: float | None = None
    recommended: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"clip mode {self.mode!r} is not one of {', '.join(MODES)}")
        if (self.threshold is None) != (self.mode == "adaptive"):
            raise ValueError(f"clip mode {self.mode!r} " + ("takes no threshold" if self.mode == "adaptive" else
                                                            "needs a threshold"))

    @property
    def adaptive(self) -> bool:
        return self.mode == "adaptive"

    @property
    def label(self) -> str:
        """How reports name it: "clip-norm 0.5", "clip-value 1 (recommended)", "adaptive"."""
        if self.adaptive:
            return "adaptive"
        return f"clip-{self.mode} {self.threshold:g}" + (" (recommended)" if self.recommended else "")

    @property
    def folder(self) -> str:
        """Its run's subfolder name: "clip-norm-0.5", "recommended-clip-value-1", "adaptive"."""
        if self.adaptive:
            return "adaptive"
        return ("recommended-" if self.recommended else "") + f"clip-{self.mode}-{self.threshold:g}"

    def describe(self) -> str:
        """The phrase for a sentence: "clip-norm 0.5", "adaptive clipping"."""
        return "adaptive clipping" if self.adaptive else f"clip-{self.mode} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "threshold": self.threshold}
