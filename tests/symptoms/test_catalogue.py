"""The catalogue is the one list of detectors: every kind comes from a detector in it, is explained, renders
an evidence line, is documented in the README, and reads back from diagnosis.json; no other kind does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradscope.diagnose.symptoms import CATALOGUE, Kind, Severity, Symptom, SymptomKind
from gradscope.diagnose.symptoms.catalogue import GAME_KINDS, KindIndex, symptom_from_dict

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_kinds_are_the_ones_the_catalogues_detectors_declare():
    declared = [kind for detector in CATALOGUE for kind in detector.kinds] + list(GAME_KINDS)
    assert list(SymptomKind) == declared
    assert len({k.value for k in declared}) == len(declared)
    for kind in declared:
        assert SymptomKind(kind.value) is kind
        assert getattr(SymptomKind, kind.value.upper()) is kind


@pytest.mark.parametrize("kind", list(SymptomKind), ids=lambda k: k.value)
def test_every_kind_explains_itself(kind):
    assert re.fullmatch(r"[A-Z].{20,}\.", kind.explanation)


def test_every_kind_is_documented_in_the_readme_table():
    section = README.read_text().split("## What gradscope detects", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert documented == [k.value for k in SymptomKind]


def test_a_kind_no_detector_declares_does_not_read_back():
    entry = {"kind": "made_up_kind", "severity": "warning", "step": 3, "message": "m"}
    with pytest.raises(ValueError, match="'made_up_kind' is not a symptom kind of this gradscope"):
        symptom_from_dict(entry)
    with pytest.raises(AttributeError):
        _ = SymptomKind.MADE_UP_KIND


def test_symptoms_read_back_as_their_detectors_kind():
    symptom = Symptom(SymptomKind.LOSS_PLATEAU, Severity.WARNING, 0, "flat",
                      evidence={"start_loss": 0.69, "late_loss": 0.69, "improvement": 0.0})
    back = symptom_from_dict(symptom.to_dict())
    assert back == symptom and back.kind is SymptomKind.LOSS_PLATEAU
    assert back.evidence_line == "start 0.69, end 0.69 (+0.0%)"


def test_two_detectors_cannot_declare_one_kind():
    twin = Kind("loss_spike", "Another loss spike.", lambda ev: "")
    with pytest.raises(ValueError, match="two detectors declare the kind 'loss_spike'"):
        KindIndex([*SymptomKind, twin])
