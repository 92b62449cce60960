"""An fp16/bf16 overflow inside the forward that the loss and the gradients hide.

Under fp16 a value past 65,504 is inf; when a saturating op follows (tanh, sigmoid, a clamp, the rsqrt of a
hand-written RMSNorm whose x.pow(2) overflowed) the inf becomes a finite 1 or 0: the loss and every gradient stay
finite, the GradScaler skips nothing, and the units behind it have stopped learning. The training loop replays
the last step under an op-level check (gradscope/record/op_overflow.py) and records the first op of the forward that
made inf/NaN from finite inputs; this detector reports it. The GradScaler's first skips while its scale settles
are overflows of the scaled backward at the start of the run: the check is of the forward, at the end, with the
scale then in force, so they never count.
"""

from __future__ import annotations

from typing import Any

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom, op_module_text
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import number_text
from gradscope.stats import edge_levels, finite_prefix
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Trace

ACTIVATION_OVERFLOW = Kind(
    "activation_overflow",
    "Values inside a layer overflowed the autocast dtype (float16: past 65,504) while the loss and gradients "
    "stayed finite: an op after it hid the inf, and the units behind it no longer learn.",
    lambda ev: f"{ev.get('op')} in the {ev.get('phase', 'forward')}: {ev.get('nonfinite', 0):,} of "
               f"{ev.get('numel', 0):,} {ev.get('dtype')} values, inputs up to "
               f"{number_text(ev.get('input_max'), '.2g')}",
    clipping_may_help=False, needs=(Measure.OP_REPLAY,))


def detect_activation_overflow(trace: Trace, thresholds: Thresholds = DEFAULT,
                               context: Context = NO_CONTEXT) -> list[Symptom]:
    """From the run's `activation_overflow` event: critical when the run stalled with it (its loss ends less
    than `overflow_stall_improvement` below its start), else a warning."""
    event = next((e for e in trace.info.events if e.kind == "activation_overflow" and e.op), None)
    if event is None:
        return []
    op: dict[str, Any] = event.op or {}
    levels = edge_levels(finite_prefix(trace.loss), thresholds.edge_fraction, thresholds.start_steps)
    start, late = levels.start, levels.late  # as the loss-trend detectors take them
    improvement = (start - late) / abs(start) if start else 0.0
    stalled = improvement < thresholds.overflow_stall_improvement
    where = op_module_text(op.get("module"), op.get("module_type")) or "the loss"
    count = int(op.get("inf") or 0) + int(op.get("nan") or 0)
    trained = (f"the run stalled with it: loss {number_text(start)} -> {number_text(late)} ({-improvement:+.0%})"
               if stalled else "the loss and gradients stay finite and the GradScaler skips nothing")
    return [Symptom(
        ACTIVATION_OVERFLOW, Severity.CRITICAL if stalled else Severity.WARNING, event.step,
        f"{op.get('dtype')} overflow hidden in {where} at step {event.step}: {op.get('op')} produced "
        f"{count:,} non-finite of {int(op.get('numel') or 0):,} values (its inputs reached "
        f"{number_text(op.get('input_max'), '.2g')}); {trained}",
        module=op.get("module"),
        evidence={**op, "nonfinite": count, "start_loss": start, "late_loss": late, "improvement": improvement,
                  "stalled": stalled, "stall_improvement": thresholds.overflow_stall_improvement},
        advice=_advice(op))]


def _advice(op: dict[str, Any]) -> str:
    module = op.get("module")
    keep = (f"keep module {module or op.get('module_type')} in float32 (run it under torch.autocast(device_type, "
            "enabled=False) on a .float() input)" if module is not None
            else "compute the loss in float32 (cast the model output with .float())")
    norm = ("; a hand-written norm must square in float32 (x.float().pow(2).mean(...)), as Llama's RMSNorm does"
            if "norm" in str(op.get("module_type", "")).lower() or op.get("op") == "aten.pow" else "")
    return (f"train in bf16 instead (precision = \"bf16\": float32's range, no GradScaler), or {keep}; "
            f"normalise the inputs or lower the init scale so values stay far below 65,504{norm}")


ACTIVATION_OVERFLOW_DETECTOR = Detector((ACTIVATION_OVERFLOW,), detect_activation_overflow)
