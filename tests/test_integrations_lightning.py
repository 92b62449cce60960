"""`gradscope.integrations.lightning.GradscopeCallback` in a real `Trainer.fit` on tiny models.

Every expected number comes from a plain torch loop over the same batches (accumulation as Lightning does it:
each micro-batch loss divided by N; `clip_grad_norm_` / `clip_grad_value_`; a GradScaler under fp16), never from
gradscope itself.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as L
import numpy as np
import pandas as pd
import pytest
import pytorch_lightning
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from typer.testing import CliRunner

import gradscope
from gradscope.cli import app
from gradscope.integrations.lightning import GradscopeCallback
from gradscope.sources.registry import read_log

REL = 1e-6
ACCUMULATE = 3
STEPS = 6
BLOWUP_LR = 0.04  # SGD, no tanh, inputs of scale 3: the loss grows to inf at step 8 (a plain loop's count)
BLOWUP_STEP = 8
BLOWUP_STEPS = 12


def batches(n: int, scale: float = 1.0, batch: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n * batch, 4, generator=g) * scale
    y = x.sum(1, keepdim=True) + 0.1 * torch.randn(n * batch, 1, generator=g)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n * batch, batch)]


def build_net(linear: bool = False) -> nn.Module:
    """A small tanh MLP; `linear` drops the tanh, so a high learning rate makes it overflow."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Identity() if linear else nn.Tanh(), nn.Linear(16, 1))


def make_module(base: type, net: nn.Module, lr: float) -> object:
    class Regression(base):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=lr)

    return Regression()


def fit(tmp: Path, callback: GradscopeCallback, data: list, *, lr: float = 0.1, steps: int = STEPS,
        lightning=L, linear: bool = False, **trainer_kw) -> object:
    module = make_module(lightning.LightningModule, build_net(linear), lr)
    trainer = lightning.Trainer(max_steps=steps, callbacks=[callback], logger=CSVLogger(tmp / "logs"),
                                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                log_every_n_steps=1, accelerator="cpu", devices=1, **trainer_kw)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=None))  # the batches as they are
    return trainer


def plain_loop(data: list, *, lr: float, steps: int, accumulate: int = 1, clip: float | None = None,
               algorithm: str = "norm", scaler: torch.amp.GradScaler | None = None,
               linear: bool = False) -> list[dict]:
    """The loop a user writes: per step, the loss (mean over micro-batches), pre-clip norms, clipped, finite."""
    net = build_net(linear)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    per_epoch = len(data) // accumulate
    rows = []
    for step in range(steps):
        opt.zero_grad()
        loss_sum = 0.0
        start = (step % per_epoch) * accumulate
        for x, y in data[start:start + accumulate]:
            with torch.autocast("cpu", dtype=torch.float16, enabled=scaler is not None):
                loss = nn.functional.mse_loss(net(x), y) / accumulate
            (scaler.scale(loss) if scaler else loss).backward()
            loss_sum += float(loss.detach())
        if scaler is not None:
            scaler.unscale_(opt)
        grads = [p.grad for p in net.parameters()]
        per_param = [float(g.norm()) for g in grads]
        total = float(torch.nn.utils.get_total_norm(grads))
        peak = max(float(g.abs().max()) for g in grads)
        finite = math.isfinite(loss_sum) and all(bool(torch.isfinite(g).all()) for g in grads)
        rows.append({"loss": loss_sum, "grad_norm": total, "per_param": per_param, "finite": finite,
                     "clipped": clip is not None and (total if algorithm == "norm" else peak) > clip})
        if clip is not None and algorithm == "norm":
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        elif clip is not None:
            torch.nn.utils.clip_grad_value_(net.parameters(), clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
    return rows


@pytest.fixture(scope="module")
def clipped_runs(tmp_path_factory):
    """One fit per clipping algorithm, with accumulation, thresholds that bite on some steps only."""
    runs = {}
    data = batches(12)
    for algorithm, threshold in (("norm", 2.5), ("value", 1.5)):
        tmp = tmp_path_factory.mktemp(algorithm)
        callback = GradscopeCallback(out=tmp / "run", report=False)
        trainer = fit(tmp, callback, data, accumulate_grad_batches=ACCUMULATE, gradient_clip_val=threshold,
                      gradient_clip_algorithm=algorithm)
        reference = plain_loop(data, lr=0.1, steps=STEPS, accumulate=ACCUMULATE, clip=threshold,
                               algorithm=algorithm)
        runs[algorithm] = (callback, trainer, reference, tmp)
    return runs


@pytest.fixture(scope="module")
def blowup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blowup")
    callback = GradscopeCallback(out=tmp / "run", report=False)
    trainer = fit(tmp, callback, batches(1, scale=3.0, batch=32), lr=BLOWUP_LR, steps=BLOWUP_STEPS, linear=True)
    return callback, trainer, tmp


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_one_row_per_optimizer_step_with_the_plain_loops_numbers(clipped_runs, algorithm):
    callback, trainer, reference, _ = clipped_runs[algorithm]
    run = gradscope.load_run(callback.run_dir)
    assert trainer.global_step == STEPS
    assert len(run.trace) == STEPS  # one row per optimizer step, not per micro-batch (3 each)
    np.testing.assert_allclose(run.trace["grad_norm"], [r["grad_norm"] for r in reference], rtol=REL)
    np.testing.assert_allclose(run.trace["loss"], [r["loss"] for r in reference], rtol=REL)
    np.testing.assert_allclose(run.grad_norms.to_numpy(), [r["per_param"] for r in reference], rtol=1e-5)
    assert run.trace["lr"].tolist() == [0.1] * STEPS


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_clipped_marks_the_steps_lightning_clipped(clipped_runs, algorithm):
    callback, _, reference, _ = clipped_runs[algorithm]
    clipped = gradscope.load_run(callback.run_dir).trace["clipped"].astype(bool).tolist()
    assert clipped == [r["clipped"] for r in reference]
    assert any(clipped) and not all(clipped)
    assert callback.diagnosis.summary.clip["mode"] == algorithm


def test_run_folder_holds_what_diagnose_writes_and_compare_reads_it(clipped_runs, tmp_path):
    norm_dir, value_dir = clipped_runs["norm"][0].run_dir, clipped_runs["value"][0].run_dir
    for name in ("trace.csv", "grad_norms.csv", "weight_norms.csv", "run.json", "diagnosis.json",
                 "loss_grad_norm.png"):
        assert (norm_dir / name).is_file(), name
    assert json.loads((norm_dir / "diagnosis.json").read_text())["run_dir"] == str(norm_dir)
    result = CliRunner().invoke(app, ["compare", str(norm_dir), str(value_dir), "--json", "--no-plots",
                                      "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["clip"] for r in doc["runs"]] == [{"mode": "norm", "threshold": 2.5},
                                                {"mode": "value", "threshold": 1.5}]
    assert doc["runs"][0]["clipped_fraction"] == pytest.approx(
        np.mean([r["clipped"] for r in clipped_runs["norm"][2]]))


def test_scalars_reach_the_lightning_logger(clipped_runs):
    callback, trainer, reference, _ = clipped_runs["norm"]
    metrics = pd.read_csv(Path(trainer.logger.log_dir) / "metrics.csv")
    rows = metrics.dropna(subset=["gradscope/grad_norm"])
    np.testing.assert_allclose(rows["gradscope/grad_norm"], [r["grad_norm"] for r in reference], rtol=REL)
    assert rows["gradscope/clipped"].tolist() == [float(r["clipped"]) for r in reference]
    assert rows["gradscope/nonfinite_steps"].tolist() == [0.0] * STEPS
    # the log read back: gradscope's own scalars are found without --map
    reading = read_log(Path(trainer.logger.log_dir))
    assert reading.columns["loss"] == "gradscope/loss" and reading.columns["grad_norm"] == "gradscope/grad_norm"
    np.testing.assert_allclose(reading.trace.grad_norm, [r["grad_norm"] for r in reference], rtol=REL)


def test_blowup_is_critical_at_the_plain_loops_first_nonfinite_step(blowup):
    callback, trainer, _ = blowup
    reference = plain_loop(batches(1, scale=3.0, batch=32), lr=BLOWUP_LR, steps=BLOWUP_STEPS, linear=True)
    first = next(i for i, r in enumerate(reference) if not r["finite"])
    assert first == BLOWUP_STEP
    diagnosis = callback.diagnosis
    assert diagnosis.verdict == "critical"
    assert diagnosis.summary.first_nonfinite_step == first
    assert trainer.global_step == BLOWUP_STEPS  # stop_on="never": training went on
    loss_event = next(s for s in diagnosis.symptoms if s.kind.value == "nonfinite_loss")
    assert loss_event.step == first
    # Replayed with forward hooks: every module's output was finite, the squared error overflowed.
    assert loss_event.module is None and loss_event.evidence["stage"] == "loss"


def test_first_module_with_a_nonfinite_output_is_named(tmp_path):
    """A NaN in one input of step 4: the replay's forward hooks name the first module whose output is NaN."""
    data = batches(6)
    data[4][0][0, 0] = math.nan
    callback = GradscopeCallback(out=tmp_path / "run", report=False)
    fit(tmp_path, callback, data, steps=6)
    events = {s.kind.value: s for s in callback.diagnosis.symptoms}
    assert events["nonfinite_loss"].step == 4
    assert events["nonfinite_loss"].module == "net.0"
    assert events["nonfinite_loss"].evidence["stage"] == "forward"


def test_nan_is_logged_as_nan(blowup):
    _, trainer, _ = blowup
    metrics = pd.read_csv(Path(trainer.logger.log_dir) / "metrics.csv").dropna(subset=["gradscope/clipped"])
    assert metrics["gradscope/loss"].iloc[BLOWUP_STEP] == math.inf
    assert math.isnan(metrics["gradscope/loss"].iloc[BLOWUP_STEP + 1])
    assert math.isnan(metrics["gradscope/grad_norm"].iloc[BLOWUP_STEP + 1])
    assert metrics["gradscope/nonfinite_steps"].iloc[BLOWUP_STEP] == 1.0
    assert metrics["gradscope/nonfinite_grads"].iloc[BLOWUP_STEP] > 0


def test_stop_on_critical_ends_fit_at_the_first_nonfinite_step(tmp_path, capsys):
    callback = GradscopeCallback(out=tmp_path / "run", stop_on="critical")
    trainer = fit(tmp_path, callback, batches(1, scale=3.0, batch=32), lr=BLOWUP_LR, steps=BLOWUP_STEPS,
                  linear=True)
    assert trainer.global_step == BLOWUP_STEP + 1  # the step that showed it was recorded, then fit stopped
    assert len(gradscope.load_run(tmp_path / "run").trace) == BLOWUP_STEP + 1
    assert callback.diagnosis.verdict == "critical"
    err = capsys.readouterr().err
    assert err.count("verdict: CRITICAL") == 1  # the diagnosis, printed once, on stderr


def test_stop_on_is_checked_when_built():
    with pytest.raises(ValueError, match="stop_on='sometimes' is not one of never, warning, critical"):
        GradscopeCallback(stop_on="sometimes")


def test_fp16_norms_are_unscaled(tmp_path):
    """A GradScaler on CPU (Lightning's fp16 plugin): norms and loss as a plain autocast + GradScaler loop."""
    from lightning.pytorch.plugins import MixedPrecision

    data = batches(4)
    callback = GradscopeCallback(out=tmp_path / "run", report=False)
    fit(tmp_path, callback, data, steps=4, gradient_clip_val=3.5,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**10))])
    reference = plain_loop(data, lr=0.1, steps=4, clip=3.5, scaler=torch.amp.GradScaler("cpu", init_scale=2.0**10))
    trace = gradscope.load_run(tmp_path / "run").trace
    np.testing.assert_allclose(trace["grad_norm"], [r["grad_norm"] for r in reference], rtol=REL)
    np.testing.assert_allclose(trace["loss"], [r["loss"] for r in reference], rtol=REL)
    assert trace["clipped"].astype(bool).tolist() == [r["clipped"] for r in reference]


def test_works_with_pytorch_lightning_too_and_log_false_logs_nothing(tmp_path):
    data = batches(4)
    callback = GradscopeCallback(out=tmp_path / "run", report=False, log=False)
    trainer = fit(tmp_path, callback, data, steps=4, lightning=pytorch_lightning, gradient_clip_val=3.5)
    assert isinstance(trainer, pytorch_lightning.Trainer)
    metrics = Path(trainer.logger.log_dir) / "metrics.csv"
    assert not metrics.exists() or not any(c.startswith("gradscope/") for c in pd.read_csv(metrics).columns)
    trace = gradscope.load_run(tmp_path / "run").trace
    np.testing.assert_allclose(trace["grad_norm"], [r["grad_norm"] for r in plain_loop(data, lr=0.1, steps=4,
                                                                                        clip=3.5)], rtol=REL)


BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Block())
import {module}
"""


def test_without_lightning_one_line_names_the_extra():
    code = BLOCK.format(blocked={"lightning", "pytorch_lightning"}, module="gradscope.integrations.lightning")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ImportError: gradscope.integrations.lightning needs lightning.pytorch or pytorch_lightning, which is not "
        "installed (fix: pip install 'torch-gradscope[lightning]')")


def guarded_plain_loop(data: list, *, lr: float, steps: int, linear: bool) -> gradscope.Guard:
    """The contract's loop with `gradscope.Guard`: what `GradscopeCallback(guard=True)` must do inside Lightning."""
    net = build_net(linear)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    guard = gradscope.Guard(net)
    for step in range(steps):
        x, y = data[step % len(data)]
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        if guard.step(loss):
            opt.step()
    return guard


def test_guard_true_clips_and_skips_as_the_guard_does_in_a_plain_loop(tmp_path):
    data = batches(3, scale=3.0, batch=32)
    x, y = data[1]
    data[1] = (x.clone().index_fill_(0, torch.tensor([0]), math.nan), y)  # a bad batch: its loss is NaN
    callback = GradscopeCallback(out=tmp_path / "run", report=False, guard=True)
    fit(tmp_path, callback, data, lr=BLOWUP_LR, steps=40, linear=True)  # unguarded it overflows
    plain = guarded_plain_loop(data, lr=BLOWUP_LR, steps=40, linear=True)
    ours, theirs = callback.monitor.trace, plain.monitor.trace
    good = np.arange(40) % 3 != 1
    assert np.isfinite(ours.column("loss")[good]).all() and np.isnan(ours.column("loss")[~good]).all()
    assert callback.guard.skipped == plain.skipped == 13  # every bad batch's update skipped, the rest taken
    for column in ("loss", "grad_norm"):
        np.testing.assert_allclose(ours.column(column)[good], theirs.column(column)[good], rtol=1e-5)
    assert (ours.column("clipped") == theirs.column("clipped")).all() and ours.column("clipped").any()
    assert [(e.step, e.action) for e in callback.guard.events] == [(e.step, e.action) for e in plain.events]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["clip_mode"] == "adaptive"


def test_guard_true_refuses_lightnings_own_clipping(tmp_path):
    callback = GradscopeCallback(out=tmp_path / "run", report=False, guard=True)
    with pytest.raises(ValueError, match="clips itself, and the Trainer clips too"):
        fit(tmp_path, callback, batches(4), gradient_clip_val=1.0)
