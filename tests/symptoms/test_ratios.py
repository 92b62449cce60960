"""Numbers in messages: a ratio of a run that blew up reads `3.5e+32x`, never in full."""

from __future__ import annotations

import re

import numpy as np
from conftest import REPO
from symptom_traces import make_trace

from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.numbers import ratio_text


def test_ratio_text_keeps_small_ratios_and_writes_large_ones_with_an_exponent():
    assert ratio_text(12.5) == "12.50" and ratio_text(1.27) == "1.27" and ratio_text(12.5, ".1f") == "12.5"
    assert ratio_text(3.50199766594766427e32) == "3.5e+32" and ratio_text(12345.0) == "1.23e+04"
    assert ratio_text(float("inf")) == "Inf" and ratio_text(None) == "-"


def test_a_start_that_blows_up_reads_its_ratios_with_an_exponent():
    """The Lightning example's start: the loss jumps 3.5e32-fold at step 2 and stays there."""
    rng = np.random.default_rng(0)
    loss = 27.4 * np.concatenate([[1, 1.1], 3.5e32 * np.exp(0.1 * rng.standard_normal(38))])
    norms = 170 * np.concatenate([[1, 1.2], 1.2e25 * np.exp(0.1 * rng.standard_normal(38))])
    symptoms = diagnose_trace(make_trace(loss, norms)).symptoms
    assert "early_instability" in [s.kind.value for s in symptoms]
    text = " ".join(f"{s.message} {s.evidence_line}" for s in symptoms)
    assert not re.search(r"\d{7,}", text), text  # no number printed in full
    assert "e+" in text, text


def test_no_fixed_point_ratio_formats_are_left():
    """`{ratio:.2f}x` prints 350199766594766427270970131611648.00x: ratios go through numbers.ratio_text."""
    sources = "\n".join(p.read_text() for p in (REPO / "gradscope").rglob("*.py"))
    assert not re.findall(r"\{[^{}]*:\.\d+f\}x|x\{[^{}]*:\.\d+f\}", sources)
