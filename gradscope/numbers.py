"""Numbers as people read them, in messages and reports: the one place that spells NaN and Inf; and float32's
limits, written once.

Machine encodings keep their own, fixed spellings: strict JSON writes null plus "nan"/"inf" (strict_json.py)
and trace.csv writes nan/inf for pandas (trace.py).
"""

from __future__ import annotations

import math
import numbers

# torch keeps gradients, optimizer state and the monitor's norms in float32: past these a value is inf there.
FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max
FLOAT32_NORM_MAX = math.sqrt(FLOAT32_MAX)  # ~1.8e19: an L2 norm whose sum of squares overflows float32 past it

NAMES = ("NaN", "Inf", "-Inf")  # what NaN, +Inf and -Inf read as by default
SIGNED = ("NaN", "+Inf", "-Inf")  # where the sign of an infinity is the point ("loss became +Inf")
WORD = ("non-finite",) * 3  # where a run that blew up scores +inf as a sentinel, not as a measurement


def number_text(value: object, spec: str = ".4g", *, nonfinite: tuple[str, str, str] = NAMES) -> str:
    """"-" for None, `nonfinite` for NaN/+Inf/-Inf, `format(value, spec)` for other reals; integers and
    anything else as `str(value)`."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or isinstance(value, numbers.Integral):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return nonfinite[0]
    if math.isinf(value):
        return nonfinite[1] if value > 0 else nonfinite[2]
    return format(value, spec)


def ratio_text(value: object, spec: str = ".2f") -> str:
    """A ratio or factor ("12.50x", "x1.27 per step"): `spec` while it reads well, 3 significant digits with an
    exponent from 1e4 on (`3.5e+32`, never `350199766594766427270970131611648.00`)."""
    if isinstance(value, numbers.Real) and math.isfinite(value) and abs(value) >= 1e4:
        return format(float(value), ".3g")
    return number_text(value, spec)
