"""Golden files for every renderer: diagnose, recommend and compare reports of hand-built results (no training),
rendered by rich at a fixed width without colour and compared with tests/golden/<name>.txt.
After a deliberate change to a report: `pytest tests/test_golden.py --update-golden`, then review the diff."""

from __future__ import annotations

import io
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from gradscope.clip.setting import Clip
from gradscope.diagnose.diagnosis import Diagnosis, Summary
from gradscope.diagnose.symptoms import Symptom, SymptomKind
from gradscope.levels import Severity
from gradscope.report.compare_console import print_comparison
from gradscope.report.console import print_diagnosis
from gradscope.report.recommend_console import print_recommendation
from gradscope.report.snippets import fix_snippets, snippets
from gradscope.trace.trace import RunInfo, Trace
from gradscope.trials.compare import ComparedRun, Comparison
from gradscope.trials.recommend import (
    Evidence,
    Fix,
    GradientStatistics,
    Percentiles,
    Recommendation,
    TrialResult,
)

WIDTH = 110


def render(print_report, result, width: int = WIDTH, **options) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False, highlight=False,
                      emoji=False, legacy_windows=False)
    print_report(result, console, **options)
    return out.getvalue()


def summary(**changes) -> Summary:
    base = {"final_loss": 0.0213, "best_loss": 0.0198, "initial_loss": 1.284, "max_grad_norm": 3.91,
            "median_grad_norm": 0.412, "first_nonfinite_step": None, "clipped_fraction": 0.0,
            "amp_skipped_steps": 0, "clip": None, "steps_requested": 200, "stopped": "completed", "seconds": 1.5}
    return Summary(**(base | changes))


def symptom(kind, severity, step, message, evidence, **where) -> Symptom:
    return Symptom(kind, severity, step, message, evidence=evidence, advice=f"advice for {kind.value}", **where)


K = SymptomKind
CRITICAL_SYMPTOMS = [
    symptom(K.NONFINITE_LOSS, Severity.CRITICAL, 55, "loss became +Inf at step 55: first non-finite output in "
            "module rnn (RNN: 12 NaN, 3 Inf of 4096 values)", {"value": math.inf, "last_finite_loss": 3.5e37},
            module="rnn"),
    symptom(K.NONFINITE_GRADIENT, Severity.CRITICAL, 55, "gradient became NaN/Inf at step 55 in rnn.weight_hh_l0",
            {"parameters_affected": 4}, parameter="rnn.weight_hh_l0", module="rnn"),
    symptom(K.NONFINITE_WEIGHT, Severity.CRITICAL, 55, "weights became NaN/Inf in the update at step 55",
            {}, parameter="head.bias"),
    symptom(K.EXPLODING_GRADIENT, Severity.CRITICAL, 19, "gradient norm grows exponentially: x1.58 per step",
            {"growth_per_step": 1.58, "doubling_steps": 1.51, "r2": 0.997, "grad_norm_at_onset": 2.2,
             "grad_norm_at_end": math.inf, "onset_step": 12, "last_growth_step": 54}, parameter="rnn.weight_hh_l0"),
    symptom(K.WEIGHT_GROWTH, Severity.CRITICAL, 30, "weight norm grows exponentially",
            {"baseline_weight_norm": 12.5, "max_weight_norm": 4.2e19}),
    symptom(K.GRADIENT_SPIKE, Severity.WARNING, 8, "gradient norm spiked 14.2x above its recent median at step 8",
            {"count": 3, "ratio": 14.2}, parameter="head.weight"),
    symptom(K.LOSS_SPIKE, Severity.WARNING, 9, "loss spiked 4.1x above its recent median at step 9",
            {"count": 1, "ratio": 4.1}),
    symptom(K.LOSS_DIVERGENCE, Severity.WARNING, 40, "loss diverges: it ends at nan",
            {"start_loss": 2.3, "lowest_level": 0.12, "late_loss": math.nan}),
    symptom(K.LOSS_PLATEAU, Severity.WARNING, 0, "loss does not train",
            {"start_loss": 0.693, "late_loss": 0.6925, "improvement": 0.0007}),
    symptom(K.VANISHING_GRADIENT, Severity.WARNING, 0, "gradients vanish with depth",
            {"early_to_late_ratio": 2.1e-5}, parameter="0.weight"),
]


DIAGNOSES = {
    "healthy": Diagnosis("healthy", 200, [], summary(), run_dir="gradscope-runs/healthy", label="mlp"),
    "critical_many_symptoms": Diagnosis(
        "critical", 56, CRITICAL_SYMPTOMS,
        summary(final_loss=math.nan, best_loss=0.91, max_grad_norm=math.inf, median_grad_norm=4.4,
                first_nonfinite_step=55, stopped="nonfinite_weights", clip={"mode": "norm", "threshold": 1.0},
                clipped_fraction=0.25),
        run_dir="gradscope-runs/exploding_rnn", label="exploding_rnn"),
    "interrupted": Diagnosis(
        "warning", 37,
        [symptom(K.VANISHING_GRADIENT, Severity.WARNING, 20, "gradient norm collapsed from 0.5 to 1e-06",
                 {"early_grad_norm": 0.5, "late_grad_norm": 1e-06})],
        summary(stopped="interrupted", steps_requested=100, amp_skipped_steps=3), run_dir="runs/partial"),
    "user_code_error": Diagnosis("healthy", 0, [], summary(final_loss=math.nan, best_loss=math.nan,
                                                           initial_loss=math.nan, max_grad_norm=math.nan,
                                                           median_grad_norm=math.nan, stopped="error")),
}


@pytest.mark.parametrize("name", sorted(DIAGNOSES))
def test_diagnose_report(name, golden):
    golden(f"diagnose_{name}", render(print_diagnosis, DIAGNOSES[name], command_hint="gradscope recommend cfg.toml"))


def test_the_report_asks_each_symptoms_detector_for_explanation_and_evidence_line():
    """Every kind of the critical report (all ten of today's) prints its detector's explanation and evidence
    line; only nonfinite_weight leaves the evidence cell empty (its parameter, under "where", is the evidence)."""
    text = render(print_diagnosis, DIAGNOSES["critical_many_symptoms"], width=300)  # no cell wraps
    text = "".join(line.rstrip() + "\n" for line in text.splitlines())
    for s in CRITICAL_SYMPTOMS:
        assert s.kind.explanation in text
        assert bool(s.evidence_line) is (s.kind is not K.NONFINITE_WEIGHT)
        assert f"│ {s.evidence_line}".rstrip() + "\n" in text


def trial(threshold, steps, late, *, first_nonfinite=None, clipped=0.0, out_at=None, changes="",
          note="") -> TrialResult:
    return TrialResult(threshold, steps, late, first_nonfinite, clipped, out_at, note, changes)


def recommendation(clipping_helps: bool) -> Recommendation:
    winner = trial(0.5, 200, 0.0412, clipped=0.31) if clipping_helps else trial(None, 200, 1.93)
    unclipped = trial(None, 100 if clipping_helps else 200, math.inf if clipping_helps else 1.93,
                      first_nonfinite=64 if clipping_helps else None, out_at=100 if clipping_helps else None)
    trials = (trial(0.05, 200, 0.0533, clipped=0.97), winner if clipping_helps else trial(0.5, 50, 2.2, out_at=50),
              trial(5.0, 100, math.inf, first_nonfinite=71, out_at=100), unclipped)
    notes = (("clip-norm 0.5: late loss 0.0412 at 200 steps; unclipped: late loss non-finite at 100 steps",)
             if clipping_helps else ("no threshold beat the unclipped run", "lr 0.1 -> 0.01: late loss 0.12 "
                                     "against 1.93 (unclipped) at 200 steps",
                                     "fix the cause instead: lr 0.1 -> 0.01 (side by side, from the same seed: "
                                     "gradscope compare CONFIG --try 'optimizer.lr=0.01')"))
    threshold = 0.5 if clipping_helps else 7.82
    evidence = Evidence(
        GradientStatistics("global L2 gradient norm", 40, Percentiles(0.21, 0.3, 0.42, 0.8, 1.6, 3.91), 1.73),
        predicted_clipped_fraction=0.12, observed_clipped_fraction=0.31 if clipping_helps else 0.0,
        initial_loss=2.3, unclipped=unclipped, trials=trials, winner=winner,
        why="0.5 had the lowest late loss at 200 steps (0.0412); 0.05: 0.0533" if clipping_helps
        else "unclipped had the lowest late loss at 200 steps (1.93)", probe_symptoms=())
    if clipping_helps:
        return Recommendation("norm", threshold, "successive halving over 4 trials", True, notes, evidence,
                              snippets("norm", threshold), "gradscope-runs/rnn-recommend", 650, 800)
    # Clipping is not the fix: the alternative that works is the headline, and the snippets show that change.
    evidence = replace(evidence, alternatives=(
        trial(None, 200, 0.12, changes="optimizer.lr=0.01", note="lr 0.1 -> 0.01"),
        trial(None, 40, 0.9, out_at=40, changes="optimizer.lr=0.001", note="lr 0.1 -> 0.001")))
    fix = Fix("lr 0.1 -> 0.01", "optimizer.lr=0.01", 0.12, 200)
    return Recommendation("norm", threshold, "successive halving over 6 trials", False, notes, evidence,
                          fix_snippets(fix.changes, "SGD", 0.1, 200, "norm", threshold),
                          "gradscope-runs/rnn-recommend", 380, 400, fix)


@pytest.mark.parametrize("clipping_helps", [True, False], ids=["clipping_helps", "clipping_is_not_the_fix"])
def test_recommend_report(clipping_helps, golden):
    name = "clipping_helps" if clipping_helps else "clipping_is_not_the_fix"
    golden(f"recommend_{name}", render(print_recommendation, recommendation(clipping_helps)))


def compared(label: str, diagnosis: Diagnosis, steps: int, clip: Clip | None = None,
             outcome: str | None = None) -> ComparedRun:
    trace = Trace.from_columns(RunInfo(["w"], [[1]]), {"loss": np.linspace(1.0, 0.5, steps)})
    return ComparedRun(label, clip, trace, diagnosis, diagnosis.summary, Path(f"out/{label}"), outcome)


def comparison(state: str) -> Comparison:
    broken = DIAGNOSES["critical_many_symptoms"]
    healthy = Diagnosis("healthy", 200, [], summary(clip={"mode": "norm", "threshold": 0.5}, clipped_fraction=0.3))
    warned = Diagnosis("warning", 200, CRITICAL_SYMPTOMS[5:7],
                       summary(final_loss=0.31, clip={"mode": "value", "threshold": 0.1}, clipped_fraction=1.0))
    unclipped = replace(broken.summary, clip=None, clipped_fraction=0.0)  # a config's baseline clips nothing
    base = compared("baseline", replace(broken, summary=unclipped), 56)
    fixed = compared("clip-norm 0.5", healthy, 200, Clip("norm", 0.5), "fixed")
    helped = compared("clip-value 0.1", warned, 200, Clip("value", 0.1), "helped")
    if state == "fixed_and_helped":
        return Comparison((base, fixed, helped), (
            ("fixed", "clip-norm 0.5 fixed the run: no NaN/Inf (baseline: Inf at step 55), loss NaN -> 0.0213"),
            ("helped", "clip-value 0.1 helped but did not fix the run: critical -> warning (gradient_spike at step "
                       "8), no NaN/Inf (baseline: Inf at step 55), loss NaN -> 0.31")), Path("out"))
    if state == "interrupted":
        return Comparison((base,), ((None, "interrupted before a compared run was recorded"),), Path("out"),
                          interrupted=True)
    recommended = compared("clip-norm 7.82 (recommended)", broken, 56, Clip("norm", 7.82, True), "no_help")
    return Comparison((base, recommended), (("no_help", "clipping did not help: clip-norm 7.82 (recommended) is "
                                                        "still critical"),), Path("out"), recorded=True,
                      recommendation={"clipping_helps": False, "notes": ["the loss stays above its start"]})


@pytest.mark.parametrize("state", ["fixed_and_helped", "interrupted", "clipping_did_not_help"])
def test_compare_report(state, golden):
    golden(f"compare_{state}", render(print_comparison, comparison(state)))
