"""Attach to the user's own training command: `gradscope diagnose -- python train.py ...`, no config, no code change.

The API (diagnose uses it; compare's and recommend's trials build on the same call)
-----------------------------------------------------------------------------------
`gradscope.attach.session.record_command(command, run_dir, *, steps=None, seed=0, clip=None, plots=True,
locate=True, label=None) -> CommandResult` runs `command` (a list of words, as after `--`) once, attached, and
writes the run folder(s) into `run_dir` exactly as a config's run does. `CommandResult` holds `runs` (one
`ScriptRun(label, trace, diagnosis, run_dir)` per optimizer: `run_dir` itself for one optimizer, a subfolder per
label for several), `stop` (a `StopReason`), `ended` (`launch.Ended`: returncode, interrupted, seconds), `error`
(one line when the script raised, exited non-zero or was killed: exit 3; None otherwise) and `document()` (the
`--json` document). A command that cannot start, or a script that defeats the attach, raises `GradscopeError`
(one line, exit 2). Each call is one run of the script from its start; a script cannot be resumed.

How a trial clips: `clip=Clip("norm", 1.5)`, `Clip("value", 0.5)` or `Clip("adaptive")` (the one clip type,
`gradscope.clip.setting.Clip`; in the child it is the run's `RunRecorder` clip). It is applied where the script
steps:
- the script calls `clip_grad_norm_` (resp. `clip_grad_value_`) itself: that call runs with the trial's threshold
  in place of the script's; a trial of the other mode is applied instead of the call, which still returns the
  pre-clip norm the script expects;
- the script does not clip: the trial's clip is applied to the recorded gradients just before `optimizer.step()`
  (inside `GradScaler.step`, after its `unscale_`), by `RunRecorder.before_step`;
- adaptive: the recorder's `Guard` decides at each row, clips, and skips an update it rejects (its gradients set
  to None, so the step changes nothing); a clip call of the script's own is then left out.
The run's `trace.info.clip_mode`/`clip_threshold` carry the trial's clip (else the script's own clip).

How settings reach the child: environment variables (settings.py), which every process the command starts
inherits (a shell script, torchrun's ranks, DataLoader workers), set by `launch.child_environ`:
  GRADSCOPE_ATTACH=1         the boot `sitecustomize.py` (boot/, first on PYTHONPATH, chained to any
                             sitecustomize it shadows) attaches the process when it imports torch
  GRADSCOPE_ATTACH_HOME      the folder holding the parent's gradscope package: the child loads that copy
  GRADSCOPE_ATTACH_OUT       rank 0 streams each run into OUT/<label>/ as it goes
  GRADSCOPE_ATTACH_CONTROL   a JSON-lines file the processes append to (control.py): runs, stops, errors
  GRADSCOPE_ATTACH_STEPS     `--steps N`: SystemExit once every run has N rows (a normal end)
  GRADSCOPE_ATTACH_SEED      `--seed S` (default 0): Python's random when the process starts, NumPy and torch
                             when they are imported; a script that seeds itself keeps its own seed
  GRADSCOPE_ATTACH_CLIP      a trial's clip: "norm:1.5", "value:0.5", "adaptive"
  GRADSCOPE_ATTACH_LOCATE    "<step>[:<label>]": the second run watches that step, then stops
  GRADSCOPE_ATTACH_LR_SCALE  a trial's learning rate: every optimizer step's lr x this (lr_change.py)
  GRADSCOPE_ATTACH_WARMUP    a trial's linear warm-up over the first W optimizer steps

The pieces: `launch` (the child process, its process group, signals), `session` (the parent: one attached run,
the locating rerun, the run folders), `child` (what the hooks share in the attached process: the runs, the rows,
when to stop), `hooks` (the torch calls intercepted: backward, the script's clip, the optimizer's step), `runs`
(one optimizer's rows, through the `RunRecorder` every driver drives), `naming` (which module an optimizer
trains, and the script's name for it), `locating` (where a non-finite value began), `lr_change` (a trial's
learning-rate change at the optimizer step), `precision` (whether the script computes in fp16/bf16), `control`
(child -> parent messages), `importhook` and `boot/` (the way in). Nothing here imports torch until a command runs
(`gradscope --help` stays light).
"""

from __future__ import annotations

from pathlib import PurePath


def command_label(command: list[str]) -> str:
    """A short name for a command: its script (`train.py`, also under a launcher), its module (`-m pkg.train`:
    `pkg.train`), else its program."""
    for word in command[1:]:
        if word.endswith((".py", ".sh")):
            return PurePath(word).name
    for i, word in enumerate(command[:-1]):
        if word == "-m":
            return command[i + 1]
    return PurePath(command[0]).name if command else "command"
