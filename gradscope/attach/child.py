"""Inside the attached process: hooks on torch that turn the script's own training loop into trace rows.

Installed once, when the process imports torch (importhook.py). What one row is (CONTRACT, "Attaching to a
script") and where it is taken:

- `Tensor.backward` / `torch.autograd.backward` add each scalar loss to the step's loss (a loss scaled by a
  GradScaler counts unscaled: `GradScaler.scale` remembers what it scaled);
- the row is recorded at the first of: the script's `clip_grad_norm_` / `clip_grad_value_` (before it clips,
  so the norm is what the clip returns), `GradScaler.step` (after its `unscale_`, so a step the scaler skips is
  a row too), torch's global optimizer-step pre-hook (any `torch.optim.Optimizer`), the end of the first
  closure evaluation of a closure optimizer (LBFGS). Without any optimizer, a row per clip call, or per
  `backward()` while the script does not clip.
- each optimizer is its own run (runs.py), recorded by the `RunRecorder` every driver drives.

The hooks themselves are in hooks.py (`BackwardHooks`, `ClipHooks`, `StepHooks`); `Attached` holds what they
share: the runs, the step's losses, the rows, and when to stop. `--steps` stops the script with `SystemExit` at
the end of the step that completes it; so does a non-finite weight (nothing more to learn, as in a config's run).
What the process must tell the parent goes to the control file (control.py); the rows stream into the run
folders as they are recorded.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import weakref
from typing import Any

import torch

from gradscope.attach.control import tell
from gradscope.attach.hooks import BackwardHooks, ClipHooks, StepHooks, StepLoss, warnings_at_the_scripts_line, wrap
from gradscope.attach.runs import AttachedRun
from gradscope.attach.settings import Settings
from gradscope.clip.setting import Clip
from gradscope.trace.trace import StopReason

_STATE: Attached | None = None


def attach(settings: Settings) -> None:
    """Seed torch and install the hooks (once per process)."""
    global _STATE
    if _STATE is not None:
        return
    torch.manual_seed(settings.seed)
    _STATE = Attached(settings)
    _STATE.install()


class Attached:
    """What the hooks share in one process: the runs, the losses since the last step, the rows, and when the
    script stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.optimizers: list[weakref.ref[Any]] = []  # in construction order: optimizer-<i>
        self.runs: dict[int, AttachedRun] = {}  # id(optimizer) -> its run; MANUAL -> the run without optimizer
        self.losses = StepLoss()
        self.stopping = False
        self.manual_clips = False  # the script without optimizer clips: a row per clip call
        self.watch: Any = None  # locating.StepWatch on the watched step of the second run
        self.failed: StopReason | None = None  # the script raised (ERROR) or was interrupted (INTERRUPTED)
        self.stop_reason: str | None = None  # why the attach stopped the script: "steps", "nonfinite_weights"...

    def install(self) -> None:
        for hooks in (StepHooks(self), BackwardHooks(self), ClipHooks(self)):
            hooks.install()
        warnings_at_the_scripts_line()
        previous = sys.excepthook
        sys.excepthook = lambda kind, value, tb: (self._raised(kind, value), previous(kind, value, tb))
        atexit.register(self.finish)
        if self.settings.locate == 0:
            self._start_locating()

    # -- rows --------------------------------------------------------------------------------------------
    def record(self, run: AttachedRun, script_clip: Clip | None = None) -> Any:
        """One row of `run` with the losses since the last row; the watched step's finding told to the parent."""
        if self.losses.backwards == 0 and self.losses.grad_calls:
            self.defeated("the script computes its gradients with torch.autograd.grad, not backward(): "
                          "gradscope cannot tell which loss an update applies, so it records nothing")
        if self.settings.steps is not None and run.rows >= self.settings.steps and not self.stopping:
            self._stop("steps")  # an optimizer that never steps does not keep the script going
        loss = self.losses.take()
        watch = self.watch if self._watched(run) and run.rows == self.settings.locate else None
        self.watch = None if watch is not None else self.watch
        if watch is not None:  # the watched step's row: the watch ends before the Monitor's own ops run
            finding = watch.stop(run.model_for_names, float(loss))
        scaler = self.losses.scaler
        if run.scaler is None and scaler is not None and scaler.is_enabled():
            run.scaler = scaler  # the Monitor counts the steps it skips, and divides by its scale if needed
        stats = run.record(loss, script_clip)
        if watch is not None:
            tell(self.settings, located={**finding, "step": stats.step, "label": run.label})
        elif run.optimizer is None and self._watched(run) and run.rows == self.settings.locate:
            self._start_locating(run)  # no optimizer step ends the update: the next forward may come at once
        return stats

    def end_step(self, run: AttachedRun) -> None:
        """After the optimizer's update: its row if none was taken, then whether the script stops here."""
        if not run.pending:  # a step the script made without a row (no backward, no clip): recorded now
            self.record(run)
        run.end_cycle()
        if self._watched(run) and run.rows == self.settings.locate:
            self._start_locating(run)
        self.check_stop()

    def _watched(self, run: AttachedRun) -> bool:
        """Whether `run` is the one whose step the second run watches (see settings.LOCATE)."""
        label = self.settings.locate_label
        return self.settings.locate is not None and (label is None or run.label == label)

    # -- runs ----------------------------------------------------------------------------------------------
    def add_optimizer(self, optimizer: Any) -> None:
        """A new optimizer: its run, named while the frame that builds it is live (the module is looked up
        there)."""
        if not any(ref() is optimizer for ref in self.optimizers):
            self.optimizers.append(weakref.ref(optimizer))
            self.run_for(optimizer)

    def run_for(self, optimizer: Any) -> AttachedRun:
        run = self.runs.get(id(optimizer))
        if run is None:
            index = next((i for i, ref in enumerate(self.optimizers) if ref() is optimizer), len(self.optimizers))
            params = [p for group in optimizer.param_groups for p in group["params"]]
            run = AttachedRun.start(self.settings, params, f"optimizer-{index}", optimizer=optimizer,
                                    taken=[r.label for r in self.runs.values()])
            self.runs[id(optimizer)] = run
        return run

    def run_for_params(self, params: list[torch.Tensor]) -> AttachedRun | None:
        """The run of the optimizer holding most of `params`; the run without optimizer when none does."""
        ids = {id(p) for p in params}
        best, overlap = None, 0
        for ref in self.optimizers:
            optimizer = ref()
            if optimizer is None:
                continue
            held = sum(id(p) in ids for group in optimizer.param_groups for p in group["params"])
            if held > overlap:
                best, overlap = optimizer, held
        if best is not None:
            return self.run_for(best)
        if not self.optimizers:
            self.manual_clips = True
            return self.manual(create=True, params=params)
        return None

    def manual(self, create: bool = False, params: list[torch.Tensor] | None = None) -> AttachedRun | None:
        """The run of a script without optimizer (its updates by hand), made on first use when `create`."""
        run = self.runs.get(MANUAL)
        if run is None and create:
            run = AttachedRun.start_manual(self.settings, params, taken=[])
            if run is not None:
                self.runs[MANUAL] = run
        return run

    # -- locating a non-finite value (the second run) -------------------------------------------------------
    def _start_locating(self, run: AttachedRun | None = None) -> None:
        from gradscope.attach.locating import StepWatch

        self.watch = StepWatch(run.named_parameters() if run is not None else None)
        self.watch.start()

    # -- stopping and the end ------------------------------------------------------------------------------
    def check_stop(self) -> None:
        """At the end of a step: stop the script when the run is done (see `_stop`)."""
        if self.stopping or not self.runs:
            return
        if any(run.nonfinite_weights for run in self.runs.values()):
            self._stop("nonfinite_weights")
        elif self.settings.steps is not None and all(r.rows >= self.settings.steps for r in self.runs.values()):
            self._stop("steps")
        elif any(self._watched(r) and r.rows > self.settings.locate for r in self.runs.values()):
            self._stop("located")

    def _stop(self, reason: str) -> None:
        """End the script here, as a normal end (SystemExit 0: its own `finally` and atexit code run), and say why.
        `--steps N` ends it once every optimizer has stepped N times; one that never steps (built and left idle)
        ends it when another is about to take its step N+1 instead (`record`)."""
        self.stopping, self.stop_reason = True, reason
        tell(self.settings, stopped=reason)
        raise SystemExit(0)

    def defeated(self, why: str) -> None:
        """The script does something the attach cannot record right: stop it, and the parent says why."""
        self.stopping = True
        tell(self.settings, defeated=why)
        raise SystemExit(0)  # the parent says why, in one line

    def _raised(self, kind: type, value: BaseException) -> None:
        if issubclass(kind, SystemExit):
            return
        self.failed = StopReason.INTERRUPTED if issubclass(kind, KeyboardInterrupt) else StopReason.ERROR
        rows = max((r.rows for r in self.runs.values()), default=0)
        with contextlib.suppress(Exception):  # the script's own traceback must still print
            if issubclass(kind, KeyboardInterrupt):  # Ctrl-C reached the script (it holds the terminal)
                tell(self.settings, interrupted=True, step=rows)
            else:
                tell(self.settings, raised=f"{kind.__name__}: {value}", step=rows)

    def finish(self) -> None:
        """At exit, whatever ended the process: every run's trace closed and its run.json written."""
        stopped = self.failed or (StopReason.NONFINITE_WEIGHTS if self.stop_reason == "nonfinite_weights"
                                  else StopReason.COMPLETED)
        for run in self.runs.values():
            try:
                run.finish(stopped)
            except Exception as exc:  # noqa: BLE001 - at exit: say it, do not mask the script's own end
                print(f"gradscope: could not finish the run {run.label}: {exc}", file=sys.stderr)


DEFEATS = {  # module -> (object, method) whose call the attach cannot record right, and why
    "torch.distributed.fsdp": ("FullyShardedDataParallel", "clip_grad_norm_",
                               "the script clips with FSDP's own model.clip_grad_norm_, whose sharded norm gradscope "
                               "does not see"),
    "deepspeed": (None, "initialize", "the script trains through a DeepSpeed engine, which scales, clips and steps "
                                      "inside its own code"),
}


def watch_for_defeat(module: Any) -> None:
    """Wrap the call named in DEFEATS for `module`: when the script makes it, the run says why in one line and
    stops, instead of recording numbers that are not the script's."""
    owner_name, method, why = DEFEATS[module.__name__]
    owner = getattr(module, owner_name, None) if owner_name else module
    if owner is None or not hasattr(owner, method):
        return

    def defeated(original: Any, *args: Any, **kwargs: Any) -> Any:
        if _STATE is not None and not _STATE.stopping:
            _STATE.defeated(f"{why}: gradscope cannot record this run")
        return original(*args, **kwargs)

    wrap(owner, method, defeated)


MANUAL = -1  # the key of the run without optimizer

__all__ = ["Attached", "attach", "watch_for_defeat"]
