"""NaN/Inf in the loss, the gradients or the weights: the step, and where in the model it appeared first.

The recorded events (from the monitor and the training loop's re-run of the bad step) carry the location;
the columns of the trace are the fallback for a trace read back without them.
"""

from __future__ import annotations

import numpy as np

from gradscope.diagnose.symptoms.base import NO_CONTEXT, Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.thresholds import DEFAULT, Thresholds
from gradscope.numbers import SIGNED, number_text
from gradscope.stats import first_nonfinite
from gradscope.trace.measures import Measure
from gradscope.trace.trace import Event, Trace

NONFINITE_LOSS = Kind(
    "nonfinite_loss", "The loss is NaN/Inf: every update from here on is garbage.",
    lambda ev: f"last finite loss {number_text(ev.get('last_finite_loss'))}")
NONFINITE_GRADIENT = Kind(
    "nonfinite_gradient", "Gradients hold NaN/Inf: one optimizer step will spread them into the weights.",
    lambda ev: (f"{ev.get('parameters_affected', '?')} parameter(s) affected" if "grad_norm" not in ev
                else f"grad norm {number_text(ev['grad_norm'])}"),
    needs=(Measure.GRAD_NORM,))
NONFINITE_WEIGHT = Kind(
    "nonfinite_weight", "Weights hold NaN/Inf: the model is destroyed and training cannot recover.",
    lambda ev: "", needs=(Measure.WEIGHT_NORMS,))  # the parameter (the table's "where") is the evidence

_ADVICE = {
    "forward": "a layer's output overflowed: find what fed it (weights grown by large updates, unscaled inputs); "
               "clip the gradient norm (gradscope recommend) or lower the learning rate",
    "loss": "the model's output was finite but the loss was not: outputs so large their loss overflows "
            "(bound the updates: gradscope recommend), or log(0), division by zero, targets out of range",
    "backward": "the backward pass overflowed: clip the gradient norm (gradscope recommend), lower the learning "
                "rate, or look for sqrt/log/division near zero in that layer",
    "step": "an optimizer step produced non-finite weights from the gradients: clip the gradient norm "
            "(gradscope recommend) or lower the learning rate",
    "data": "the input batch itself holds NaN/Inf: clean or impute the data",
}


def detect_nonfinite(trace: Trace, thresholds: Thresholds = DEFAULT, context: Context = NO_CONTEXT) -> list[Symptom]:
    """One critical symptom per kind (loss, gradient, weight) at the first step it went non-finite."""
    events = {e.kind: e for e in trace.info.events}
    found: list[Symptom] = []
    loss_row = first_nonfinite(trace.loss)
    if loss_row is not None:
        event = events.get("nonfinite_loss") or Event("nonfinite_loss", int(trace.steps[loss_row]), stage="forward")
        value = number_text(trace.loss[loss_row], nonfinite=SIGNED)
        where = _where(event)
        found.append(Symptom(
            NONFINITE_LOSS, Severity.CRITICAL, event.step,
            f"loss became {value} at step {event.step}{where}{_op_text(event)}",
            parameter=event.parameter, module=event.module,
            evidence={"value": float(trace.loss[loss_row]), "stage": event.stage, "detail": event.detail,
                      "last_finite_loss": _last_finite(trace.loss, loss_row), **_op_evidence(event)},
            advice=_ADVICE.get(event.stage or "forward", _ADVICE["forward"])))

    grad_event = events.get("nonfinite_gradient")
    bad_rows = np.flatnonzero(trace.column("nonfinite_grads") > 0)
    if grad_event is None and len(bad_rows):
        step = int(trace.steps[bad_rows[0]])
        grad_event = Event("nonfinite_gradient", step, parameter=_first_bad_param(trace, step), stage="backward")
    if grad_event is not None:
        row = trace.index_of(grad_event.step)
        count = int(trace.column("nonfinite_grads")[row]) if row is not None else 0
        if grad_event.stage in ("forward", "loss", "data"):
            cause = {"forward": f"the non-finite forward output of module {grad_event.module}",
                     "loss": "the non-finite loss", "data": "NaN/Inf in the input batch"}[grad_event.stage]
            message = (f"gradients became NaN/Inf at step {grad_event.step}, following {cause} "
                       f"({count} parameter{'s' if count != 1 else ''} affected)")
        elif not trace.info.param_names:  # a log: its global gradient norm, no parameter to name
            value = number_text(trace.grad_norm[row] if row is not None else float("nan"), nonfinite=SIGNED)
            message = (f"the gradient norm became {value} at step {grad_event.step} and the run did not recover "
                       "(not a GradScaler skip)")
        else:
            where = f" in {grad_event.parameter}" if grad_event.parameter else ""
            message = (f"gradient became NaN/Inf at step {grad_event.step}{where}, first in backward order "
                       f"({count} parameter{'s' if count != 1 else ''} affected)")
        logged = {"grad_norm": float(trace.grad_norm[row])} if not trace.info.param_names and row is not None else {}
        found.append(Symptom(
            NONFINITE_GRADIENT, Severity.CRITICAL, grad_event.step, message + _op_text(grad_event),
            parameter=grad_event.parameter, module=grad_event.module,
            evidence={"parameters_affected": count, "others": list(grad_event.others), **_op_evidence(grad_event),
                      **logged,
                      "stage": grad_event.stage,
                      "last_finite_grad_norm": _last_finite(trace.grad_norm, trace.rows_before(grad_event.step))},
            advice=_ADVICE.get(grad_event.stage or "backward", _ADVICE["backward"])))

    weight_event = events.get("nonfinite_weight")
    if weight_event is None:
        bad_row = first_nonfinite(trace.weight_norm)
        if bad_row is not None:  # weights recorded at a step are the ones the step before produced
            weight_event = Event("nonfinite_weight", max(int(trace.steps[bad_row]) - 1, 0), stage="step")
    if weight_event is not None:
        where = f" in {weight_event.parameter}" if weight_event.parameter else ""
        found.append(Symptom(
            NONFINITE_WEIGHT, Severity.CRITICAL, weight_event.step,
            f"weights became NaN/Inf in the update at step {weight_event.step}{where}",  # a step or by hand
            parameter=weight_event.parameter,
            evidence={"others": list(weight_event.others), "stage": "step"},
            advice=_ADVICE["step"]))
    return found


def _where(event: Event) -> str:
    if event.stage == "data":
        return ": the input batch holds NaN/Inf"
    if event.module is not None:
        return f": first non-finite output in module {event.module}" + (f" ({event.detail})" if event.detail else "")
    if event.stage == "loss":
        return ": the model output was finite, the loss function produced it"
    return ""


def _op_evidence(event: Event) -> dict:
    return {"op": event.op} if event.op else {}


def _op_text(event: Event) -> str:
    """The op that made the first inf/NaN (the replay's op-level check), when it is known."""
    op = event.op
    if not op:
        return ""
    module = op.get("module")
    name = (module or op.get("module_type")) if module is not None else None
    where = "" if name == event.module else (f" in {name}" if name is not None else " outside the model")
    inputs = f", from inputs up to {number_text(op.get('input_max'), '.2g')}" if op.get("input_max") else ""
    return f"; made by {op.get('op')}{where} ({op.get('phase')}, {op.get('dtype')}{inputs})"


def _last_finite(values: np.ndarray, before_row: int) -> float | None:
    finite = values[:before_row][np.isfinite(values[:before_row])]
    return float(finite[-1]) if len(finite) else None


def _first_bad_param(trace: Trace, step: int) -> str | None:
    norms = trace.grad_norms.row_at(step)
    bad = np.flatnonzero(~np.isfinite(norms)) if norms is not None else []
    return trace.info.param_names[int(bad[-1])] if len(bad) else None


NONFINITE = Detector((NONFINITE_LOSS, NONFINITE_GRADIENT, NONFINITE_WEIGHT), detect_nonfinite)
