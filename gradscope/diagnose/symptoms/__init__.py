"""The detectors: a catalogue (catalogue.py) of pure functions from a `Trace` and the shared `Thresholds` to
`Symptom`s; each detector's module declares its kinds. Import a detector from its own module."""

from gradscope.diagnose.symptoms.base import Context, Detector, Kind, Severity, Symptom
from gradscope.diagnose.symptoms.catalogue import CATALOGUE, SymptomKind, run_catalogue
from gradscope.diagnose.symptoms.thresholds import Thresholds

__all__ = ["CATALOGUE", "Context", "Detector", "Kind", "Severity", "Symptom", "SymptomKind", "Thresholds",
           "run_catalogue"]
