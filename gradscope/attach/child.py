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

`--steps` stops the script with `SystemExit` at the end of the step that completes it; so does a non-finite
weight (nothing more to learn, as in a config's run). What the process must tell the parent goes to the control
file (control.py); the rows stream into the run folders as they are recorded.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import sys
import weakref
from typing import Any

import torch

from gradscope.attach.control import tell
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
    """The hooks' shared state in one process: the runs, the losses since the last step, where a step is."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.optimizers: list[weakref.ref[Any]] = []  # in construction order: optimizer-<i>
        self.runs: dict[int, AttachedRun] = {}  # id(optimizer) -> its run; MANUAL -> the run without optimizer
        self.loss: torch.Tensor | None = None  # the scalar losses backpropagated since the last row
        self.last_loss: torch.Tensor | float = math.nan  # the previous row's: a step with no backward of its own
        self.inside_backward = False
        self.grad_calls = 0  # torch.autograd.grad calls since the last row (a script with no backward)
        self.backwards = 0  # backward() calls since the last row
        self.scaler_step: Any = None  # the optimizer a GradScaler.step is stepping now
        self.stopping = False
        self.manual_clips = False  # the script without optimizer clips: a row per clip call
        self.watch: Any = None  # locating.StepWatch on the watched step of the second run
        self.scaler: Any = None  # the GradScaler that scaled the last loss: the runs it steps skip with it
        self.failed: StopReason | None = None  # the script raised (ERROR) or was interrupted (INTERRUPTED)
        self.stop_reason: str | None = None  # why the attach stopped the script: "steps", "nonfinite_weights"...

    # -- installing ----------------------------------------------------------------------------------
    def install(self) -> None:
        from torch.optim.optimizer import (
            Optimizer,
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        _wrap(Optimizer, "__init__", self._optimizer_init)
        register_optimizer_step_pre_hook(self._pre_step)
        register_optimizer_step_post_hook(self._post_step)
        _wrap(torch.Tensor, "backward", self._backward)
        _wrap(torch.autograd, "backward", self._autograd_backward)
        _wrap(torch.autograd, "grad", self._autograd_grad)
        import torch.nn.utils.clip_grad as clip_grad

        for module in (torch.nn.utils, clip_grad):
            _wrap(module, "clip_grad_norm_", self._clip_norm)
            _wrap(module, "clip_grad_value_", self._clip_value)
        from torch.amp.grad_scaler import GradScaler

        _wrap(GradScaler, "scale", self._scale)
        _wrap(GradScaler, "step", self._scaler_step)
        previous = sys.excepthook
        sys.excepthook = lambda kind, value, tb: (self._raised(kind, value), previous(kind, value, tb))
        atexit.register(self.finish)
        if self.settings.locate == 0:
            self._start_locating()

    # -- the hooks ---------------------------------------------------------------------------------------
    def _optimizer_init(self, original: Any, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        original(optimizer, *args, **kwargs)
        if not any(ref() is optimizer for ref in self.optimizers):
            self.optimizers.append(weakref.ref(optimizer))
            self._run_for(optimizer)  # the module is looked up while the frame that builds it is live

    def _backward(self, original: Any, tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inside_backward:
            return original(tensor, *args, **kwargs)
        return self._around_backward([tensor], lambda: original(tensor, *args, **kwargs))

    def _autograd_backward(self, original: Any, tensors: Any, *args: Any, **kwargs: Any) -> Any:
        if self.inside_backward:
            return original(tensors, *args, **kwargs)
        listed = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        return self._around_backward(listed, lambda: original(tensors, *args, **kwargs))

    def _around_backward(self, tensors: list[Any], call: Any) -> Any:
        manual = self._manual()
        if manual is not None and manual.pending:
            manual.end_cycle()  # the previous update is done: a new one starts with this backward
            self._check_stop()
        for t in tensors:
            if isinstance(t, torch.Tensor) and t.numel() == 1:
                value = getattr(t, UNSCALED, None)  # a loss GradScaler.scale made: the loss it scaled
                value = (t if value is None else value).detach().reshape(()).float()
                self.loss = value if self.loss is None else self.loss + value
        self.backwards += 1
        self.inside_backward = True
        try:
            result = call()
        finally:
            self.inside_backward = False
        if not self.optimizers and not self.manual_clips:
            run = self._manual(create=True)
            if run is not None:
                self._record(run)
                run.apply_trial_clip()  # a trial's clip on an update by hand that does not clip: before it
        return result

    def _autograd_grad(self, original: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.inside_backward:
            self.grad_calls += 1
        return original(*args, **kwargs)

    def _scale(self, original: Any, scaler: Any, outputs: Any) -> Any:
        scaled = original(scaler, outputs)
        if isinstance(outputs, torch.Tensor) and isinstance(scaled, torch.Tensor) and scaled is not outputs:
            setattr(scaled, UNSCALED, outputs.detach())
            self.scaler = scaler
        return scaled

    def _clip_norm(self, original: Any, parameters: Any, max_norm: float, *args: Any, **kwargs: Any) -> Any:
        params = _tensors(parameters)
        run = self._run_for_params(params)
        if run is None:
            return original(params, max_norm, *args, **kwargs)
        l2 = float(args[0] if args else kwargs.get("norm_type", 2.0)) == 2.0  # `clipped` is judged by the L2 norm
        script = Clip("norm", float(max_norm)) if l2 else None
        stats = self._record(run, script) if not run.pending else run.last
        if script is not None:
            run.script_clips(script, stats.grad_norm)
        trial = run.trial
        if trial is None:
            return original(params, max_norm, *args, **kwargs)
        run.trial_done()
        if trial.mode != "norm":  # the trial's own clip (value, or the guard's) replaces the script's
            run.apply_trial_clip()
            return torch.as_tensor(stats.grad_norm)
        result = original(params, trial.threshold, *args, **kwargs)
        if l2:
            run.mark_clipped(math.isfinite(stats.grad_norm) and stats.grad_norm > trial.threshold)
        return result

    def _clip_value(self, original: Any, parameters: Any, clip_value: float, *args: Any, **kwargs: Any) -> Any:
        params = _tensors(parameters)
        run = self._run_for_params(params)
        if run is None:
            return original(params, clip_value, *args, **kwargs)
        run.monitor_max_abs()
        script = Clip("value", float(clip_value))
        stats = self._record(run, script) if not run.pending else run.last
        run.script_clips(script, stats.grad_max_abs)
        trial = run.trial
        if trial is None:
            return original(params, clip_value, *args, **kwargs)
        run.trial_done()
        if trial.mode != "value":
            run.apply_trial_clip()
            return None
        result = original(params, trial.threshold, *args, **kwargs)
        run.mark_clipped(math.isfinite(stats.grad_max_abs) and stats.grad_max_abs > trial.threshold)
        return result

    def _scaler_step(self, original: Any, scaler: Any, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        if not scaler.is_enabled() or self.stopping:
            return original(scaler, optimizer, *args, **kwargs)
        run = self._run_for(optimizer)
        state = scaler._per_optimizer_states[id(optimizer)]
        if getattr(state.get("stage"), "name", "") == "READY":
            scaler.unscale_(optimizer)  # what step() does first: the row sees the true gradients
        run.scaler = scaler
        if not run.pending:
            self._record(run)
        if not run.apply_trial_clip():
            run.skip_update()  # no gradients: the step leaves the weights and the optimizer's state as they are
        self.scaler_step = optimizer
        try:
            result = original(scaler, optimizer, *args, **kwargs)
        finally:
            self.scaler_step = None
        self._end_step(run)
        return result

    def _pre_step(self, optimizer: Any, args: Any, kwargs: Any) -> Any:
        if self.stopping or self.scaler_step is optimizer:
            return None
        run = self._run_for(optimizer)
        closure = args[1] if len(args) > 1 else kwargs.get("closure")
        if closure is not None:
            return self._wrap_closure(run, args, kwargs, closure)
        if not run.pending:
            self._record(run)
        if not run.apply_trial_clip():
            run.skip_update()
        return None

    def _wrap_closure(self, run: AttachedRun, args: Any, kwargs: Any, closure: Any) -> Any:
        """The first evaluation of a closure is the row (LBFGS evaluates it many times per step). Its loss adds to
        the losses backpropagated before the step (Lightning runs a step's last micro-batch in the closure, after
        the others); the later evaluations' losses count for no row."""
        first = [True]

        @functools.wraps(closure)
        def evaluated(*a: Any, **k: Any) -> Any:
            if first[0]:
                value = closure(*a, **k)
                first[0] = False
                if not run.pending:
                    self._record(run)
            else:
                before = self.loss, self.backwards
                value = closure(*a, **k)
                self.loss, self.backwards = before
            run.apply_trial_clip()
            return value

        if len(args) > 1:
            return (args[0], evaluated, *args[2:]), kwargs
        return args, {**kwargs, "closure": evaluated}

    def _post_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.stopping or self.scaler_step is optimizer:
            return
        self._end_step(self._run_for(optimizer))

    # -- rows --------------------------------------------------------------------------------------------
    def _record(self, run: AttachedRun, script_clip: Clip | None = None) -> Any:
        if self.backwards == 0 and self.grad_calls:
            self._defeated("the script computes its gradients with torch.autograd.grad, not backward(): "
                           "gradscope cannot tell which loss an update applies, so it records nothing")
        if self.settings.steps is not None and run.rows >= self.settings.steps and not self.stopping:
            self._stop("steps")  # an optimizer that never steps does not keep the script going
        loss = self.loss if self.loss is not None else self.last_loss
        self.last_loss, self.loss, self.backwards, self.grad_calls = loss, None, 0, 0
        watch = self.watch if self._watched(run) and run.rows == self.settings.locate else None
        self.watch = None if watch is not None else self.watch
        if watch is not None:  # the watched step's row: the watch ends before the Monitor's own ops run
            finding = watch.stop(run.model_for_names, float(loss))
        if run.scaler is None and self.scaler is not None and self.scaler.is_enabled():
            run.scaler = self.scaler  # the Monitor counts the steps it skips, and divides by its scale if needed
        stats = run.record(loss, script_clip)
        if watch is not None:
            tell(self.settings, located={**finding, "step": stats.step, "label": run.label})
        elif run.optimizer is None and self._watched(run) and run.rows == self.settings.locate:
            self._start_locating(run)  # no optimizer step ends the update: the next forward may come at once
        return stats

    def _end_step(self, run: AttachedRun) -> None:
        if not run.pending:  # a step the script made without a row (no backward, no clip): recorded now
            self._record(run)
        run.end_cycle()
        if self._watched(run) and run.rows == self.settings.locate:
            self._start_locating(run)
        self._check_stop()

    def _watched(self, run: AttachedRun) -> bool:
        """Whether `run` is the one whose step the second run watches (see settings.LOCATE)."""
        label = self.settings.locate_label
        return self.settings.locate is not None and (label is None or run.label == label)

    def _check_stop(self) -> None:
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
        ends it when another is about to take its step N+1 instead (`_record`)."""
        self.stopping, self.stop_reason = True, reason
        tell(self.settings, stopped=reason)
        raise SystemExit(0)

    # -- runs ----------------------------------------------------------------------------------------------
    def _run_for(self, optimizer: Any) -> AttachedRun:
        run = self.runs.get(id(optimizer))
        if run is None:
            index = next((i for i, ref in enumerate(self.optimizers) if ref() is optimizer), len(self.optimizers))
            params = [p for group in optimizer.param_groups for p in group["params"]]
            run = AttachedRun.start(self.settings, params, f"optimizer-{index}", optimizer=optimizer,
                                    taken=[r.label for r in self.runs.values()])
            self.runs[id(optimizer)] = run
        return run

    def _run_for_params(self, params: list[torch.Tensor]) -> AttachedRun | None:
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
            return self._run_for(best)
        if not self.optimizers:
            self.manual_clips = True
            return self._manual(create=True, params=params)
        return None

    def _manual(self, create: bool = False, params: list[torch.Tensor] | None = None) -> AttachedRun | None:
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

    # -- the end -------------------------------------------------------------------------------------------
    def _defeated(self, why: str) -> None:
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
            _STATE._defeated(f"{why}: gradscope cannot record this run")
        return original(*args, **kwargs)

    _wrap(owner, method, defeated)


MANUAL = -1  # the key of the run without optimizer
UNSCALED = "_gradscope_unscaled"  # on a tensor GradScaler.scale returned: the loss before scaling


def _tensors(parameters: Any) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    return [p for p in parameters if isinstance(p, torch.Tensor)]


def _wrap(owner: Any, name: str, hook: Any) -> None:
    """Replace `owner.name` with a function that calls `hook(original, *args, **kwargs)`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return hook(original, *args, **kwargs)

    setattr(owner, name, wrapper)


__all__ = ["Attached", "attach", "watch_for_defeat"]
