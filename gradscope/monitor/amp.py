"""What `Monitor` reads from an AMP `GradScaler`: whether it is on, its scale, and the steps it skips.

A GradScaler skips a step when scaled gradients overflow and halves its scale; a few skips while the scale settles
are normal, and those steps' inf gradients are the scaler's business, not a finding. Only a long run of skips in a
row means the gradients are not finite whatever the scale. The scaler's private state (`_scale`,
`_per_optimizer_states`) is read here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import torch

# Twenty skips in a row means the scale fell 2**20-fold and gradients are still not finite: that is a real
# non-finite gradient, not AMP settling.
AMP_PERSISTENT_SKIPS = 20


class AmpWatch:
    """Follows one GradScaler (or None) across steps: the scale to divide by and the streak of skipped steps."""

    def __init__(self, scaler: Any = None) -> None:
        self.scaler = scaler
        self.streak = 0  # steps in a row with non-finite gradients while the scaler is on

    def enabled(self) -> bool:
        return self.scaler is not None and bool(getattr(self.scaler, "is_enabled", lambda: False)())

    def scale_to_divide(self, device: torch.device) -> torch.Tensor | None:
        """The scale to divide by when the gradients are still scaled (record called before unscale_), on
        `device`; None when there is no scaler or every optimizer's gradients were unscaled already."""
        if not self.enabled():
            return None
        states = getattr(self.scaler, "_per_optimizer_states", {})
        if any(getattr(s.get("stage"), "name", "") == "UNSCALED" for s in states.values()):
            return None
        scale = getattr(self.scaler, "_scale", None)
        return scale.to(device) if isinstance(scale, torch.Tensor) else None

    def skipped(self, nonfinite_grads: bool, loss_finite: bool) -> tuple[bool, bool]:
        """Count this step: (the scaler skips it, it is the scaler's business). The scaler skips every step whose
        gradients are not finite, as a plain loop with a GradScaler counts them; the gradients are not reported
        as a finding while the loss is finite and the streak is shorter than AMP_PERSISTENT_SKIPS."""
        if not (nonfinite_grads and self.enabled()):
            self.streak = 0
            return False, False
        self.streak += 1
        return True, loss_finite and self.streak < AMP_PERSISTENT_SKIPS

    def persistent_detail(self, step: int) -> str:
        """The event detail when the skips at `step` have become a real non-finite gradient ("" otherwise)."""
        if self.streak < AMP_PERSISTENT_SKIPS:
            return ""
        return (f"gradients not finite for {self.streak} consecutive steps (from step {step - self.streak + 1}) "
                "although the GradScaler kept lowering its scale")
