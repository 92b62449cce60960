"""`gradscope compare`: clipped reruns are the plain torch loop with clipping, and the verdicts are right.

The reference is a deliberately plain loop (seed, factory, SGD, MSELoss, `clip_grad_norm_` or
`clip_grad_value_`) over the bundled `linear_high_lr` sample, which overflows near step 170 and is fixed by
clipping. One compare run with three clip settings is shared by the tests that only read its results.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import MLP_CONFIG, gradscope_cmd, sample_setup, subprocess_env
from typer.testing import CliRunner

from gradscope.cli import app
from gradscope.trials.compare import ComparedRun

runner = CliRunner()
SAMPLE = "linear_high_lr"
STEPS = 200  # the baseline overflows near step 170: enough to see it, short enough to stay fast
TOO_LOOSE = 3000.0  # bites on most steps but still lets the loss diverge: no NaN, but it ends 100x above its start


def invoke(*args: str):
    return runner.invoke(app, ["compare", *args])


def strict_json(text: str):
    """Parse as JSON a strict parser accepts: NaN/Infinity literals are an error."""
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


# -- the reference: a plain torch loop ------------------------------------------------------------
@dataclass
class PlainRun:
    losses: list[float]
    clipped_fraction: float
    first_nonfinite_step: int | None

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    @property
    def best_loss(self) -> float:
        return min(x for x in self.losses if math.isfinite(x))


def plain_loop(steps: int, *, norm: float | None = None, value: float | None = None) -> PlainRun:
    """The sample's config trained the way a user writes it, clipping with torch's own functions."""
    model, batches, opt = sample_setup(SAMPLE)
    losses, clipped, first_bad = [], 0, None
    for step in range(steps):
        x, y = next(batches)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        losses.append(loss.item())
        grads = [p.grad for p in model.parameters()]
        # What a plain loop sees (the contract's first_nonfinite_step): the loss, any gradient element, or the
        # global norm as torch computes it, which overflows float32 (~1.8e19) before the elements do.
        finite = (math.isfinite(loss.item()) and all(torch.isfinite(g).all() for g in grads)
                  and math.isfinite(torch.nn.utils.get_total_norm(grads).item()))
        if first_bad is None and not finite:
            first_bad = step
        if norm is not None:
            clipped += torch.nn.utils.clip_grad_norm_(model.parameters(), norm).item() > norm
        elif value is not None:
            clipped += max(g.abs().max().item() for g in grads) > value
            torch.nn.utils.clip_grad_value_(model.parameters(), value)
        opt.step()
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            break  # gradscope stops here too: nothing more to learn from non-finite weights
    return PlainRun(losses, clipped / len(losses), first_bad)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One compare run (with plots) of the exploding sample: baseline, a norm clip that fixes it, a too-loose
    one and a value clip."""
    out = tmp_path_factory.mktemp("compare") / "out"
    result = invoke("--sample", SAMPLE, "--steps", str(STEPS), "--clip-norm", "1", "--clip-norm",
                    str(TOO_LOOSE), "--clip-value", "0.5", "--fail-on", "warning", "--json", "--out", str(out))
    return types.SimpleNamespace(result=result, out=out, doc=strict_json(result.stdout))


def run_named(doc: dict, label: str) -> dict:
    return next(r for r in doc["runs"] if r["label"] == label)


# -- the numbers equal the plain loop ---------------------------------------------------------------
@pytest.mark.parametrize(("label", "clip"), [
    ("clip-norm 1", {"norm": 1.0}),
    (f"clip-norm {TOO_LOOSE:g}", {"norm": TOO_LOOSE}),
    ("clip-value 0.5", {"value": 0.5}),
])
def test_clipped_run_equals_plain_loop_with_torch_clipping(shared, label, clip):
    run = run_named(shared.doc, label)
    reference = plain_loop(STEPS, **clip)
    mode, threshold = next(iter(clip.items()))
    assert run["clip"] == {"mode": mode, "threshold": threshold}
    assert run["steps_completed"] == len(reference.losses) == STEPS
    assert run["final_loss"] == pytest.approx(reference.final_loss, rel=1e-5)
    assert run["best_loss"] == pytest.approx(reference.best_loss, rel=1e-5)
    assert run["clipped_fraction"] == pytest.approx(reference.clipped_fraction, abs=1e-12)
    assert run["clipped_fraction"] > 0.0


def test_too_loose_clip_bites_on_some_steps_only(shared):
    """The loose clip is a real partial case, so clipped_fraction is tested on a value other than 0 or 1."""
    assert 0.1 < run_named(shared.doc, f"clip-norm {TOO_LOOSE:g}")["clipped_fraction"] < 0.9


def test_baseline_is_unclipped_and_overflows_where_the_plain_loop_does(shared):
    baseline = shared.doc["runs"][0]
    reference = plain_loop(STEPS)
    assert (baseline["label"], baseline["clip"], baseline["clipped_fraction"]) == ("baseline", None, 0.0)
    assert reference.first_nonfinite_step is not None
    assert baseline["first_nonfinite_step"] == reference.first_nonfinite_step
    assert baseline["best_loss"] == pytest.approx(reference.best_loss, rel=1e-5)
    assert baseline["verdict"] == "critical"
    assert (baseline["final_loss"], baseline["final_loss_text"]) == (None, "inf")


def test_baseline_is_the_run_diagnose_makes(shared, tmp_path):
    result = runner.invoke(app, ["diagnose", "--sample", SAMPLE, "--steps", str(STEPS), "--json",
                                 "--no-plots", "--out", str(tmp_path / "diag")])
    diagnosis = strict_json(result.stdout)
    baseline = shared.doc["runs"][0]
    assert diagnosis["verdict"] == baseline["verdict"]
    assert diagnosis["summary"]["first_nonfinite_step"] == baseline["first_nonfinite_step"]
    ours = (shared.out / "baseline" / "trace.csv").read_text().splitlines()
    theirs = (tmp_path / "diag" / "trace.csv").read_text().splitlines()
    drop_time = lambda lines: [line.rsplit(",", 1)[0] for line in lines]  # noqa: E731  (last column: seconds)
    assert drop_time(ours) == drop_time(theirs)


# -- outcome, conclusion, exit code --------------------------------------------------------------------
def test_exit_0_and_fixed_when_clipping_fixes_the_run(tmp_path):
    result = invoke("--sample", SAMPLE, "--steps", str(STEPS), "--clip-norm", "1", "--no-plots",
                    "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # the report is on stdout
    first_bad = plain_loop(STEPS).first_nonfinite_step
    report = " ".join(result.stdout.split())  # rich wraps long lines
    # The plain loop's first non-finite value is the global norm (float32 overflow), before the loss is Inf.
    expected = f"clip-norm 1 fixed the run: no NaN/Inf (baseline: Inf grad norm at step {first_bad}), loss Inf -> "
    assert expected in report
    for row in ("verdict", "first NaN/Inf step", "final loss", "best loss", "max grad norm",
                "median grad norm", "steps clipped", "wall time"):
        assert row in result.stdout


@pytest.mark.parametrize("fail_on, code", [("warning", 1), ("critical", 1), ("never", 0)])
def test_exit_1_when_the_clip_is_too_loose_for_the_level_asked(tmp_path, fail_on, code):
    """The loose clip stops the NaN but the loss still ends far above its start: the run is still broken."""
    result = invoke("--sample", SAMPLE, "--steps", str(STEPS), "--clip-norm", str(TOO_LOOSE), "--no-plots",
                    "--fail-on", fail_on, "--json", "--out", str(tmp_path / "out"))
    assert result.exit_code == code, result.stderr
    doc = strict_json(result.stdout)
    assert [r["outcome"] for r in doc["runs"]] == [None, "no_help"]
    assert doc["runs"][1]["first_nonfinite_step"] is None
    assert doc["conclusion"].startswith(f"clipping did not help: clip-norm {TOO_LOOSE:g} is still critical "
                                        "(loss_divergence")


def test_exit_1_when_a_clip_leaves_the_run_critical(tmp_path):
    result = invoke("--sample", SAMPLE, "--steps", str(STEPS), "--clip-norm", "1e30", "--no-plots", "--json",
                    "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.stderr
    doc = strict_json(result.stdout)
    assert [r["outcome"] for r in doc["runs"]] == [None, "no_help"]
    assert doc["conclusion"].startswith("clipping did not help: clip-norm 1e+30 is still critical (")


def test_shared_run_exits_1_because_one_clip_is_too_loose(shared):
    assert shared.result.exit_code == 1, shared.result.stderr
    assert [r["outcome"] for r in shared.doc["runs"]] == [None, "fixed", "no_help", "fixed"]
    assert shared.doc["best"] == "clip-norm 1"
    assert "clip-norm 1 fixed the run" in shared.doc["conclusion"]


def test_fail_on_never_exits_0_even_when_the_clip_is_too_loose(tmp_path):
    result = invoke("--sample", SAMPLE, "--steps", "40", "--clip-norm", "1e30", "--no-plots", "--json",
                    "--fail-on", "never", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr


def test_healthy_runs_and_a_clip_so_tight_the_run_crawls(write_config, tmp_path):
    """Every run healthy; a clip at 0.3 leaves the run still learning but far behind: the conclusion says how far
    (its late loss against the baseline's), and says nothing of the loose clip that ended where the baseline did."""
    config = write_config(MLP_CONFIG)
    result = invoke(str(config), "--steps", "60", "--clip-norm", "10", "--clip-norm", "0.3", "--json", "--no-plots",
                    "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    assert [r["verdict"] for r in doc["runs"]] == ["healthy", "healthy", "healthy"]
    assert doc["conclusion"].startswith("all 3 runs are healthy: final loss ")
    late = [float(np.median(pd.read_csv(Path(r["run_dir"]) / "trace.csv")["loss"].to_numpy()[-6:]))
            for r in doc["runs"]]  # the last 10% of 60 steps
    assert late[2] > 1.5 * late[0]
    assert doc["conclusion"].endswith(f"; clip-norm 0.3 ended higher: its late loss {late[2]:.3g} is "
                                      f"{late[2] / late[0]:.3g}x the baseline's {late[0]:.3g}")
    assert "clip-norm 10 ended" not in doc["conclusion"]


def test_config_clip_is_compared_when_no_clip_option_is_given(write_config, tmp_path):
    config = write_config(MLP_CONFIG + "\n[clip]\nvalue = 0.05\n")
    result = invoke(str(config), "--steps", "10", "--json", "--no-plots", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    assert [r["clip"] for r in doc["runs"]] == [None, {"mode": "value", "threshold": 0.05}]
    assert doc["runs"][0]["clipped_fraction"] == 0.0  # the baseline ignores the config's clip


# -- artifacts -----------------------------------------------------------------------------------------------
def test_each_run_in_its_own_folder_and_overlaid_plots_written(shared):
    out = shared.out
    assert shared.doc["run_dir"] == str(out)
    for folder in ("baseline", "clip-norm-1", f"clip-norm-{TOO_LOOSE:g}", "clip-value-0.5"):
        assert (out / folder / "trace.csv").is_file()
        assert (out / folder / "diagnosis.json").is_file()
    assert [r["run_dir"] for r in shared.doc["runs"]] == [
        str(out / f) for f in ("baseline", "clip-norm-1", f"clip-norm-{TOO_LOOSE:g}", "clip-value-0.5")]
    assert shared.doc["plots"] == [str(out / "compare_loss.png"), str(out / "compare_grad_norm.png")]
    for plot in shared.doc["plots"]:
        data = Path(plot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert strict_json((out / "comparison.json").read_text())["runs"] == shared.doc["runs"]


def test_plots_mark_nonfinite_steps_and_thresholds(shared):
    from gradscope.report.compare_plots import grad_norm_overlay, loss_overlay
    from gradscope.trials.compare import compare_recorded

    runs = compare_recorded([shared.out / "baseline", shared.out / "clip-norm-1"], shared.out / "again",
                            plots=False).runs
    (ax,) = loss_overlay(runs).axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    first_bad = shared.doc["runs"][0]["first_nonfinite_step"]
    assert f"baseline (NaN/Inf from step {first_bad})" in legend
    marks = [line for line in ax.get_lines() if line.get_marker() == "x"]
    loss = runs[0].trace.loss
    first_inf_loss = int(runs[0].trace.steps[~np.isfinite(loss)][0])
    assert first_bad < first_inf_loss  # the norm overflowed float32 before the loss did
    assert marks and min(marks[0].get_xdata()) == first_inf_loss  # the non-finite losses are drawn, not dropped
    (ax,) = grad_norm_overlay(runs).axes
    assert ax.get_yscale() == "log"
    assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())  # the clip-norm 1 threshold


# -- recorded runs -------------------------------------------------------------------------------------------
def test_compare_recorded_run_folders_without_rerunning(shared, tmp_path):
    base, fixed = shared.out / "baseline", shared.out / "clip-norm-1"
    before = {p: p.stat().st_mtime_ns for p in (base / "trace.csv", fixed / "trace.csv")}
    result = invoke(str(base), str(fixed), "--json", "--no-plots", "--out", str(tmp_path / "cmp"))
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    assert doc["recorded"] is True
    assert [r["label"] for r in doc["runs"]] == ["baseline", "clip-norm-1"]
    assert doc["runs"][1]["clip"] == {"mode": "norm", "threshold": 1.0}
    for mine, fresh in zip(doc["runs"], shared.doc["runs"][:2], strict=True):
        for key in ("verdict", "final_loss", "best_loss", "first_nonfinite_step", "max_grad_norm",
                    "clipped_fraction"):
            assert mine[key] == fresh[key], key
    assert doc["conclusion"].startswith("clip-norm-1 fixed the run")  # recorded runs are named by folder
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert [p.name for p in (tmp_path / "cmp").iterdir()] == ["comparison.json"]  # no run was made


def test_recorded_runs_in_other_order_exit_1(shared, tmp_path):
    result = invoke(str(shared.out / "clip-norm-1"), str(shared.out / "baseline"), "--json", "--no-plots",
                    "--out", str(tmp_path / "cmp"))
    assert result.exit_code == 1, result.stderr
    assert strict_json(result.stdout)["runs"][1]["outcome"] == "worse"


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    ([], "nothing to compare the baseline with"),
    (["--clip-norm", "0"], "--clip-norm 0 must be a positive, finite threshold"),
    (["--clip-norm", "-1"], "--clip-norm -1 must be a positive, finite threshold"),
    (["--clip-value", "nan"], "--clip-value nan must be a positive, finite threshold"),
    (["--clip-norm", "abc"], "--clip-norm 'abc' is not a number"),
    (["--clip-norm", "1", "--mode", "grad"], "--mode 'grad' is not a clip mode"),
    (["--clip-norm", "1", "--fail-on", "sometimes"], "--fail-on 'sometimes' is not a level"),
])
def test_bad_input_is_one_line_and_exit_2(write_config, tmp_path, args, message):
    config = write_config(MLP_CONFIG)
    result = invoke(str(config), *args, "--out", str(tmp_path / "out"))
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert not (tmp_path / "out" / "baseline").exists()


@pytest.mark.parametrize("extra", [["--clip-norm", "1"], ["--steps", "5"], []])
def test_bad_recorded_run_input_is_exit_2(shared, tmp_path, extra):
    paths = [str(shared.out / "baseline")] + ([str(shared.out / "clip-norm-1")] if extra else [])
    result = invoke(*paths, *extra, "--out", str(tmp_path / "cmp"))
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("Error: ")


# -- --recommended ----------------------------------------------------------------------------------------
def test_recommended_value_mode_adds_the_recommendation_to_the_runs(write_config, tmp_path):
    """--recommended --mode value: recommend runs in its own subfolder, and its threshold is rerun."""
    config = write_config(MLP_CONFIG)
    out = tmp_path / "out"
    result = invoke(str(config), "--recommended", "--mode", "value", "--budget", "3", "--steps", "12", "--json",
                    "--no-plots", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    threshold = doc["recommendation"]["threshold"]
    assert doc["recommendation"]["mode"] == "value"
    assert doc["recommendation"]["cost"]["budget_steps"] == 3 * 12  # --budget reaches recommend
    assert [(r["clip"], r["recommended"]) for r in doc["runs"]] == [
        (None, False), ({"mode": "value", "threshold": threshold}, True)]
    assert (out / "recommend" / "unclipped" / "trace.csv").is_file()
    assert any(p.name.startswith("recommended-clip-value-") and (p / "trace.csv").is_file() for p in out.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["--clip-norm", "1", "--budget", "2"], "--budget bounds the trials of --recommended (fix: add --recommended"),
    (["--recommended", "--budget", "1"], "--budget must be at least 1.5 and at most 1000 diagnose runs, got 1"),
])
def test_a_budget_without_recommended_or_out_of_range_is_one_line_exit_2(write_config, args, message):
    result = invoke(str(write_config(MLP_CONFIG)), *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), result.stderr


def test_recommended_with_the_real_recommend(tmp_path):
    """The real gradscope.trials.recommend: baseline plus its clip, which fixes the run."""
    result = invoke("--sample", SAMPLE, "--steps", str(STEPS), "--recommended", "--json", "--no-plots",
                    "--out", str(tmp_path / "out"))
    assert result.exit_code in (0, 1), result.stderr
    doc = strict_json(result.stdout)
    assert [r["recommended"] for r in doc["runs"]] == [False, True]
    assert doc["runs"][1]["clip"]["mode"] == "norm"
    assert doc["recommendation"]["clipping_helps"] is True
    assert doc["runs"][1]["outcome"] == "fixed" and result.exit_code == 0


# -- library ------------------------------------------------------------------------------------------------
def test_interrupted_comparison_keeps_the_runs_made(tmp_path):
    """Ctrl-C in the second run: the baseline and the partial run are kept and compared; nothing more runs."""
    from contextlib import contextmanager

    from gradscope.clip.setting import Clip
    from gradscope.commands.common import resolve_config
    from gradscope.trials.compare import compare_config

    @contextmanager
    def progress(label):
        def update(done, total, stats):
            if label != "baseline" and done == 5:
                raise KeyboardInterrupt
        yield update

    config = resolve_config(None, SAMPLE, [], 30)
    comparison = compare_config(config, tmp_path, [Clip("norm", 1.0), Clip("norm", 2.0)],
                                steps=30, progress=progress, plots=False)
    assert comparison.interrupted
    assert [len(r.trace) for r in comparison.runs] == [30, 5]
    assert not (tmp_path / "clip-norm-2").exists()
    assert "interrupted" in comparison.conclusion


# -- the real command line ------------------------------------------------------------------------------
def test_subprocess_json_stdout_is_one_strict_document(tmp_path):
    proc = subprocess.run(gradscope_cmd("compare", "--sample", SAMPLE, "--steps", "30", "--clip-norm", "1",
                                        "--json", "--no-plots", "--out", str(tmp_path / "out")),
                          capture_output=True, text=True, env=subprocess_env(), timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("{"), proc.stderr
    doc = strict_json(proc.stdout)
    assert set(doc) >= {"runs", "conclusion", "run_dir"}
    assert [r["label"] for r in doc["runs"]] == ["baseline", "clip-norm 1"]
    for run in doc["runs"]:
        assert set(run) >= {"label", "clip", "verdict", "final_loss", "best_loss", "first_nonfinite_step",
                            "max_grad_norm", "clipped_fraction"}


def _judged_run(label: str, losses: np.ndarray, severity: str | None, kind: str = "early_instability",
                step: int = 1) -> ComparedRun:
    """A compared run of `losses` with one finding (None: healthy), as the judging reads it."""
    from gradscope.diagnose.diagnosis import Diagnosis, Summary
    from gradscope.diagnose.symptoms.catalogue import symptom_from_dict
    from gradscope.trace.trace import RunInfo, Trace

    symptoms = [] if severity is None else [symptom_from_dict(
        {"kind": kind, "severity": severity, "step": step, "message": kind})]
    summary = Summary(final_loss=float(losses[-1]), initial_loss=float(losses[0]))
    diagnosis = Diagnosis(severity or "healthy", len(losses), symptoms, summary)
    trace = Trace.from_columns(RunInfo(["w"], [[1]]), {"loss": losses})
    return ComparedRun(label, None, trace, diagnosis, summary, Path(label))


def test_a_fix_that_ends_higher_and_a_change_that_makes_a_warning_critical_say_so():
    """nanoGPT at lr 0.1: a warm-up removes its early_instability warning, but its loss ends higher (3.26 against
    3.12): 'fixed', and the sentence says it ended higher. A GCN at lr 10: a warm-up makes its warning critical:
    'worse' (it was 'did not help: still critical' beside a baseline that was only a warning)."""
    from gradscope.trials.compare import conclude, outcome

    rng = np.random.default_rng(0)
    noise = 0.01 * rng.standard_normal(100)
    base = _judged_run("baseline", 3.12 + noise, "warning")
    warm = _judged_run("warm-up 15", 3.26 + noise[::-1], None)
    same = _judged_run("lr x0.1", 3.12 + noise[::-1], None)
    worse = _judged_run("warm-up 10", 3.3 + noise, "critical", "loss_divergence", 89)
    runs = [base, *(dataclasses.replace(r, outcome=outcome(base, r)) for r in (warm, same, worse))]
    assert [r.outcome for r in runs[1:]] == ["fixed", "fixed", "worse"]
    warmed, level, worsened = (sentence for _, sentence in conclude(runs))
    late = [float(np.median(r.trace.loss[-10:])) for r in (base, warm)]  # the late level: the last 10% of 100
    assert warmed.startswith("warm-up 15 fixed the run: healthy (baseline: warning, early_instability at step 1)")
    assert warmed.endswith(f"; but it ended higher: its late loss {late[1]:.3g} is {late[1] / late[0]:.3g}x the "
                           f"baseline's {late[0]:.3g}")
    assert "ended higher" not in level  # the same level, only another draw of its noise
    assert worsened.startswith("warm-up 10 made it worse: critical (loss_divergence at step 89) where the baseline "
                               "is warning (early_instability at step 1)")
