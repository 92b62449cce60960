"""Values that pass a type check but that torch, numpy or the filesystem cannot take: one line and exit 2.

Each of these once ended in a traceback from gradscope's internals (issue 14): integers too large for a C long,
floats that are inf in float32, a budget of inf, optimizer options of the wrong shape, a model with nothing to
train, an --out that cannot be written, a disk that fills up while the trace streams.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from gradscope.cli import app
from tests.conftest import MLP_CONFIG, gradscope_cmd, subprocess_env

runner = CliRunner()


def one_line_exit_2(result, pattern: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize(("override", "pattern"), [
    ("run.threads=99999999999999999999", r"\[run\] threads = 99999999999999999999 is too large \(fix: at most 1,024\)"),
    ("run.seed=99999999999999999999999", r"\[run\] seed = .* is too large"),
    ("run.steps=99999999999999", r"\[run\] steps = 99999999999999 is too large \(fix: at most 1,000,000,000\)"),
    ("data.batch_size=99999999999999999999", r"\[data\] batch_size = .* is too large"),
    ("clip.norm=1e300", r"\[clip\] norm = 1e\+300 is too large"),
    ("clip.value=inf", r"\[clip\] value must be a positive number, got inf"),
    ("optimizer.lr=1e300", r"\[optimizer\] lr = 1e\+300 is not a number torch can use"),
    ("optimizer.lr=nan", r"\[optimizer\] lr = nan is not a number torch can use"),
    ("optimizer.momentum=-1.0", r"\[optimizer\] SGD: Invalid momentum value: -1\.0"),
    ("run.accumulate=99999999", r"\[run\] accumulate = 99999999 is too large"),
])
def test_out_of_range_values_are_config_errors(write_config, tmp_path, override, pattern):
    config = write_config(MLP_CONFIG)
    result = runner.invoke(app, ["diagnose", str(config), "--steps", "2", "--no-plots", "--out",
                                 str(tmp_path / "out"), "--set", override])
    one_line_exit_2(result, pattern)


def test_optimizer_option_of_the_wrong_shape(write_config, tmp_path):
    config = write_config(MLP_CONFIG.replace('name = "SGD"', 'name = "Adam"'))
    result = runner.invoke(app, ["diagnose", str(config), "--steps", "2", "--no-plots", "--out",
                                 str(tmp_path / "out"), "--set", "optimizer.betas=[0.9]"])
    one_line_exit_2(result, r"\[optimizer\] Adam: list index out of range \(fix: check the options of "
                            r"torch\.optim\.Adam\)")


@pytest.mark.parametrize("budget", ["inf", "nan", "1e9"])
def test_recommend_budget_must_be_finite(write_config, budget):
    config = write_config(MLP_CONFIG)
    result = runner.invoke(app, ["recommend", str(config), "--budget", budget])
    one_line_exit_2(result, r"--budget must be at least 1\.5 and at most 1000 diagnose runs")


NOTHING_TO_TRAIN = '''
import torch
from torch import nn


def frozen():
    model = nn.Linear(4, 1)
    model.requires_grad_(False)
    return model


def no_parameters():
    return nn.ReLU()


def build_data():
    x = torch.randn(64, 4)
    return [(x[i:i + 16], x[i:i + 16].sum(1, keepdim=True)) for i in range(0, 64, 16)]
'''


@pytest.mark.parametrize("factory", ["frozen", "no_parameters"])
def test_a_model_with_nothing_to_train(write_config, tmp_path, factory):
    body = MLP_CONFIG.replace("factories.py:build_model", f"factories.py:{factory}")
    config = write_config(body, factories=NOTHING_TO_TRAIN)
    result = runner.invoke(app, ["diagnose", str(config), "--no-plots", "--out", str(tmp_path / "out")])
    one_line_exit_2(result, rf"\[model\] factory: factories\.py:{factory} returned a model with nothing to train")


def test_out_under_a_file_or_in_proc(write_config, tmp_path):
    config = write_config(MLP_CONFIG)
    (tmp_path / "a_file").write_text("not a folder")
    for out, why in ((tmp_path / "a_file" / "run", "Not a directory"), ("/proc/gradscope-run", "")):
        result = runner.invoke(app, ["diagnose", str(config), "--steps", "2", "--no-plots", "--out", str(out)])
        one_line_exit_2(result, rf"cannot write {re.escape(str(out))}.*{why}.*\(fix: pass --out a folder you can "
                                "write to\\)")


def _limit_file_size() -> None:
    # Writes past 200 kB fail with EFBIG, as on a full disk; SIGXFSZ would kill the process instead.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_disk_full_while_streaming_keeps_what_was_recorded(write_config, tmp_path):
    # 48 parameters' norms per step: grad_norms.csv passes 200 kB after a few hundred steps.
    body = MLP_CONFIG.replace("steps = 30", "steps = 2000")
    config = write_config(body.replace('factory = "factories.py:build_model"',
                                       'factory = "factories.py:build_model"\nkwargs = { depth = 23 }'))
    out = tmp_path / "out"
    proc = subprocess.run(gradscope_cmd("diagnose", str(config), "--no-plots", "--out", str(out)),
                          capture_output=True, text=True, env=subprocess_env(), preexec_fn=_limit_file_size,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"cannot write .*: File too large \(fix: free some space", proc.stderr), proc.stderr
    trace = pd.read_csv(out / "trace.csv")
    assert 10 < len(trace) < 2000
    assert list(trace["step"]) == list(range(len(trace)))


def test_a_utf8_bom_is_not_a_toml_error(write_config, tmp_path):
    config = write_config(MLP_CONFIG)
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())  # what Notepad writes
    result = runner.invoke(app, ["diagnose", str(config), "--steps", "2", "--no-plots", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
