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
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gradscope.trace import (
    Event,
    RunInfo,
    Trace,
    write_run_info,
)

if TYPE_CHECKING:
    from gradscope.diagnosis import Diagnosis

# A GradScaler skips a step when scaled gradients overflow and halves its scale; a few skips while the scale
# settles are normal. Twenty in a row means the scale fell 2**20-fold and gradients are still not finite:
# that is a real non-finite gradient, not AMP settling.
AMP_PERSISTENT_SKIPS = 20


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

    @property
    def loss_finite(self) -> bool:
        return math.isfinite(self.loss)

    @property
    def finite(self) -> bool:
        """True when loss, gradients and weights were all finite (an AMP-skipped step counts as finite)."""
        return self.loss_finite and not self.nonfinite_grads and not self.nonfinite_weights


@dataclass
class _Pending:
    """Device-side rows not yet copied to the host (only with sync_every > 1)."""

    rows: list[torch.Tensor] = field(default_factory=list)
    meta: list[tuple[Any, ...]] = field(default_factory=list)
    flags: dict[int, torch.Tensor] = field(default_factory=dict)  # row index -> device-side `clipped` flag
    peaks: torch.Tensor | None = None  # the last row's per-parameter max |grad|, for clip_value_


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
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the model has no parameters that require gradients")
        self.model = model
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.scaler = scaler
        self.weight_every = weight_every
        self.sync_every = sync_every
        self.track_max_abs = track_max_abs
        owners = {f"{m}.{n}" if m else n: type(mod).__name__
                  for m, mod in model.named_modules() for n, _ in mod.named_parameters(recurse=False)}
        self.trace = Trace(RunInfo(self.names, [list(p.shape) for p in self.params],
                                   [owners.get(n, "") for n in self.names], label=label),
                           recent=recent, history=history)
        self._n = len(self.params)
        self._device = self.params[0].device
        self._groups = _group_by_device_and_dtype(self.params)
        # The common case, one device and one dtype, takes the fast path: the gradient list goes to one fused
        # call as it is. Norms come out in float32 whatever the parameters' dtype (no float16 overflow).
        self._fast = len(self._groups) == 1
        self._group_kw = [_norm_kw(params[0].dtype) for _, params in self._groups]
        self._norm_kw = self._group_kw[0]
        self._zero = torch.zeros(1, device=self._device, dtype=torch.float32)
        order = [i for indices, _ in self._groups for i in indices]
        self._weight_gather = _gather_index(order, self._n, self._device)
        self._present: list[bool] | None = None  # which gradients were present when the layout was built
        self._grad_members: list[list[int]] = []
        self._grad_gather: torch.Tensor | None = None
        self._step = 0
        self._t0: float | None = None
        self._last_weights = np.zeros(len(self.params))
        self._last_weight_norm = math.nan
        self._total: torch.Tensor | None = None  # this step's global grad norm, on the device, for clip_norm_
        self._amp_streak = 0
        self._pending = _Pending()
        self._seen: set[str] = set()  # event kinds already recorded: only the first of each is kept
        self.last: StepStats | None = None

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
        take_weights = step % self.weight_every == 0
        track = self.track_max_abs
        with torch.no_grad():
            grads = [p.grad for p in self.params]
            stacked = total = None
            if self._fast:
                with contextlib.suppress(TypeError):  # a gradient is None: rejected before any work is done
                    stacked, total = self._fast_norms(grads, take_weights, track)
            if stacked is None:
                stacked, total = self._general_norms(grads, take_weights, track)
            scale = self._grad_scale()
            pieces = [stacked, total.reshape(1), _loss_tensor(loss, self._device)]
            if scale is not None:
                total = total / scale.reshape(())  # clip_norm_ then scales the still-scaled gradients right
                pieces.append(scale.reshape(1).to(self._device, torch.float32))
            row = torch.cat(pieces)
        self._total = total
        meta = (step, take_weights, track, scale is not None, lr, time.perf_counter() - self._t0)
        self._step = step + 1
        if self.sync_every == 1:
            return self._land(row.cpu().numpy().astype(np.float64), meta)
        self._pending.rows.append(row)
        self._pending.meta.append(meta)
        if track:
            self._pending.peaks = stacked[self._n:2 * self._n]
        if len(self._pending.rows) >= self.sync_every:
            self.flush()
        return None

    def _fast_norms(self, grads: list[Any], take_weights: bool,
                    track: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One device, one dtype, every gradient present: the lists go to the fused kernels as they are.

        Returns the float32 row [grad norms, (grad max-abs), (weight norms)] in parameter order and the global
        norm, computed as `clip_grad_norm_` does (the L2 norm of the stacked per-tensor norms), so that for
        float32 parameters it is the same number, bit for bit.
        """
        kw = self._norm_kw
        grad_norms = _stacked_norms(grads, 2.0, kw)
        parts = [grad_norms]
        if track:
            parts.append(_stacked_norms(grads, math.inf, kw))
        if take_weights:
            parts.append(_stacked_norms(self.params, 2.0, kw))
        stacked = torch.cat(parts) if len(parts) > 1 else grad_norms
        return stacked, torch.linalg.vector_norm(grad_norms, 2.0)

    def _general_norms(self, grads: list[Any], take_weights: bool,
                       track: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Several devices or dtypes, or some gradients None: one fused call per group, gathered in order.

        A parameter without a gradient gets norm 0. The gather index is rebuilt only when the set of
        parameters with a gradient changes (e.g. a frozen or unused branch keeps it the same every step).
        """
        present = [g is not None for g in grads]
        if present != self._present:
            self._build_layout(present)
        dev = self._device
        parts: list[torch.Tensor] = []
        peak_parts: list[torch.Tensor] = []
        for members, kw in zip(self._grad_members, self._group_kw, strict=True):
            if not members:
                continue
            group = [grads[i] for i in members]
            parts.append(_stacked_norms(group, 2.0, kw).to(dev, torch.float32))
            if track:
                peak_parts.append(_stacked_norms(group, math.inf, kw).to(dev, torch.float32))
        zero = self._zero
        flat = torch.cat(parts) if parts else zero[:0]
        total = torch.linalg.vector_norm(flat, 2.0) if parts else zero[0]  # in group order, as clip_grad_norm_
        rows = [self._in_order(flat, self._grad_gather)]
        if track:
            rows.append(self._in_order(torch.cat(peak_parts) if peak_parts else zero[:0], self._grad_gather))
        if take_weights:
            weights = [_stacked_norms(params, 2.0, kw).to(dev, torch.float32)
                       for (_, params), kw in zip(self._groups, self._group_kw, strict=True)]
            rows.append(self._in_order(torch.cat(weights), self._weight_gather))
        return torch.cat(rows), total

    def _in_order(self, flat: torch.Tensor, gather: torch.Tensor | None) -> torch.Tensor:
        """Group-ordered values -> parameter order; the slot past the end holds 0 for missing gradients."""
        if gather is None:
            return flat
        return torch.cat([flat, self._zero]).index_select(0, gather)

    def _build_layout(self, present: list[bool]) -> None:
        self._present = present
        self._grad_members = [[i for i in indices if present[i]] for indices, _ in self._groups]
        order = [i for members in self._grad_members for i in members]
        self._grad_gather = _gather_index(order, self._n, self._device)

    def flush(self) -> list[StepStats]:
        """Copy pending device-side statistics to the host in one transfer; returns their steps' stats."""
        if not self._pending.rows:
            return []
        rows, metas, flags = self._pending.rows, self._pending.meta, self._pending.flags
        self._pending = _Pending()
        false = self._zero[0]
        flag_row = torch.stack([flags.get(i, false).reshape(()).to(torch.float32) for i in range(len(rows))])
        # Rows differ in width (weight norms are taken on some steps only): one flat copy, split on the host.
        flat = torch.cat([*rows, flag_row]).cpu().numpy().astype(np.float64)
        stats, start = [], 0
        clipped = flat[-len(rows):]
        for j, (row, meta) in enumerate(zip(rows, metas, strict=True)):
            stats.append(self._land(flat[start:start + row.numel()], meta))
            start += row.numel()
            self.trace.set_clipped(len(self.trace) - 1, bool(clipped[j]))
        return stats

    def _land(self, host: np.ndarray, meta: tuple[Any, ...]) -> StepStats:
        """Turn one host row into trace columns, flags and events."""
        step, took_weights, tracked, scaled, lr, seconds = meta
        n = self._n
        grads = host[:n]
        offset = n
        max_abs = None
        if tracked:
            max_abs = host[offset:offset + n]
            offset += n
        if took_weights:
            weights = host[offset:offset + n]
            offset += n
        total, loss = float(host[offset]), float(host[offset + 1])
        if scaled:  # record ran before scaler.unscale_: the norms are of scaled gradients
            scale = host[offset + 2]
            grads = grads / scale
            total = total / scale
            if max_abs is not None:
                max_abs = max_abs / scale
        if took_weights:
            bad_weights = np.flatnonzero(~np.isfinite(weights)).tolist()
            if bad_weights and self.sync_every == 1:
                # As for gradients: a weight norm past ~1e19 overflows float32 while every weight is finite.
                bad_weights, weights = _exact_norms([self.params[i] for i in bad_weights], bad_weights, weights)
            self._last_weights = weights
            self._last_weight_norm = math.sqrt(float(np.dot(weights, weights)))
        else:
            weights = self._last_weights
            bad_weights = []

        bad_grads = np.flatnonzero(~np.isfinite(grads)).tolist()
        if bad_grads and self.sync_every == 1:
            # A norm can overflow float32 while every element is finite (|g| > ~1e19): recheck those exactly.
            bad_grads, grads, total = self._recheck_overflow(bad_grads, grads, total, scale if scaled else None)
        amp_skipped = False
        if bad_grads and self._scaler_enabled() and math.isfinite(loss):
            self._amp_streak += 1
            amp_skipped = self._amp_streak < AMP_PERSISTENT_SKIPS
        else:
            self._amp_streak = 0
        peak = float(np.max(max_abs)) if max_abs is not None and n else math.nan
        reported = () if amp_skipped else tuple(self.names[i] for i in bad_grads)
        stats = StepStats(
            step=step, loss=loss, grad_norm=total, weight_norm=self._last_weight_norm, grad_max_abs=peak,
            nonfinite_grads=reported, nonfinite_weights=tuple(self.names[i] for i in bad_weights),
            amp_skipped=amp_skipped,
        )
        # An AMP-skipped step's inf gradients are the scaler's business: counted in amp_skipped, not as
        # non-finite gradients (which the detectors would report).
        row = {"step": step, "loss": loss, "grad_norm": total, "grad_max_abs": peak,
               "weight_norm": self._last_weight_norm, "nonfinite_grads": len(reported),
               "amp_skipped": int(amp_skipped), "lr": math.nan if lr is None else lr, "seconds": seconds}
        self.trace.append(row, grads, weights)
        if not stats.loss_finite or reported or bad_weights:
            self._note_events(stats, bad_grads if reported else [], bad_weights)
        self.last = stats
        return stats

    def _recheck_overflow(self, bad: list[int], grads: np.ndarray, total: float,
                          scale: float | None) -> tuple[list[int], np.ndarray, float]:
        """Norms that came out inf although every element is finite: recompute them in float64."""
        still_bad, grads = _exact_norms([self.params[i].grad for i in bad], bad, grads, scale or 1.0)
        if not still_bad:
            total = math.sqrt(float(np.dot(grads, grads)))
            # clip_norm_ must see the true norm, not inf (which would zero every gradient); float64 holds it.
            self._total = torch.tensor(total, dtype=torch.float64, device=self._device)
        return still_bad, grads, total

    def _note_events(self, stats: StepStats, bad_grads: list[int], bad_weights: list[int]) -> None:
        if not stats.loss_finite and "nonfinite_loss" not in self._seen:
            self._add_event(Event("nonfinite_loss", stats.step, stage="forward"))
        if stats.nonfinite_grads and "nonfinite_gradient" not in self._seen:
            # Backward runs from the output to the input, so the parameter nearest the output is where a
            # NaN/Inf met the gradients first. Registration order stands in for depth here; the CLI's
            # training loop replaces this with the exact backward order by re-running the step.
            names = [self.names[i] for i in bad_grads]
            detail = ""
            if self._amp_streak >= AMP_PERSISTENT_SKIPS:
                detail = (f"gradients not finite for {self._amp_streak} consecutive steps (from step "
                          f"{stats.step - self._amp_streak + 1}) although the GradScaler kept lowering its scale")
            self._add_event(Event("nonfinite_gradient", stats.step, parameter=names[-1], stage="backward",
                                  detail=detail, others=tuple(names[:-1][:20])))
        if bad_weights and "nonfinite_weight" not in self._seen:
            # Weights recorded now are the ones the previous optimizer.step() produced.
            names = [self.names[i] for i in bad_weights]
            self._add_event(Event("nonfinite_weight", max(stats.step - 1, 0), parameter=names[0], stage="step",
                                  others=tuple(names[1:21])))

    def _add_event(self, event: Event) -> None:
        self._seen.add(event.kind)
        self.trace.add_event(event)

    def replace_event(self, event: Event) -> None:
        """Replace the recorded event of `event.kind` with a more precise one (the training loop's locator)."""
        self.trace.info.events = [e for e in self.trace.info.events if e.kind != event.kind] + [event]
        self._seen.add(event.kind)

    # -- AMP ---------------------------------------------------------------------------------------
    def _scaler_enabled(self) -> bool:
        return self.scaler is not None and bool(getattr(self.scaler, "is_enabled", lambda: False)())

    def _grad_scale(self) -> torch.Tensor | None:
        """The scale to divide by when the gradients are still scaled (record called before unscale_)."""
        if not self._scaler_enabled():
            return None
        states = getattr(self.scaler, "_per_optimizer_states", {})
        if any(getattr(s.get("stage"), "name", "") == "UNSCALED" for s in states.values()):
            return None
        scale = getattr(self.scaler, "_scale", None)
        return scale.to(self._device) if isinstance(scale, torch.Tensor) else None

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
            grads = [p.grad for p in self.params]
            done = False
            if self._fast:
                try:
                    torch._foreach_mul_(grads, coef.to(self._device))
                    done = True
                except TypeError:  # some gradients are None
                    pass
            if not done:
                for _, params in self._groups:
                    group = [p.grad for p in params if p.grad is not None]
                    if group:
                        torch._foreach_mul_(group, coef.to(group[0].device))
        self._mark_clipped(lambda host_total: math.isfinite(host_total) and host_total > max_norm,
                           lambda: (total > max_norm) & torch.isfinite(total))
        return total

    def clip_value_(self, clip_value: float) -> None:
        """Clip every gradient element to [-clip_value, clip_value] (`clip_grad_value_`), recording if it bit."""
        if not self.track_max_abs:
            # The first call: take this step's peak here (one sync); from now on record() takes it.
            with torch.no_grad():
                peaks = []
                for (_, params), kw in zip(self._groups, self._group_kw, strict=True):
                    grads = [p.grad for p in params if p.grad is not None and p.grad.numel()]
                    if grads:
                        peaks.append(_stacked_norms(grads, math.inf, kw).max().to(self._device, torch.float32))
                peak = float(torch.stack(peaks).max()) if peaks else 0.0  # one sync
            self.track_max_abs = True
            self._mark_clipped(lambda _: peak > clip_value,
                               lambda: torch.tensor(peak > clip_value, device=self._device))
        else:
            pending_peaks = self._pending.peaks
            self._mark_clipped(lambda _: self.trace.column("grad_max_abs")[-1] > clip_value,
                               lambda: (pending_peaks.max() > clip_value) if pending_peaks is not None
                               and pending_peaks.numel() else self._zero[0] > 0)
        torch.nn.utils.clip_grad_value_(self.params, clip_value)

    def _mark_clipped(self, host_rule: Any, device_rule: Any) -> None:
        """Set this step's `clipped` column: on the host when its row has landed, else as a device-side flag."""
        if self._pending.rows:  # statistics still on the device: the flag travels with them at flush()
            self._pending.flags[len(self._pending.rows) - 1] = device_rule()
            return
        if len(self.trace):
            self.trace.set_clipped(len(self.trace) - 1, bool(host_rule(self.trace.grad_norm[-1])))

    # -- results -----------------------------------------------------------------------------------
    def diagnose(self, **thresholds: Any) -> Diagnosis:
        """The findings on everything recorded so far (the same detectors the CLI runs), with any detector
        threshold changed by keyword (`grad_spike_ratio=5.0`; the names are `gradscope.Thresholds`' fields)."""
        from gradscope.diagnosis import diagnose_trace
        from gradscope.symptoms.thresholds import Thresholds

        limits = Thresholds.from_keywords(**thresholds)  # an unknown name: TypeError listing the valid ones
        self.flush()
        return diagnose_trace(self.trace, thresholds=limits)

    def save(self, path: str | Path) -> Path:
        """Write trace.csv, per-parameter norms, run.json, diagnosis.json and plots into `path`.

        trace.csv holds every step. The per-parameter CSVs hold the steps still in memory: all of them for a
        run shorter than `recent + history` steps, else the recent window and the downsampled history.
        """
        from dataclasses import replace

        from gradscope.report.artifacts import write_artifacts

        self.flush()
        run_dir = Path(path)
        diagnosis = replace(self.diagnose(), run_dir=str(run_dir))
        self.trace.write_csvs(run_dir)
        write_run_info(run_dir, self.trace.info)
        write_artifacts(run_dir, self.trace, diagnosis)
        return run_dir


@torch.no_grad()
def _exact_norms(tensors: list[torch.Tensor | None], bad: list[int], norms: np.ndarray,
                 divide: float = 1.0) -> tuple[list[int], np.ndarray]:
    """Recompute in float64 the norms at `bad` (one tensor each) whose float32 value overflowed although every
    element is finite; returns the indices still non-finite and the corrected norms."""
    norms = norms.copy()
    still_bad = []
    for i, t in zip(bad, tensors, strict=True):
        if t is not None and bool(torch.isfinite(t).all()):
            norms[i] = float(torch.linalg.vector_norm(t.double())) / divide
        else:
            still_bad.append(i)
    return still_bad, norms


def _group_by_device_and_dtype(params: list[torch.Tensor]) -> list[tuple[list[int], list[torch.Tensor]]]:
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[int], list[torch.Tensor]]] = {}
    for i, p in enumerate(params):
        idx, members = groups.setdefault((p.device, p.dtype), ([], []))
        idx.append(i)
        members.append(p)
    return list(groups.values())


# `_foreach_norm` returns one tensor object per input, and Python's cyclic GC collects whenever more than 700
# tracked objects (its generation-0 threshold) are alive at once: 800 norms (400 gradients + 400 weights) set
# off a collection each step, and once in a few hundred steps a full one (~80 ms with torch loaded). Norms are
# taken and stacked in chunks well under that, so the per-tensor objects die before they pile up.
_CHUNK = 256


def _stacked_norms(tensors: list[torch.Tensor], order: float, kw: dict[str, Any]) -> torch.Tensor:
    """`torch.stack(torch._foreach_norm(tensors, order))`, taken in chunks of `_CHUNK` (same values)."""
    if len(tensors) <= _CHUNK:
        return torch.stack(torch._foreach_norm(tensors, order, **kw))
    return torch.cat([torch.stack(torch._foreach_norm(tensors[i:i + _CHUNK], order, **kw))
                      for i in range(0, len(tensors), _CHUNK)])


def _norm_kw(dtype: torch.dtype) -> dict[str, Any]:
    """Norms of half-precision tensors are taken in float32 (float16 overflows at 65,504); others as they are."""
    return {"dtype": torch.float32} if dtype.is_floating_point and dtype.itemsize < 4 else {}


def _gather_index(order: list[int], n: int, device: torch.device) -> torch.Tensor | None:
    """Index that puts values listed in `order` (parameter indices) into parameter order; None if they are.

    Parameters absent from `order` point one past its end, where the caller puts a 0.
    """
    if order == list(range(n)):
        return None
    where = [len(order)] * n
    for position, i in enumerate(order):
        where[i] = position
    return torch.tensor(where, device=device, dtype=torch.long)


def _loss_tensor(loss: torch.Tensor | float, device: torch.device) -> torch.Tensor:
    """The loss as a 1-element float32 tensor on `device`, without a host sync."""
    if isinstance(loss, torch.Tensor):
        value = loss.detach()
        if value.numel() != 1:  # not a scalar: its first element (NaN when empty)
            value = value.reshape(-1)[:1] if value.numel() else torch.full((1,), math.nan, device=value.device)
        return value.reshape(1).to(device, torch.float32)
    return torch.tensor([float(loss)], device=device, dtype=torch.float32)
