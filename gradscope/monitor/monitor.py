"""`Monitor`: gradient and weight statistics after each backward(), cheap enough to leave on.

Per step it takes per-parameter gradient L2 norms, the global norm derived from them (exactly as
`clip_grad_norm_` does: fused `torch._foreach_norm` per device and dtype, then the norm of the stacked norms),
weight norms and non-finite flags, and moves them to the host in ONE copy. Never one `.item()` per parameter:
each is a host sync. On accelerators `sync_every=N` keeps N steps of statistics on the device and copies them
at once; findings then come up to N steps late.

What it costs (benchmarks/monitor_overhead.py, CPU, one thread): `record` alone is 0.7-0.9x of
`clip_grad_norm_(params, inf)` alone on a 400-tensor MLP and adds about 0.4% to the training step of a
26M-parameter transformer (batch 8 x 128 tokens). On an H200 with `sync_every=1` the host copy waits for the
GPU, which then idles while the next step is queued (+3.5% there); `sync_every=16` brings that to ~0%.

Memory: the global series (loss, global norm, ...) are kept in full, about 60 bytes a step; the per-parameter
series in a bounded `ParameterSeries` (a recent window at full resolution plus a history that halves its
resolution when full: (recent + history) x parameters floats, whatever the number of steps). `save` and
`Trace.stream_to` write every step to CSV.

The pieces, one idea each: `norm_kernels` (the fused norm calls and their layout), `row_layout` (one step's row,
built on the device and decoded on the host), `pending` (rows waiting for their copy), `amp` (the GradScaler),
`rank_reduce` (under torch.distributed: DDP, FSDP2's DTensor shards, a loop that all-reduces its own gradients,
the whole model's norms, flags and mean loss on every rank from one collective per step; with `sync_every=N`
too, since `clip_norm_` needs each step's global norm: the collective is queued on the device's stream and does
not wait for the host), `param_names` (the model's own names inside DDP, torch.compile and FSDP wrappers).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gradscope.monitor.amp import AMP_PERSISTENT_SKIPS, AmpWatch
from gradscope.monitor.norm_kernels import NormKernels, row_dtype
from gradscope.monitor.param_names import owner_types, trainable_parameters
from gradscope.monitor.pending import PendingRows
from gradscope.monitor.rank_reduce import ranks_for
from gradscope.monitor.row_layout import HostRow, RowHeader, RowLayout, loss_tensor
from gradscope.ranks import is_writer
from gradscope.trace.trace import Event, RunInfo, Trace

if TYPE_CHECKING:
    from gradscope.diagnose.diagnosis import Diagnosis

__all__ = ["AMP_PERSISTENT_SKIPS", "Monitor", "StepStats"]


@dataclass(frozen=True)
class StepStats:
    """One step's statistics on the host. Norms are L2; `grad_norm` is the global norm before clipping."""

    step: int
    loss: float
    grad_norm: float
    weight_norm: float
    grad_max_abs: float
    nonfinite_grads: tuple[str, ...] = ()  # parameters whose gradient holds NaN/Inf
    nonfinite_weights: tuple[str, ...] = ()  # parameters whose value holds NaN/Inf
    amp_skipped: bool = False
    norm_overflow: bool = False  # the float32 global norm was inf although every element was finite

    @property
    def loss_finite(self) -> bool:
        return math.isfinite(self.loss)

    @property
    def finite(self) -> bool:
        """True when loss, gradients and weights were all finite (an AMP-skipped step counts as finite)."""
        return self.loss_finite and not self.nonfinite_grads and not self.nonfinite_weights


class Monitor:
    """Records gradient and weight statistics of `model` after each `backward()`.

    Args:
        model: the module being trained; names come from `named_parameters()`.
        scaler: a `torch.amp.GradScaler`, if AMP is used. Call `record` after `scaler.unscale_(optimizer)`
            (as before clipping); if you don't, the norms are divided by the scale for you. Steps the scaler
            skips for inf/NaN are counted as `amp_skipped`, not as non-finite gradients, unless
            `AMP_PERSISTENT_SKIPS` of them come in a row.
        weight_every: take weight norms every N steps (1 = every step); between measurements the last value is
            carried forward. Weight norms read every weight once more, as much memory traffic as the gradient
            norms: with N=1 `record` costs 1.0-1.25x `clip_grad_norm_(inf)` on a 400-tensor MLP (over the
            goal of at most 1x), with N=2 0.7-0.9x, with gradients only ~0.55x; N=4 would save another eighth
            of record's cost for four times the lag. Weights move by a learning-rate-sized step each step, so
            a value one step old loses nothing the detectors use; a NaN weight shows at once anyway, as a
            NaN loss and NaN gradients on the next step. Default 2. The CLI's short diagnosis runs use 1.
        sync_every: copy statistics to the host every N steps; 1 = every step (`record` returns that step's
            `StepStats`). On a GPU each copy waits for the queued work, so N > 1 avoids a stall per step;
            statistics stay on the device in between, and `record` returns None until they land (`flush()`
            lands them at once). A norm that overflows float32 although every element is finite is rechecked
            in float64 only with N=1 (with N > 1 the gradients are gone by the copy).
        track_max_abs: also take each gradient's largest |element| (needed to judge value clipping).
        recent, history: rows of per-parameter norms kept at full and at decimated resolution: the per-parameter
            memory is (recent + history) x parameters x 8 bytes (gradient and weight norms in float32),
            bounded in steps.
    """

    def __init__(self, model: nn.Module, *, scaler: Any = None, weight_every: int = 2, sync_every: int = 1,
                 track_max_abs: bool = False, recent: int = 256, history: int = 4096, label: str = "") -> None:
        if weight_every < 1 or sync_every < 1:
            raise ValueError("weight_every and sync_every must be >= 1")
        named = trainable_parameters(model)  # the model's own names, without DDP's `module.` or other wrappers'
        if not named:
            raise ValueError("the model has no parameters that require gradients")
        self.model = model
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.weight_every = weight_every
        self.sync_every = sync_every
        self.track_max_abs = track_max_abs
        owners = owner_types(model)
        self.trace = Trace(RunInfo(self.names, [list(p.shape) for p in self.params],
                                   [owners.get(n, "") for n in self.names], label=label,
                                   grad_dtype=str(row_dtype(self.params)).removeprefix("torch.")),
                           recent=recent, history=history)
        # Under torch.distributed the kernels measure this rank's shards; one collective makes them the model's.
        self._ranks = ranks_for(self.params)
        self._kernels = NormKernels(self._ranks.local_params(self.params))
        self._amp = AmpWatch(scaler)
        self._pending = PendingRows()
        self._step = 0
        self._t0: float | None = None
        self._last_weights = np.zeros(len(self.params))
        self._last_weight_norm = math.nan
        self._total: torch.Tensor | None = None  # this step's global grad norm, on the device, for clip_norm_
        self._seen: set[str] = set()  # event kinds already recorded: only the first of each is kept
        self.last: StepStats | None = None

    @property
    def scaler(self) -> Any:
        """The `GradScaler` given (or None)."""
        return self._amp.scaler

    @scaler.setter
    def scaler(self, scaler: Any) -> None:
        self._amp.scaler = scaler

    # -- recording -------------------------------------------------------------------------------
    def record(self, loss: torch.Tensor | float, *, lr: float | None = None) -> StepStats | None:
        """Record this step's statistics; returns them when they reach the host this step (else None).

        Device work: fused `_foreach_norm` calls over the gradients (and, on weight steps, the weights), one
        `stack` per 256 tensors, the global norm, one `cat` with the loss: a handful of kernels whatever the
        number of parameters, then at most one device-to-host copy. No per-parameter Python work when all
        parameters share a device and dtype and all have gradients (the common case); otherwise one fused call
        per device/dtype group and one gather by a cached index.
        """
        if self._t0 is None:
            self._t0 = time.perf_counter()
        step = self._step
        kernels = self._kernels
        with torch.no_grad():
            scale = self._amp.scale_to_divide(kernels.device)
            layout = RowLayout.of(kernels.n, step % self.weight_every == 0, self.track_max_abs, scale is not None)
            norms, total = kernels.measure(self._ranks.grads(self.params), layout.weights, layout.max_abs)
            # Under torch.distributed: the whole model's norms and the global mean loss, on every rank.
            step_loss = loss_tensor(loss, kernels.device, kernels.dtype)
            norms, total, step_loss = self._ranks.reduce(norms, total, step_loss, layout)
            row = layout.device_row(norms, total, step_loss, scale)
            if scale is not None:
                total = total / scale.reshape(())  # clip_norm_ then scales the still-scaled gradients right
        self._total = total
        header = RowHeader(step, layout, lr, time.perf_counter() - self._t0)
        self._step = step + 1
        if self.sync_every == 1:
            return self._land(row.cpu().numpy().astype(np.float64), header)
        self._pending.add(row, header, norms[kernels.n:2 * kernels.n] if layout.max_abs else None)
        if len(self._pending) >= self.sync_every:
            self.flush()
        return None

    def flush(self) -> list[StepStats]:
        """Copy pending device-side statistics to the host in one transfer; returns their steps' stats."""
        stats = []
        for host, header, clipped in self._pending.take(self._kernels.zero[0]):
            stats.append(self._land(host, header))
            self.trace.set_clipped(len(self.trace) - 1, clipped)
        return stats

    def _land(self, host: np.ndarray, header: RowHeader) -> StepStats:
        """Turn one host row into trace columns, flags and events."""
        row = header.layout.decode(host)
        weights, bad_weights = self._land_weights(row)
        grads, total, bad_grads, overflow = self._land_grads(row)
        amp_skipped, settling = self._amp.skipped(bool(bad_grads), math.isfinite(row.loss))
        # While the scale settles, a skipped step's inf gradients are the scaler's business: counted in
        # amp_skipped, not as non-finite gradients (which the detectors would report).
        reported = () if settling else tuple(self.names[i] for i in bad_grads)
        peak = float(np.max(row.max_abs)) if row.max_abs is not None and len(grads) else math.nan
        stats = StepStats(
            step=header.step, loss=row.loss, grad_norm=total, weight_norm=self._last_weight_norm, grad_max_abs=peak,
            nonfinite_grads=reported, nonfinite_weights=tuple(self.names[i] for i in bad_weights),
            amp_skipped=amp_skipped, norm_overflow=overflow,
        )
        columns = {"step": header.step, "loss": row.loss, "grad_norm": total, "grad_max_abs": peak,
                   "weight_norm": self._last_weight_norm, "nonfinite_grads": len(reported),
                   "amp_skipped": int(amp_skipped), "norm_overflow": int(overflow),
                   "lr": math.nan if header.lr is None else header.lr,
                   "seconds": header.seconds}
        self.trace.append(columns, grads, weights)
        if not stats.loss_finite or reported or bad_weights:
            for event in _first_events(stats, [self.names[i] for i in bad_grads] if reported else [],
                                       self._amp.persistent_detail(stats.step)):
                if event.kind not in self._seen:
                    self._add_event(event)
        self.last = stats
        return stats

    def _land_weights(self, row: HostRow) -> tuple[np.ndarray, list[int]]:
        """This step's weight norms (or the last ones, carried forward) and the parameters not finite."""
        if row.weights is None:
            return self._last_weights, []
        weights = row.weights
        bad = np.flatnonzero(~np.isfinite(weights)).tolist()
        if bad and self.sync_every == 1:
            # As for gradients: a weight norm past ~1e19 overflows float32 while every weight is finite.
            bad, weights = self._ranks.exact_norms([self.params[i] for i in bad], bad, weights)
        self._last_weights = weights
        self._last_weight_norm = math.sqrt(float(np.dot(weights, weights)))
        return weights, bad

    def _land_grads(self, row: HostRow) -> tuple[np.ndarray, float, list[int], bool]:
        """Gradient norms, global norm, the parameters whose gradient is not finite, and whether the float32 global
        norm overflowed with every element finite (|g| > ~1.8e19). Such per-parameter norms are recomputed in
        float64 (with sync_every=1 only: later the gradients are gone), the global one from them; the trace keeps
        that exact norm, and `norm_overflow` says a plain loop saw inf there."""
        grads, total = row.grads, row.total
        bad = np.flatnonzero(~np.isfinite(grads)).tolist()
        if bad and self.sync_every == 1:
            bad, grads = self._ranks.exact_norms([self.params[i].grad for i in bad], bad, grads, row.scale or 1.0)
        overflow = not bad and not math.isfinite(total)
        if overflow:
            total = math.sqrt(float(np.dot(grads, grads)))
            # clip_norm_ must see the true norm, not inf (which would zero every gradient); float64 holds it.
            self._total = torch.tensor(total, dtype=torch.float64, device=self._kernels.device)
        return grads, total, bad, overflow

    def _add_event(self, event: Event) -> None:
        self._seen.add(event.kind)
        self.trace.add_event(event)

    def replace_event(self, event: Event) -> None:
        """Replace the recorded event of `event.kind` with a more precise one (the training loop's locator)."""
        self.trace.info.events = [e for e in self.trace.info.events if e.kind != event.kind] + [event]
        self._seen.add(event.kind)

    # -- clipping ----------------------------------------------------------------------------------
    def clip_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip the global gradient norm to `max_norm`, reusing the norm `record` computed (no second pass).

        Same arithmetic as `clip_grad_norm_` (coefficient max_norm / (norm + 1e-6), at most 1, one fused
        multiply per device and dtype), so for float32 parameters the gradients come out bit for bit the same,
        except that a non-finite global norm leaves the gradients as they are: plain `clip_grad_norm_` would
        multiply every gradient by NaN (or 0) and hide where the NaN came from. That step is reported by
        `record`. Returns the global norm before clipping (a tensor on the device), as `clip_grad_norm_` does.
        """
        if self._total is None:
            raise RuntimeError("call monitor.record(loss) after backward() and before clip_norm_()")
        total = self._total
        with torch.no_grad():
            coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            coef = torch.where(torch.isfinite(total), coef, torch.ones_like(coef))
            self._kernels.multiply_grads_(coef, self._ranks.grads(self.params))
        self._mark_clipped(lambda host_total: math.isfinite(host_total) and host_total > max_norm,
                           lambda: (total > max_norm) & torch.isfinite(total))
        return total

    def clip_value_(self, clip_value: float) -> None:
        """Clip every gradient element to [-clip_value, clip_value] (`clip_grad_value_`), recording if it bit."""
        if not self.track_max_abs:
            # The first call: take this step's peak here (one sync); from now on record() takes it.
            with torch.no_grad():
                peak = self._ranks.peak(self._kernels.grad_peak(self._ranks.grads(self.params)))  # one sync
            self.track_max_abs = True
            self._mark_clipped(lambda _: peak > clip_value,
                               lambda: torch.tensor(peak > clip_value, device=self._kernels.device))
        else:
            pending_peaks = self._pending.peaks
            self._mark_clipped(lambda _: self.trace.column("grad_max_abs")[-1] > clip_value,
                               lambda: (pending_peaks.max() > clip_value) if pending_peaks is not None
                               and pending_peaks.numel() else self._kernels.zero[0] > 0)
        torch.nn.utils.clip_grad_value_(self.params, clip_value)  # elementwise: DTensor gradients clamp their shards

    def _mark_clipped(self, host_rule: Any, device_rule: Any) -> None:
        """Set this step's `clipped` column: on the host when its row has landed, else as a device-side flag."""
        if len(self._pending):  # statistics still on the device: the flag travels with them at flush()
            self._pending.flag_clipped(device_rule())
            return
        if len(self.trace):
            self.trace.set_clipped(len(self.trace) - 1, bool(host_rule(self.trace.grad_norm[-1])))

    # -- results -----------------------------------------------------------------------------------
    def diagnose(self, **thresholds: Any) -> Diagnosis:
        """The findings on everything recorded so far (the same detectors the CLI runs), with any detector
        threshold changed by keyword (`grad_spike_ratio=5.0`; the names are `gradscope.Thresholds`' fields)."""
        from gradscope.diagnose.diagnosis import diagnose_trace
        from gradscope.diagnose.symptoms.thresholds import Thresholds

        limits = Thresholds.from_keywords(**thresholds)  # an unknown name: TypeError listing the valid ones
        self.flush()
        return diagnose_trace(self.trace, thresholds=limits)

    def save(self, path: str | Path) -> Path:
        """Write trace.csv, per-parameter norms, run.json, diagnosis.json and plots into `path`.

        trace.csv holds every step. The per-parameter CSVs hold the steps still in memory: all of them for a
        run shorter than `recent + history` steps, else the recent window and the downsampled history. What an
        earlier run left in `path` (its trace, plots, trial folders) is removed first; other files are kept.
        Under torch.distributed only rank 0 writes (every rank holds the same statistics); the other ranks
        return the path and write nothing.
        """
        from gradscope.record.plots import write_run_plots  # the one arrow up: save draws the run's plots
        from gradscope.trace.run_folder import finish_run_folder, prepare_run_folder

        diagnosis = self.diagnose()
        if not is_writer():
            return Path(path)
        run_dir = prepare_run_folder(Path(path), streaming=self.trace)  # a stream into `path` keeps its CSVs
        finish_run_folder(run_dir, self.trace, diagnosis, plots=write_run_plots)
        return run_dir


def _first_events(stats: StepStats, bad_grads: list[str], amp_detail: str) -> list[Event]:
    """The events a non-finite step can start: loss, gradient (`bad_grads` in registration order), weight."""
    events = []
    if not stats.loss_finite:
        events.append(Event("nonfinite_loss", stats.step, stage="forward"))
    if stats.nonfinite_grads:
        # Backward runs from the output to the input, so the parameter nearest the output is where a NaN/Inf
        # met the gradients first. Registration order stands in for depth here; the CLI's training loop
        # replaces this with the exact backward order by re-running the step.
        events.append(Event("nonfinite_gradient", stats.step, parameter=bad_grads[-1], stage="backward",
                            detail=amp_detail, others=tuple(bad_grads[:-1][:20])))
    if stats.nonfinite_weights:
        # Weights recorded now are the ones the previous optimizer.step() produced.
        names = stats.nonfinite_weights
        events.append(Event("nonfinite_weight", max(stats.step - 1, 0), parameter=names[0], stage="step",
                            others=tuple(names[1:21])))
    return events
