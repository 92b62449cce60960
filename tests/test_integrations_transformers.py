"""`gradscope.integrations.transformers.GradscopeCallback` in a real `Trainer.train`.

A transformers Llama (tiny config, random init: nothing is downloaded) with clipping and accumulation: the
trace must hold the Trainer's own logged `grad_norm`, `loss` and `learning_rate`, step for step. A small model
trained with SGD at too high a learning rate blows up where a plain loop over the same batches does.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_integrations_lightning import BLOCK
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments
from typer.testing import CliRunner

import gradscope
from gradscope.cli import app
from gradscope.integrations.transformers import GradscopeCallback

STEPS = 6
MAX_GRAD_NORM = 0.85  # between the pre-clip norms of this run: some steps clip, some do not
BLOWUP_LR = 0.04
BLOWUP_STEP = 8  # where a plain loop's loss first goes non-finite
BLOWUP_STEPS = 12


def args_for(tmp, **kw) -> TrainingArguments:
    base = {"output_dir": str(tmp / "hf"), "logging_steps": 1, "report_to": [], "save_strategy": "no",
            "use_cpu": True, "disable_tqdm": True, "train_sampling_strategy": "sequential",
            "dataloader_num_workers": 0}
    return TrainingArguments(**(base | kw))


def llama_run(tmp, callback: GradscopeCallback) -> Trainer:
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    ids = torch.randint(0, 64, (48, 16), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": row, "labels": row} for row in ids]
    args = args_for(tmp, max_steps=STEPS, per_device_train_batch_size=4, gradient_accumulation_steps=2,
                    learning_rate=1e-2, max_grad_norm=MAX_GRAD_NORM)
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
    trainer.train()
    return trainer


class Regression(nn.Module):
    """No tanh: with SGD at a high learning rate it overflows, as an unclipped linear model does."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 1))

    def forward(self, x, labels):
        return {"loss": nn.functional.mse_loss(self.net(x), labels)}


def regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g) * 3
    return x, x.sum(1, keepdim=True) + 0.1 * torch.randn(32, 1, generator=g)


def blowup_run(tmp, callback: GradscopeCallback, steps: int = BLOWUP_STEPS, max_grad_norm: float = 0.0) -> Trainer:
    """The Regression at SGD lr BLOWUP_LR (unclipped, its loss overflows at step BLOWUP_STEP) in a real Trainer."""
    model = Regression()
    x, y = regression_data()
    data = [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]
    args = args_for(tmp, max_steps=steps, per_device_train_batch_size=32, max_grad_norm=max_grad_norm)
    optimizer = torch.optim.SGD(model.parameters(), lr=BLOWUP_LR)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback],
                      optimizers=(optimizer, scheduler))
    trainer.train()
    return trainer


def plain_first_nonfinite_step() -> int:
    model = Regression()
    x, y = regression_data()
    optimizer = torch.optim.SGD(model.parameters(), lr=BLOWUP_LR)
    for step in range(BLOWUP_STEPS):
        optimizer.zero_grad()
        loss = model(x, y)["loss"]
        loss.backward()
        if not math.isfinite(float(loss.detach())) or any(not bool(torch.isfinite(p.grad).all())
                                                 for p in model.parameters()):
            return step
        optimizer.step()
    raise AssertionError("the plain loop did not blow up")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("llama")
    callback = GradscopeCallback(out=tmp / "run", report=False)
    trainer = llama_run(tmp, callback)
    return callback, trainer, gradscope.load_run(tmp / "run")


@pytest.fixture(scope="module")
def blowup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blowup")
    callback = GradscopeCallback(out=tmp / "run", report=False)
    trainer = blowup_run(tmp, callback)
    return callback, trainer, gradscope.load_run(tmp / "run")


def train_logs(trainer: Trainer) -> list[dict]:
    return [h for h in trainer.state.log_history if "grad_norm" in h]


def test_trace_holds_the_trainers_own_grad_norm_loss_and_lr(llama):
    callback, trainer, run = llama
    logs = train_logs(trainer)
    assert len(logs) == len(run.trace) == STEPS  # one row per optimizer step (two micro-batches each)
    # The same float as the Trainer's pre-clip norm; trace.csv keeps it to 10 significant digits.
    assert callback.monitor.trace.grad_norm.tolist() == [h["grad_norm"] for h in logs]
    np.testing.assert_allclose(run.trace["grad_norm"], [h["grad_norm"] for h in logs], rtol=1e-9)
    np.testing.assert_allclose(run.trace["loss"], [h["loss"] for h in logs], rtol=1e-6)
    assert callback.monitor.trace.column("lr").tolist() == [h["learning_rate"] for h in logs]


def test_per_parameter_norms_make_up_the_logged_global_norm(llama):
    _, trainer, run = llama
    assert list(run.grad_norms.columns) == [n for n, _ in trainer.model.named_parameters()]
    combined = np.sqrt((run.grad_norms.to_numpy() ** 2).sum(axis=1))
    np.testing.assert_allclose(combined, [h["grad_norm"] for h in train_logs(trainer)], rtol=1e-5)


def test_clipped_marks_the_steps_the_trainer_clipped(llama):
    _, trainer, run = llama
    expected = [h["grad_norm"] > MAX_GRAD_NORM for h in train_logs(trainer)]
    assert run.trace["clipped"].astype(bool).tolist() == expected
    assert any(expected) and not all(expected)
    assert [h["gradscope/clipped"] for h in train_logs(trainer)] == [float(c) for c in expected]
    assert run.diagnosis.summary.clip == {"mode": "norm", "threshold": MAX_GRAD_NORM}


def test_trainer_is_left_as_it_was(llama):
    _, trainer, _ = llama
    assert "clip_grad_norm_" not in vars(trainer.accelerator)
    assert "training_step" not in vars(trainer) and "log" not in vars(trainer)


def test_blowup_is_critical_at_the_plain_loops_first_nonfinite_step(blowup):
    callback, trainer, run = blowup
    assert plain_first_nonfinite_step() == BLOWUP_STEP
    assert callback.diagnosis.verdict == "critical"
    assert callback.diagnosis.summary.first_nonfinite_step == BLOWUP_STEP
    assert run.diagnosis.summary.first_nonfinite_step == BLOWUP_STEP
    assert trainer.state.global_step == BLOWUP_STEPS


def test_nan_is_shown_not_filtered(blowup):
    _, trainer, _ = blowup
    logs = train_logs(trainer)
    after = logs[BLOWUP_STEP + 1]
    assert math.isnan(after["gradscope/loss"])
    assert math.isfinite(after["loss"])  # the Trainer's own log put its running mean in place of the NaN
    assert after["gradscope/nonfinite_steps"] >= 2 and logs[BLOWUP_STEP - 1]["gradscope/nonfinite_steps"] == 0


def test_stop_on_critical_stops_training(tmp_path, capsys):
    callback = GradscopeCallback(out=tmp_path / "run", stop_on="critical")
    trainer = blowup_run(tmp_path, callback)
    assert trainer.state.global_step == BLOWUP_STEP + 1
    assert len(gradscope.load_run(tmp_path / "run").trace) == BLOWUP_STEP + 1
    assert gradscope.load_run(tmp_path / "run").diagnosis.verdict == "critical"
    assert capsys.readouterr().err.count("verdict: CRITICAL") == 1


def test_compare_reads_the_callbacks_run_folders(llama, blowup, tmp_path):
    result = CliRunner().invoke(app, ["compare", str(blowup[2].path), str(llama[2].path), "--json",
                                      "--no-plots", "--out", str(tmp_path / "cmp"), "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["verdict"] for r in runs] == ["critical", llama[0].diagnosis.verdict]
    assert runs[0]["first_nonfinite_step"] == BLOWUP_STEP
    assert runs[1]["clip"] == {"mode": "norm", "threshold": MAX_GRAD_NORM}


def test_without_transformers_one_line_names_the_extra():
    code = BLOCK.format(blocked={"transformers"}, module="gradscope.integrations.transformers")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ImportError: gradscope.integrations.transformers needs transformers, which is not installed "
        "(fix: pip install 'torch-gradscope[transformers]')")


@pytest.mark.parametrize("max_grad_norm", [0.0, 1.0])
def test_guard_true_clips_as_the_guard_does_in_a_plain_loop(tmp_path, max_grad_norm):
    """With guard=True the guard clips in place of max_grad_norm (the default 1.0 included): the run is the
    contract's plain loop with `gradscope.Guard`, step for step."""
    steps = 40
    callback = GradscopeCallback(out=tmp_path / "run", report=False, guard=True)
    model = blowup_run(tmp_path, callback, steps=steps, max_grad_norm=max_grad_norm).model

    plain = Regression()
    x, y = regression_data()
    opt = torch.optim.SGD(plain.parameters(), lr=BLOWUP_LR)
    guard = gradscope.Guard(plain)
    for _ in range(steps):
        opt.zero_grad()
        loss = plain(x, y)["loss"]
        loss.backward()
        if guard.step(loss):
            opt.step()
    ours, theirs = callback.monitor.trace, guard.monitor.trace
    assert np.isfinite(ours.column("loss")).all() and len(ours) == steps  # unguarded it overflows at step 8
    for column in ("loss", "grad_norm"):
        np.testing.assert_allclose(ours.column(column), theirs.column(column), rtol=1e-5)
    assert (ours.column("clipped") == theirs.column("clipped")).all() and ours.column("clipped").any()
    assert [(e.step, e.action) for e in callback.guard.events] == [(e.step, e.action) for e in guard.events]
    for a, b in zip(model.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["clip_mode"] == "adaptive"
