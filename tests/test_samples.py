"""Every bundled sample gets the verdict its docstring promises, through the same `train` the CLI runs."""

from __future__ import annotations

import numpy as np
import pytest

from gradscope.build.samples import list_samples
from gradscope.config.load import load_config
from gradscope.drivers.loop import train

SAMPLES = {s.name: s for s in list_samples()}


def run_sample(name: str, tmp_path, *, seed: int = 0, steps: int | None = None):
    config = load_config(SAMPLES[name].config, [f"run.seed={seed}", 'run.device="cpu"'])
    return train(config, tmp_path / f"{name}-{seed}", steps=steps, write_plots=False)


def first_nonfinite(trace) -> int | None:
    bad = np.flatnonzero(~np.isfinite(trace.loss) | (trace.column("nonfinite_grads") > 0)
                         | ~np.isfinite(trace.weight_norm))
    return int(bad[0]) if len(bad) else None


def test_there_are_samples_of_every_verdict():
    verdicts = [s.expected_verdict for s in SAMPLES.values()]
    assert len(SAMPLES) >= 6
    assert verdicts.count("healthy") >= 2 and verdicts.count("critical") >= 2 and "warning" in verdicts
    assert set(verdicts) <= {"healthy", "warning", "critical"}, "each model.py states 'Expected verdict: ...'"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_gets_its_expected_verdict(name, tmp_path):
    result = run_sample(name, tmp_path)
    diagnosis = result.diagnosis
    found = [(s.kind.value, s.severity.value, s.step) for s in diagnosis.symptoms]
    assert diagnosis.verdict == SAMPLES[name].expected_verdict, found
    if diagnosis.verdict == "healthy":
        assert diagnosis.symptoms == []  # not even an info-level finding on a run that trains fine
    assert result.error is None and not result.interrupted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unstable_lr_is_unstable_but_finite_for_every_seed(seed, tmp_path):
    diagnosis = run_sample("unstable_lr", tmp_path, seed=seed).diagnosis
    kinds = set(diagnosis.kinds())
    assert diagnosis.verdict == "warning", diagnosis.kinds()
    assert kinds & {"loss_spike", "loss_divergence"}
    assert not any(k.startswith("nonfinite") for k in kinds)
    assert diagnosis.summary.first_nonfinite_step is None


@pytest.mark.parametrize("seed", [0, 1])
def test_vanishing_sigmoid_vanishes_and_is_never_called_exploding(seed, tmp_path):
    diagnosis = run_sample("vanishing_sigmoid", tmp_path, seed=seed).diagnosis
    assert "vanishing_gradient" in diagnosis.kinds()
    assert "exploding_gradient" not in diagnosis.kinds()
    [vanishing] = [s for s in diagnosis.symptoms if s.kind.value == "vanishing_gradient"]
    assert vanishing.parameter is not None and vanishing.parameter.startswith("0.")  # the input side


def test_linear_high_lr_is_flagged_30_steps_before_it_overflows(tmp_path):
    result = run_sample("linear_high_lr", tmp_path)
    overflow = first_nonfinite(result.trace)
    assert overflow is not None
    growth = [s for s in result.diagnosis.symptoms if s.kind.value in ("exploding_gradient", "weight_growth")
              and s.severity.value == "critical"]
    assert growth, result.diagnosis.kinds()
    assert min(s.step for s in growth) <= overflow - 30
    [exploding] = [s for s in growth if s.kind.value == "exploding_gradient"]
    assert exploding.step <= overflow - 30
    assert 1.0 < exploding.evidence["growth_per_step"] < 2.0


@pytest.mark.parametrize("name", ["exploding_rnn", "deep_wide_init"])
def test_exploding_samples_say_where(name, tmp_path):
    diagnosis = run_sample(name, tmp_path, steps=10).diagnosis
    located = [s for s in diagnosis.symptoms
               if s.kind.value.startswith("nonfinite") and (s.module or s.parameter)]
    assert located, [(s.kind.value, s.module, s.parameter) for s in diagnosis.symptoms]
