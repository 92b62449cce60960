"""activation_overflow: a model that silently stops training under fp16 (a hand-written RMSNorm whose x.pow(2)
passes 65,504 on raw features: rsqrt(inf) = 0 zeroes its rows, the loss and gradients stay finite, the GradScaler
settles) is not healthy, and the op, module and dtype are named; its fp32 and bf16 twins are healthy; the replay
that finds it leaves the run's trace equal to a plain torch loop's."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from symptom_traces import make_trace
from torch import nn
from typer.testing import CliRunner

from gradscope.cli import app
from gradscope.diagnose.symptoms.hidden_overflow import ACTIVATION_OVERFLOW, detect_activation_overflow
from gradscope.levels import Severity
from gradscope.trace.trace import Event

FACTORIES = '''
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def build_model(width=16):
    return nn.Sequential(nn.Linear(8, width), RMSNorm(width), nn.GELU(), nn.Linear(width, width), RMSNorm(width),
                         nn.GELU(), nn.Linear(width, 3))


def build_data(n=192, batch_size=32, scale=1000.0):
    g = torch.Generator().manual_seed(0)
    centres = 0.7 * torch.randn(3, 8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    x = (centres[labels] + torch.randn(n, 8, generator=g)) * scale  # raw, unstandardised readings
    return [(x[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, n, batch_size)]
'''

STEPS = 30


def config(precision: str) -> str:
    return f"""
[model]
factory = "factories.py:build_model"
[data]
factory = "factories.py:build_data"
shuffle = false
[loss]
name = "CrossEntropyLoss"
[optimizer]
name = "Adam"
lr = 0.01
[run]
steps = {STEPS}
seed = 0
device = "cpu"
precision = "{precision}"
"""


def diagnose(tmp_path, precision: str) -> tuple[int, dict, str]:
    (tmp_path / "factories.py").write_text(FACTORIES)
    path = tmp_path / f"{precision}.toml"
    path.write_text(config(precision))
    runner = CliRunner()
    out = tmp_path / f"run_{precision}"
    text = runner.invoke(app, ["diagnose", str(path), "--no-plots", "--out", str(out)], env={"COLUMNS": "200"})
    doc = json.loads((out / "diagnosis.json").read_text())
    return text.exit_code, doc, text.output


def plain_fp16_loop(tmp_path) -> tuple[list[float], list[float], list[bool]]:
    """The loop a user writes: autocast fp16 forward and loss, GradScaler("cpu"), Adam."""
    namespace: dict = {}
    exec(FACTORIES, namespace)
    torch.manual_seed(0)
    model, batches = namespace["build_model"](), namespace["build_data"]()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu")
    losses, norms, skipped = [], [], []
    for step in range(STEPS):
        x, y = batches[step % len(batches)]
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.CrossEntropyLoss()(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])))
        before = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
        skipped.append(scaler.get_scale() < before)
    return losses, norms, skipped


def test_the_silent_fp16_stall_is_critical_and_names_the_op_and_module(tmp_path) -> None:
    code, doc, output = diagnose(tmp_path, "fp16")
    symptom = next(s for s in doc["symptoms"] if s["kind"] == "activation_overflow")
    assert doc["verdict"] == "critical" and code == 1
    assert symptom["severity"] == "critical" and symptom["module"] == "1" and symptom["step"] == STEPS - 1
    ev = symptom["evidence"]
    assert (ev["op"], ev["dtype"], ev["phase"], ev["module_type"]) == ("aten.pow", "float16", "forward", "RMSNorm")
    assert ev["inf"] > 0 and ev["numel"] == 32 * 16 and 256 < ev["input_max"] < 65504 and ev["stalled"]
    # nothing else in the run says so: the loss and the gradients stayed finite, nothing non-finite was reported
    assert doc["summary"]["first_nonfinite_step"] is None
    assert not any(s["kind"].startswith("nonfinite") for s in doc["symptoms"])
    assert "activation_overflow" in output and "float16 overflow hidden in module 1 (RMSNorm)" in output
    assert "aten.pow produced" in output and 'precision = "bf16"' in output
    # the rows it zeroes pass no gradient back: vanishing gradients, whose cause is the overflow, not the activation
    vanishing = next(s for s in doc["symptoms"] if s["kind"] == "vanishing_gradient")
    assert vanishing["advice"].startswith("these gradients are zero behind the overflow hidden in module 1 (RMSNorm)")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_its_fp32_and_bf16_twins_are_healthy(tmp_path, precision) -> None:
    code, doc, output = diagnose(tmp_path, precision)
    assert (code, doc["verdict"], doc["symptoms"]) == (0, "healthy", [])
    assert doc["summary"]["final_loss"] < 0.7 * doc["summary"]["initial_loss"]  # it trains


def test_the_replay_leaves_the_trace_equal_to_a_plain_loop(tmp_path) -> None:
    losses, norms, skipped = plain_fp16_loop(tmp_path)
    diagnose(tmp_path, "fp16")
    rows = (tmp_path / "run_fp16" / "trace.csv").read_text().splitlines()
    header = rows[0].split(",")
    table = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
    column = {name: table[:, i] for i, name in enumerate(header)}
    used = ~np.array(skipped)
    np.testing.assert_allclose(column["loss"], losses, rtol=1e-6)
    np.testing.assert_allclose(column["grad_norm"][used], np.array(norms)[used], rtol=1e-6)
    assert list(column["amp_skipped"].astype(bool)) == skipped


def overflow_event(step: int) -> Event:
    op = {"op": "aten.pow", "phase": "forward", "dtype": "float16", "inf": 40, "nan": 0, "numel": 512,
          "input_max": 700.0, "module": "blocks.0.norm", "module_type": "RMSNorm"}
    return Event("activation_overflow", step, module="blocks.0.norm", stage="forward", op=op)


def test_a_run_that_still_trains_with_it_is_a_warning_and_no_event_is_no_symptom() -> None:
    falling = np.linspace(2.0, 0.8, 60)
    [symptom] = detect_activation_overflow(make_trace(falling, events=[overflow_event(59)]))
    assert symptom.kind is ACTIVATION_OVERFLOW and symptom.severity is Severity.WARNING
    assert symptom.module == "blocks.0.norm" and not symptom.evidence["stalled"]
    [flat] = detect_activation_overflow(make_trace(np.full(60, 1.1), events=[overflow_event(59)]))
    assert flat.severity is Severity.CRITICAL and math.isclose(flat.evidence["improvement"], 0.0, abs_tol=1e-12)
    assert "aten.pow" in flat.evidence_line and "40 of 512 float16 values" in flat.evidence_line
    assert detect_activation_overflow(make_trace(np.full(60, 1.1))) == []
