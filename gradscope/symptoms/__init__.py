"""The detectors: each a pure function from a `Trace` to a list of `Symptom`s, thresholds named in its module."""

from gradscope.symptoms.base import Severity, Symptom, SymptomKind
from gradscope.symptoms.growth import detect_exploding_gradient, detect_weight_growth
from gradscope.symptoms.loss import detect_loss_divergence, detect_loss_plateau
from gradscope.symptoms.nonfinite import detect_nonfinite
from gradscope.symptoms.spikes import detect_gradient_spike, detect_loss_spike
from gradscope.symptoms.vanishing import detect_vanishing_gradient

__all__ = [
    "Severity", "Symptom", "SymptomKind", "detect_exploding_gradient", "detect_gradient_spike",
    "detect_loss_divergence", "detect_loss_plateau", "detect_loss_spike", "detect_nonfinite",
    "detect_vanishing_gradient", "detect_weight_growth",
]
