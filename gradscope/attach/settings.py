"""What the parent tells every attached process, through environment variables (they reach every process the
command starts: a shell script, torchrun's ranks, DataLoader workers). Standard library only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENABLE = "GRADSCOPE_ATTACH"  # "1": the boot sitecustomize attaches this process when it imports torch
HOME = "GRADSCOPE_ATTACH_HOME"  # the folder holding the gradscope package (for a Python that lacks it)
OUT = "GRADSCOPE_ATTACH_OUT"  # where rank 0 streams each run: OUT/<label>/ (the parent arranges them after)
CONTROL = "GRADSCOPE_ATTACH_CONTROL"  # a JSON-lines file: what the processes tell the parent (runs, notes, errors)
STEPS = "GRADSCOPE_ATTACH_STEPS"  # stop the script (SystemExit) once every run has this many rows
SEED = "GRADSCOPE_ATTACH_SEED"  # Python, NumPy and torch are seeded with it (default 0)
CLIP = "GRADSCOPE_ATTACH_CLIP"  # a trial's clip: "norm:1.5", "value:0.5" or "adaptive"
LOCATE = "GRADSCOPE_ATTACH_LOCATE"  # "<step>[:<label>]": watch that step of that run (hooks), then stop
BOOT = Path(__file__).resolve().parent / "boot"  # the sitecustomize put first on PYTHONPATH


@dataclass(frozen=True)
class Clip:
    """A trial's clip: mode "norm" | "value" | "adaptive" and its threshold (None for adaptive)."""

    mode: str
    threshold: float | None = None

    def text(self) -> str:
        return self.mode if self.threshold is None else f"{self.mode}:{self.threshold!r}"

    @classmethod
    def parse(cls, text: str) -> Clip:
        mode, _, value = text.partition(":")
        if mode == "adaptive" and not value:
            return cls("adaptive")
        if mode not in ("norm", "value") or not value:
            raise ValueError(f"{CLIP}={text!r}: expected norm:X, value:X or adaptive")
        return cls(mode, float(value))


@dataclass(frozen=True)
class Settings:
    """The attach's settings in one process, read from its environment."""

    out: Path | None = None
    control: Path | None = None
    steps: int | None = None
    seed: int = 0
    clip: Clip | None = None
    locate: int | None = None
    locate_label: str | None = None  # the run whose step `locate` is watched (None: the first to record it)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        steps, clip = env.get(STEPS), env.get(CLIP)
        locate, _, locate_label = (env.get(LOCATE) or "").partition(":")
        return cls(out=Path(env[OUT]) if env.get(OUT) else None,
                   control=Path(env[CONTROL]) if env.get(CONTROL) else None,
                   steps=int(steps) if steps else None, seed=int(env.get(SEED) or 0),
                   clip=Clip.parse(clip) if clip else None, locate=int(locate) if locate else None,
                   locate_label=locate_label or None)

    def environ(self) -> dict[str, str]:
        """The variables that give these settings to a child (merged into the user's environment)."""
        env = {ENABLE: "1", SEED: str(self.seed)}
        for name, value in ((OUT, self.out), (CONTROL, self.control), (STEPS, self.steps),
                            (CLIP, self.clip.text() if self.clip else None),
                            (LOCATE, None if self.locate is None else f"{self.locate}:{self.locate_label or ''}")):
            if value is not None:
                env[name] = str(value)
        return env
