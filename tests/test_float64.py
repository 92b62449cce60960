"""A float64 model keeps its precision: its trace holds float64 values, and overflow is judged in float64.

A linear regression in float64 with SGD past its stability limit: the loss multiplies ~7x per step and passes
float32's range (3.4e38) while every value is finite in float64. A plain float64 loop sees no NaN/Inf there, so
neither may gradscope: no `+Inf` loss, no non-finite step, no numpy overflow warning.
"""

from __future__ import annotations

import json
import subprocess
import warnings

import numpy as np
import pandas as pd
import torch
from conftest import gradscope_cmd, subprocess_env
from torch import nn

import gradscope

FLOAT32_MAX = float(np.finfo(np.float32).max)
STEPS = 60

FACTORIES = '''
import torch
from torch import nn


def build_model():
    return nn.Linear(4, 1).double()


def build_data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64) * 30
    return [(x, x.sum(1, keepdim=True))]
'''

CONFIG = f'''
[model]
factory = "factories.py:build_model"

[data]
factory = "factories.py:build_data"

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 0.002

[run]
steps = {STEPS}
'''


def plain_losses() -> list[float]:
    """The same run in a plain float64 loop, with the Monitor recording it."""
    torch.manual_seed(0)
    model = nn.Linear(4, 1).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.002)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g, dtype=torch.float64) * 30
    y = x.sum(1, keepdim=True)
    monitor = gradscope.Monitor(model)
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        monitor.record(loss)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses, monitor


def test_the_monitor_keeps_a_float64_runs_values(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" would be one
        losses, monitor = plain_losses()
        diagnosis = monitor.diagnose()
        out = monitor.save(tmp_path / "run")
    assert max(losses) > 1e60 and np.isfinite(losses).all()  # past float32's range, finite in float64
    kinds = [s.kind.value for s in diagnosis.symptoms]
    assert "exploding_gradient" in kinds and not [k for k in kinds if k.startswith("nonfinite") or k == "norm_overflow"]
    assert diagnosis.summary.first_nonfinite_step is None
    # float64 values, to float64's precision (these are the same operations as the loop's: equal to 1e-12)
    assert np.allclose(monitor.trace.loss, losses, rtol=1e-12)
    trace = pd.read_csv(out / "trace.csv")
    assert np.allclose(trace["loss"], losses, rtol=1e-12) and trace["grad_norm"].max() > FLOAT32_MAX
    assert pd.read_csv(out / "grad_norms.csv")["weight"].max() > FLOAT32_MAX
    assert json.loads((out / "run.json").read_text())["grad_dtype"] == "float64"
    again = gradscope.load_run(out)
    assert again.diagnosis.summary.first_nonfinite_step is None
    growth = next(s for s in diagnosis.symptoms if s.kind.value == "exploding_gradient")
    assert "doubling every 0.0 " not in growth.message and "-" not in growth.message.split("detected")[-1]


def test_the_cli_judges_a_float64_model_in_float64(tmp_path):
    (tmp_path / "factories.py").write_text(FACTORIES)
    (tmp_path / "f64.toml").write_text(CONFIG)
    done = subprocess.run(gradscope_cmd("diagnose", "f64.toml", "--json", "--no-plots", "--out", "run"),
                          cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stderr  # critical: it explodes, in float64 too
    document = json.loads(done.stdout)
    kinds = [s["kind"] for s in document["symptoms"]]
    assert "exploding_gradient" in kinds and "nonfinite_loss" not in kinds, kinds
    assert document["summary"]["first_nonfinite_step"] is None
    assert document["summary"]["final_loss"] > 1e60  # a number, not null + "inf"
    assert "overflow encountered" not in done.stderr and "Warning" not in done.stderr, done.stderr
    assert pd.read_csv(tmp_path / "run" / "trace.csv")["loss"].max() > FLOAT32_MAX


def test_a_float32_model_is_unchanged(tmp_path):
    """float32 runs keep float32 norms (the bit-for-bit match with clip_grad_norm_) and run.json as before."""
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    monitor = gradscope.Monitor(model)
    model(torch.randn(8, 4)).pow(2).mean().backward()
    monitor.record(torch.tensor(1.5))
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
    assert monitor.trace.grad_norm[0] == float(total)
    out = monitor.save(tmp_path / "run")
    assert "grad_dtype" not in json.loads((out / "run.json").read_text())
