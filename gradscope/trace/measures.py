"""What a trace can hold besides the loss: the measures a detector needs and a log may lack.

A gradscope run folder holds all of them. A log of a run already done (a `trainer_state.json`, a TensorBoard
folder, a CSV) holds the loss and maybe the global gradient norm and the learning rate: a detector whose kind
needs a measure the log lacks is reported as unchecked, with the reason, never silently skipped.
"""

from __future__ import annotations

from enum import StrEnum


class Measure(StrEnum):
    """One measured series of a trace; its value names it in reasons ("needs <words>")."""

    GRAD_NORM = "grad_norm"
    PARAM_GRAD_NORMS = "param_grad_norms"
    WEIGHT_NORMS = "weight_norms"
    EXACT_NORM = "exact_norm"
    OP_REPLAY = "op_replay"

    @property
    def words(self) -> str:
        return _WORDS[self]


_WORDS = {
    Measure.GRAD_NORM: "the global gradient norm of each step",
    Measure.PARAM_GRAD_NORMS: "per-parameter gradient norms (to compare early and late layers)",
    Measure.WEIGHT_NORMS: "the weight norms",
    Measure.EXACT_NORM: "the exact (float64) gradient norm where float32's overflowed, to tell it from NaN/Inf "
                        "gradients",
    Measure.OP_REPLAY: "a replay of the steps under an op-level check (which module and op overflowed)",
}
