"""The parent's side of an attached run: start the command, see it end, turn what it streamed into run folders.

`record_command` is what `gradscope diagnose -- COMMAND` (and compare's and recommend's trials) call. It runs
the command once attached (launch.py); when a run went non-finite, once more up to that step with hooks on
that step (locating.py) to name the module and the op; then it completes each run folder exactly as a config's
run is completed (`finish_run_folder`: trace CSVs, run.json, diagnosis.json, plots). One optimizer: the run
folder is `run_dir` itself; several: a subfolder each, named by the run's label.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gradscope.attach import control
from gradscope.attach.launch import Ended, run
from gradscope.attach.settings import Settings
from gradscope.clip.setting import Clip
from gradscope.errors import GradscopeError
from gradscope.trace.measures import Measure
from gradscope.trace.run_folder import (
    DIAGNOSIS_FILE,
    FILES,
    finish_run_folder,
    prepare_run_folder,
    write_json_atomic,
)
from gradscope.trace.trace import StopReason

# Why a script's run in float16/bfloat16 leaves `activation_overflow` unchecked (precision.py tells the parent it is
# one): a config's run finds it by replaying its last step under an op-level check.
# Why a trial's learning-rate change cannot apply (lr_change.py): the script never called an optimizer's step.
NO_OPTIMIZER = ("the script takes no torch.optim optimizer step (it updates its weights by hand), so gradscope cannot "
                "change its learning rate (fix: pass your script's own learning-rate flag with --try ARGS)")
LOW_PRECISION_UNCHECKED = ("the script computes in {dtype}, and an attached script's step cannot be replayed "
                           "(gradscope holds neither its batch nor its loss code): this check runs on configs only")


@dataclass(frozen=True)
class ScriptRun:
    """One run of the script: an optimizer's rows (a GAN has two), diagnosed, in its folder."""

    label: str
    trace: Any  # gradscope.trace.trace.Trace
    diagnosis: Any  # gradscope.Diagnosis
    run_dir: Path
    optimizer: str | None = None  # its torch.optim class name ("AdamW"); None: the script updates by hand


@dataclass(frozen=True)
class CommandResult:
    """What one attached run of the command gave: its runs (one per optimizer), how it ended, and the one line
    that says what went wrong, if anything: `error` (the script raised, exited non-zero or was killed: exit 3)."""

    runs: tuple[ScriptRun, ...]
    run_dir: Path
    stop: StopReason
    ended: Ended
    error: str | None = None
    steps_seen: int = 0

    @property
    def interrupted(self) -> bool:
        return self.stop is StopReason.INTERRUPTED

    def document(self) -> dict[str, Any]:
        """The `--json` document: one run's diagnosis, or {"verdict": the worst, "runs": [...]} for several."""
        if len(self.runs) == 1:
            return self.runs[0].diagnosis.to_dict()
        worst = max(self.runs, key=lambda r: r.diagnosis.severity_rank).diagnosis.verdict if self.runs else "healthy"
        return {"verdict": worst, "runs": [{"label": r.label, **r.diagnosis.to_dict()} for r in self.runs],
                "run_dir": str(self.run_dir)}


def record_command(command: list[str], run_dir: Path, *, steps: int | None = None, seed: int = 0,
                   clip: Clip | None = None, plots: bool = True, locate: bool = True,
                   label: str | None = None, lr_scale: float | None = None,
                   warmup: int | None = None) -> CommandResult:
    """Run `command` attached and write its run folder(s) into `run_dir`; see the module docstring. `lr_scale`
    and `warmup`: a trial's learning-rate change where the script steps (lr_change.py)."""
    run_dir = prepare_run_folder(Path(run_dir)).resolve()
    with tempfile.TemporaryDirectory(prefix="gradscope-attach-") as scratch:
        settings = Settings(out=run_dir, control=Path(scratch) / "control.jsonl", steps=steps, seed=seed, clip=clip,
                            lr_scale=lr_scale, warmup=warmup)
        ended = run(command, settings)
        messages = control.read(settings.control)
    defeated = next((m["defeated"] for m in messages if "defeated" in m), None)
    if defeated is not None:
        raise GradscopeError(f"{' '.join(command)}: {defeated}")

    stop, error = _how_it_ended(ended, messages)
    folders = {m["run"]: Path(m["folder"]) for m in messages if "run" in m and m.get("rank", 0) == 0}
    optimizers = {m["run"]: m.get("optimizer") for m in messages if "run" in m and m.get("rank", 0) == 0}
    if folders and (lr_scale is not None or warmup) and not any(optimizers.values()):
        raise GradscopeError(f"{' '.join(command)}: {NO_OPTIMIZER}")  # the trial would be the script unchanged
    if not folders and error is None and stop is not StopReason.INTERRUPTED:
        raise GradscopeError(f"{' '.join(command)}: ended without an optimizer step gradscope could record "
                             "(fix: a script that trains with torch in this Python; see `gradscope diagnose "
                             "--help`)")
    located = _locate(command, settings, folders) if locate and stop is not StopReason.INTERRUPTED else {}
    low = next((m["low_precision"] for m in reversed(messages) if m.get("low_precision")), None)  # the last said
    lacks = {Measure.OP_REPLAY: LOW_PRECISION_UNCHECKED.format(dtype=low)} if low else {}
    if not folders:  # the script ended (raised, was interrupted) before its first step: an empty run, as a config's
        from gradscope.record.recorder import write_empty_run

        write_empty_run(run_dir, steps, label or "", stop)
        return CommandResult((), run_dir, stop, ended, error)
    if len(folders) == 1:  # one optimizer: its run folder is run_dir itself, labelled as the caller says
        (name, folder), = folders.items()
        runs = (_finish(label or name, _move_up(folder, run_dir), stop, steps, located.get(name), plots, lacks),)
    else:
        traces = {name: _read(name, folder, stop, steps, located.get(name)) for name, folder in folders.items()}
        game = _as_game(traces)
        runs = tuple(_complete(name, folders[name], trace, plots, game.get(name), lacks)
                     for name, trace in traces.items())
    named = [optimizers.get(name) for name in folders]  # in the order the runs are
    runs = tuple(replace(r, optimizer=o) for r, o in zip(runs, named, strict=True))
    result = CommandResult(runs, run_dir, stop, ended, error)
    if len(runs) > 1:
        write_json_atomic(run_dir / DIAGNOSIS_FILE, result.document())
    return result


def _how_it_ended(ended: Ended, messages: list[dict[str, Any]]) -> tuple[StopReason, str | None]:
    stopped = next((m["stopped"] for m in messages if "stopped" in m), None)
    if ended.interrupted or any(m.get("interrupted") for m in messages):
        return StopReason.INTERRUPTED, None
    raised = next((m for m in messages if "raised" in m), None)
    if raised is not None:
        return StopReason.ERROR, f"your script raised {raised['raised']} at step {raised.get('step', 0)}"
    if ended.returncode != 0:
        how = (f"was killed by {signal.Signals(-ended.returncode).name}" if ended.returncode < 0
               else f"exited with status {ended.returncode}")
        return StopReason.ERROR, f"your command {how}"
    if stopped == "nonfinite_weights":
        return StopReason.NONFINITE_WEIGHTS, None
    return StopReason.COMPLETED, None


def _move_up(folder: Path, run_dir: Path) -> Path:
    """The only run's files from its subfolder into `run_dir` itself."""
    if folder.resolve() == run_dir:
        return run_dir
    for name in FILES:
        if (folder / name).is_file():
            shutil.move(str(folder / name), str(run_dir / name))
    with contextlib.suppress(OSError):
        folder.rmdir()
    return run_dir


def _finish(label: str, folder: Path, stop: StopReason, steps: int | None, located: dict[str, Any] | None,
            plots: bool, lacks: dict[Measure, str]) -> ScriptRun:
    return _complete(label, folder, _read(label, folder, stop, steps, located), plots, lacks=lacks)


def _read(label: str, folder: Path, stop: StopReason, steps: int | None, located: dict[str, Any] | None) -> Any:
    """The run's trace as streamed, with how it ended and where it first went non-finite."""
    from gradscope.sources.run_reader import read_run

    trace = read_run(folder).trace
    info = trace.info
    info.stopped, info.label, info.steps_requested = stop, label, steps
    if located is not None:
        _place(info, located)
    return trace


def _as_game(traces: dict[str, Any]) -> dict[str, Any]:
    """Several optimizers that step on different losses (a GAN's netD and netG) play a game: they are diagnosed
    together (gradscope.diagnose.adversarial: a generator's loss rising is not a divergence, a collapse is a
    finding). Optimizers that share one loss (parts of one model) are diagnosed each on its own ({})."""
    import numpy as np

    from gradscope.diagnose.adversarial import diagnose_adversarial

    firsts = [float(trace.loss[0]) for trace in traces.values() if len(trace) > 0]
    if len(firsts) < 2 or np.allclose(firsts, firsts[0], rtol=1e-6, equal_nan=True):
        return {}
    return diagnose_adversarial(traces)


def _complete(label: str, folder: Path, trace: Any, plots: bool, diagnosis: Any = None,
              lacks: dict[Measure, str] | None = None) -> ScriptRun:
    """The run folder completed and diagnosed; `lacks`: the measures a script's run cannot have (unchecked)."""
    from gradscope.diagnose.diagnosis import diagnose_trace, unchecked_kinds
    from gradscope.record.plots import write_run_plots

    if diagnosis is None:
        diagnosis = diagnose_trace(trace, label=label, run_dir=folder, lacks=lacks)
    else:
        diagnosis = replace(diagnosis, run_dir=str(folder),
                            unchecked=unchecked_kinds(lacks or {}, list(diagnosis.symptoms)))
    diagnosis = finish_run_folder(folder, trace, diagnosis, plots=write_run_plots if plots else None)
    return ScriptRun(label, trace, diagnosis, folder)


def _place(info: Any, located: dict[str, Any]) -> None:
    """The second run's finding on the first non-finite step, in that step's events (as a config's run has)."""
    step = located.get("step")
    for i, event in enumerate(info.events):
        if event.step != step or event.kind not in ("nonfinite_loss", "nonfinite_gradient"):
            continue
        info.events[i] = dataclasses.replace(
            event, module=located.get("module") or event.module, stage=located.get("stage") or event.stage,
            detail=located.get("detail") or event.detail, op=located.get("op") or event.op,
            parameter=event.parameter if event.kind == "nonfinite_loss" else
            (located.get("parameter") or event.parameter))


def _locate(command: list[str], settings: Settings, folders: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Where the first non-finite loss or gradient began: the command once more, to that step, with hooks on that
    step (at most one extra run, up to that step). {label: the finding} for the run it was found in."""
    first = _first_nonfinite(folders)
    if first is None:
        return {}
    name, step = first
    print(f"gradscope: running the command again up to step {step} to find where its first non-finite value "
          "came from", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="gradscope-locate-") as scratch:
        again = dataclasses.replace(settings, out=None, control=Path(scratch) / "control.jsonl", steps=None,
                                    clip=settings.clip, locate=step, locate_label=name)
        run(command, again)
        messages = control.read(again.control)
    found = next((m["located"] for m in messages if m.get("located") and m.get("rank", 0) == 0), None)
    return {} if found is None else {name: found}


def _first_nonfinite(folders: dict[str, Path]) -> tuple[str, int] | None:
    """(label, step) of the earliest non-finite loss or gradient event among the runs."""
    import json

    from gradscope.trace.run_folder import RUN_FILE

    best: tuple[int, str] | None = None
    for name, folder in folders.items():
        try:
            events = json.loads((folder / RUN_FILE).read_text()).get("events", [])
        except (OSError, ValueError):
            continue
        for event in events:
            if event.get("kind") in ("nonfinite_loss", "nonfinite_gradient") and (
                    best is None or event["step"] < best[0]):
                best = (int(event["step"]), name)
    return None if best is None else (best[1], best[0])


__all__ = ["CommandResult", "ScriptRun", "record_command"]
