"""`Monitor`: gradient and weight statistics after each backward(), cheap enough to leave on.

Per step it takes per-parameter gradient L2 norms, the global norm derived from them (exactly as
`clip_grad_norm_` does: fused `torch._foreach_norm` per device and dtype, then the norm of the stacked norms),
weight norms and non-finite flags, and moves them to the host in ONE copy. Never one `.item()` per parameter:
each is a host sync. On accelerators `sync_every=N` keeps N steps of statistics on the device and copies them
at once; findings then come up to N steps late.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gradscope.trace import Event, RunInfo, Trace, write_run_info

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
    meta: list[dict[str, Any]] = field(default_factory=list)


class Monitor:
    """Records gradient and weight statistics of `model` after each `backward()`.

    Args:
        model: the module being trained; names come from `named_parameters()`.
        scaler: a `torch.amp.GradScaler`, if AMP is used. Call `record` after `scaler.unscale_(optimizer)`
            (as before clipping); if you don't, the norms are divided by the scale for you. Steps the scaler
            skips for inf/NaN are counted as `amp_skipped`, not as non-finite gradients, unless they persist.
        weight_every: take weight norms every N steps (1 = every step). They cost as much as the gradient
            norms, and weights move slowly, so the default halves record()'s cost; between measurements the
            last value is carried forward. A NaN weight still shows at once, as a NaN loss and gradients.
        sync_every: copy statistics to the host every N steps (accelerators). 1 = every step.
        track_max_abs: also take each gradient's largest |element| (needed to judge value clipping).
        recent, history: rows of per-parameter norms kept at full and at decimated resolution.
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
        self._device = self.params[0].device
        self._groups = _group_by_device_and_dtype(self.params)
        self._step = 0
        self._t0: float | None = None
        self._last_weights = np.zeros(len(self.params))
        self._last_weight_norm = math.nan
        self._total: torch.Tensor | None = None  # this step's global grad norm, on the device, for clip_norm_
        self._host_total: float | None = None
        self._amp_streak = 0
        self._pending = _Pending()
        self._seen: set[str] = set()  # event kinds already recorded: only the first of each is kept
        self.last: StepStats | None = None

    # -- recording -------------------------------------------------------------------------------
    @torch.no_grad()
    def record(self, loss: torch.Tensor | float, *, lr: float | None = None) -> StepStats | None:
        """Record this step's statistics; returns them when they reach the host this step (else None)."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        take_weights = self._step % self.weight_every == 0
        n = len(self.params)
        dev = self._device
        grad_norms = torch.zeros(n, device=dev, dtype=torch.float32)
        max_abs = torch.zeros(n, device=dev, dtype=torch.float32) if self.track_max_abs else None
        parts = []
        for indices, params in self._groups:
            with_grad = [(i, p.grad) for i, p in zip(indices, params, strict=True) if p.grad is not None]
            if not with_grad:
                continue
            idx = [i for i, _ in with_grad]
            grads = [g for _, g in with_grad]
            norms = torch._foreach_norm(grads, 2.0)
            parts.extend(norms)
            stacked = torch.stack([x.to(dev, torch.float32) for x in norms])
            if len(idx) == n:
                grad_norms = stacked
            else:
                grad_norms[torch.tensor(idx, device=dev)] = stacked
            if max_abs is not None:
                peaks = torch.stack([x.to(dev, torch.float32) for x in torch._foreach_norm(grads, math.inf)])
                max_abs[torch.tensor(idx, device=dev)] = peaks
        # The global norm as clip_grad_norm_ computes it: the L2 norm of the per-tensor norms.
        total = (torch.linalg.vector_norm(torch.stack([x.to(dev) for x in parts]), 2.0) if parts
                 else torch.zeros((), device=dev))
        scale = self._grad_scale()
        if scale is not None:
            total = total / scale
            grad_norms = grad_norms / scale
            if max_abs is not None:
                max_abs = max_abs / scale
        self._total = total
        self._host_total = None
        pieces = [_as_tensor(loss, dev), total.reshape(1).to(torch.float32), grad_norms]
        if take_weights:
            pieces.append(torch.stack([x.to(dev, torch.float32) for x in _weight_norms(self._groups)]))
        if max_abs is not None:
            pieces.append(max_abs)
        row = torch.cat([p.reshape(-1).to(torch.float32) for p in pieces])
        meta = {"step": self._step, "take_weights": take_weights, "lr": lr,
                "seconds": time.perf_counter() - self._t0}
        self._step += 1
        if self.sync_every == 1:
            return self._land(row.cpu().numpy().astype(np.float64), meta)
        self._pending.rows.append(row)
        self._pending.meta.append(meta)
        if len(self._pending.rows) >= self.sync_every:
            self.flush()
        return None

    def flush(self) -> list[StepStats]:
        """Copy pending device-side statistics to the host in one transfer; returns their steps' stats."""
        if not self._pending.rows:
            return []
        rows, metas = self._pending.rows, self._pending.meta
        self._pending = _Pending()
        false = torch.zeros((), device=self._device, dtype=torch.bool)
        flags = torch.stack([m.pop("clipped_flag", false).reshape(()) for m in metas]).to(torch.float32)
        # Rows differ in width (weight norms are taken on some steps only): one flat copy, split on the host.
        flat = torch.cat([*rows, flags]).cpu().numpy().astype(np.float64)
        stats, start = [], 0
        for row, meta in zip(rows, metas, strict=True):
            stats.append(self._land(flat[start:start + row.numel()], meta))
            start += row.numel()
            self.trace.set_clipped(len(self.trace) - 1, bool(flat[-len(rows) + len(stats) - 1]))
        return stats

    def _land(self, host: np.ndarray, meta: dict[str, Any]) -> StepStats:
        """Turn one host row into trace columns, flags and events."""
        n = len(self.params)
        loss, total = float(host[0]), float(host[1])
        grads = host[2:2 + n]
        offset = 2 + n
        if meta["take_weights"]:
            weights = host[offset:offset + n]
            offset += n
            self._last_weights = weights
            self._last_weight_norm = float(np.sqrt(np.sum(np.square(weights))))
        weights = self._last_weights
        max_abs = host[offset:offset + n] if self.track_max_abs else None
        step = meta["step"]

        bad_grads = [i for i in np.flatnonzero(~np.isfinite(grads))]
        if bad_grads and self.sync_every == 1:
            # A norm can overflow float32 while every element is finite (|g| > ~1e19): recheck those exactly.
            bad_grads, grads, total = self._recheck_overflow(bad_grads, grads, total)
        bad_weights = [i for i in np.flatnonzero(~np.isfinite(weights))] if meta["take_weights"] else []
        amp_skipped = False
        if bad_grads and self._scaler_enabled() and math.isfinite(loss):
            self._amp_streak += 1
            amp_skipped = self._amp_streak < AMP_PERSISTENT_SKIPS
        else:
            self._amp_streak = 0
        stats = StepStats(
            step=step, loss=loss, grad_norm=total, weight_norm=self._last_weight_norm,
            grad_max_abs=float(np.max(max_abs)) if max_abs is not None and len(max_abs) else math.nan,
            nonfinite_grads=tuple(self.names[i] for i in bad_grads) if not amp_skipped else (),
            nonfinite_weights=tuple(self.names[i] for i in bad_weights), amp_skipped=amp_skipped,
        )
        row = {"step": step, "loss": loss, "grad_norm": total, "grad_max_abs": stats.grad_max_abs,
               "weight_norm": self._last_weight_norm, "nonfinite_grads": len(bad_grads),
               "amp_skipped": int(amp_skipped), "lr": math.nan if meta["lr"] is None else meta["lr"],
               "seconds": meta["seconds"]}
        self.trace.append(row, grads, weights)
        self._note_events(stats, bad_grads, bad_weights)
        self._host_total = total
        self.last = stats
        return stats

    def _recheck_overflow(self, bad: list[int], grads: np.ndarray, total: float) -> tuple[list[int], Any, float]:
        still_bad = []
        grads = grads.copy()
        for i in bad:
            g = self.params[i].grad
            if g is not None and bool(torch.isfinite(g).all()):
                grads[i] = float(torch.linalg.vector_norm(g.double()))  # exact in float64
            else:
                still_bad.append(i)
        if len(still_bad) < len(bad) and not still_bad:
            total = float(np.sqrt(np.sum(np.square(grads))))
            if self._total is not None:
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
            self._add_event(Event("nonfinite_gradient", stats.step, parameter=names[-1], stage="backward",
                                  others=tuple(names[:-1][:20])))
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
    @torch.no_grad()
    def clip_norm_(self, max_norm: float) -> torch.Tensor:
        """Clip the global gradient norm to `max_norm`, reusing the norm `record` computed (no second pass).

        Same arithmetic as `clip_grad_norm_` (coefficient max_norm / (norm + 1e-6), at most 1), except that a
        non-finite global norm leaves the gradients as they are: plain `clip_grad_norm_` would multiply every
        gradient by NaN and hide where the NaN came from. That step is reported by `record`.
        Returns the global norm before clipping (a tensor on the device), as `clip_grad_norm_` does.
        """
        if self._total is None:
            raise RuntimeError("call monitor.record(loss) after backward() and before clip_norm_()")
        total = self._total
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        coef = torch.where(torch.isfinite(total), coef, torch.ones_like(coef))
        for _, params in self._groups:
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                torch._foreach_mul_(grads, coef.to(grads[0].device, grads[0].dtype))
        self._mark_clipped(lambda host_total: math.isfinite(host_total) and host_total > max_norm,
                           (total > max_norm) & torch.isfinite(total))
        return total

    @torch.no_grad()
    def clip_value_(self, clip_value: float) -> None:
        """Clip every gradient element to [-clip_value, clip_value] (`clip_grad_value_`), recording if it bit."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not self.track_max_abs:
            peak = max((float(g.abs().max()) for g in grads if g.numel()), default=0.0)
            self.track_max_abs = True  # from now on the peak comes with record's single copy
            clipped_now = peak > clip_value
            self._mark_clipped(lambda _: clipped_now, None)
        else:
            self._mark_clipped(lambda _: self.trace.column("grad_max_abs")[-1] > clip_value, None)
        torch.nn.utils.clip_grad_value_(self.params, clip_value)

    def _mark_clipped(self, host_rule: Any, device_flag: torch.Tensor | None) -> None:
        if self._pending.rows:  # statistics still on the device: append the flag to that row
            flag = device_flag if device_flag is not None else torch.tensor(False, device=self._device)
            self._pending.meta[-1]["clipped_flag"] = flag
            return
        if len(self.trace):
            self.trace.set_clipped(len(self.trace) - 1, bool(host_rule(self.trace.grad_norm[-1])))

    # -- results -----------------------------------------------------------------------------------
    def diagnose(self, **thresholds: Any) -> Diagnosis:
        """The findings on everything recorded so far (the same detectors the CLI runs)."""
        from gradscope.diagnosis import diagnose_trace

        self.flush()
        return diagnose_trace(self.trace, **thresholds)

    def save(self, path: str | Path) -> Path:
        """Write trace.csv, per-parameter norms, run.json, diagnosis.json and plots into `path`."""
        from gradscope.report.artifacts import write_artifacts

        self.flush()
        run_dir = Path(path)
        diagnosis = self.diagnose()
        self.trace.stream_to(run_dir)
        self.trace.close()
        write_run_info(run_dir, self.trace.info)
        write_artifacts(run_dir, self.trace, diagnosis)
        return run_dir


def _group_by_device_and_dtype(params: list[torch.Tensor]) -> list[tuple[list[int], list[torch.Tensor]]]:
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[int], list[torch.Tensor]]] = {}
    for i, p in enumerate(params):
        idx, members = groups.setdefault((p.device, p.dtype), ([], []))
        idx.append(i)
        members.append(p)
    return list(groups.values())


def _weight_norms(groups: list[tuple[list[int], list[torch.Tensor]]]) -> list[torch.Tensor]:
    """Per-parameter weight norms in parameter order (groups are re-interleaved by index)."""
    out: list[torch.Tensor | None] = [None] * sum(len(i) for i, _ in groups)
    for indices, params in groups:
        for i, norm in zip(indices, torch._foreach_norm([p.detach() for p in params], 2.0), strict=True):
            out[i] = norm
    return out  # type: ignore[return-value]


def _as_tensor(loss: torch.Tensor | float, device: torch.device) -> torch.Tensor:
    if isinstance(loss, torch.Tensor):
        return loss.detach().reshape(-1)[:1].to(device, torch.float32)
    return torch.tensor([float(loss)], device=device, dtype=torch.float32)
