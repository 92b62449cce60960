"""What the parent tells every attached process, through environment variables (they reach every process the
command starts: a shell script, torchrun's ranks, DataLoader workers). Torch-free: the boot code reads it in
every Python process of the command."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gradscope.clip.setting import Clip

ENABLE = "GRADSCOPE_ATTACH"  # "1": the boot sitecustomize attaches this process when it imports torch
HOME = "GRADSCOPE_ATTACH_HOME"  # the folder holding the parent's gradscope package: the child loads that copy
OUT = "GRADSCOPE_ATTACH_OUT"  # where rank 0 streams each run: OUT/<label>/ (the parent arranges them after)
CONTROL = "GRADSCOPE_ATTACH_CONTROL"  # a JSON-lines file: what the processes tell the parent (runs, notes, errors)
STEPS = "GRADSCOPE_ATTACH_STEPS"  # stop the script (SystemExit) once every run has this many rows
SEED = "GRADSCOPE_ATTACH_SEED"  # Python, NumPy and torch are seeded with it (default 0)
CLIP = "GRADSCOPE_ATTACH_CLIP"  # a trial's clip: "norm:1.5", "value:0.5" or "adaptive"
LOCATE = "GRADSCOPE_ATTACH_LOCATE"  # "<step>[:<label>]": watch that step of that run (hooks), then stop
LR_SCALE = "GRADSCOPE_ATTACH_LR_SCALE"  # a trial's learning rate: every param group's lr x this at each step
WARMUP = "GRADSCOPE_ATTACH_WARMUP"  # a trial's linear warm-up over the first W optimizer steps (lr_change.py)
BOOT = Path(__file__).resolve().parent / "boot"  # the sitecustomize put first on PYTHONPATH


def clip_text(clip: Clip) -> str:
    """A clip as GRADSCOPE_ATTACH_CLIP writes it: "norm:1.5", "value:0.5", "adaptive"."""
    return clip.mode if clip.threshold is None else f"{clip.mode}:{clip.threshold!r}"


def parse_clip(text: str) -> Clip:
    mode, _, value = text.partition(":")
    try:
        return Clip(mode, float(value) if value else None)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"{CLIP}={text!r}: expected norm:X, value:X or adaptive ({exc})") from None


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
    lr_scale: float | None = None  # a trial's lr change where the script steps (lr_change.py)
    warmup: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        steps, clip, scale, warmup = env.get(STEPS), env.get(CLIP), env.get(LR_SCALE), env.get(WARMUP)
        locate, _, locate_label = (env.get(LOCATE) or "").partition(":")
        return cls(out=Path(env[OUT]) if env.get(OUT) else None,
                   control=Path(env[CONTROL]) if env.get(CONTROL) else None,
                   steps=int(steps) if steps else None, seed=int(env.get(SEED) or 0),
                   clip=parse_clip(clip) if clip else None, locate=int(locate) if locate else None,
                   locate_label=locate_label or None, lr_scale=float(scale) if scale else None,
                   warmup=int(warmup) if warmup else None)

    def environ(self) -> dict[str, str]:
        """The variables that give these settings to a child (merged into the user's environment)."""
        env = {ENABLE: "1", SEED: str(self.seed)}
        for name, value in ((OUT, self.out), (CONTROL, self.control), (STEPS, self.steps),
                            (CLIP, clip_text(self.clip) if self.clip else None),
                            (LOCATE, None if self.locate is None else f"{self.locate}:{self.locate_label or ''}"),
                            (LR_SCALE, None if self.lr_scale is None else repr(self.lr_scale)), (WARMUP, self.warmup)):
            if value is not None:
                env[name] = str(value)
        return env
