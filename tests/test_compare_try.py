"""`gradscope compare --try`: any config change, rerun from the baseline's seed, shown beside it like a clip.

Each --try run is checked against a plain `gradscope diagnose --set ...` of the changed config: the same
seed gives the same initial weights and data order, so the traces are equal number for number.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import MLP_CONFIG
from typer.testing import CliRunner

from gradscope.cli import app

runner = CliRunner()
NUMBERS = ["loss", "grad_norm", "weight_norm", "clipped", "lr"]


def compare_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["compare", *args, "--json", "--no-plots"])
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip() else {"stderr": result.stderr})


def test_try_runs_equal_a_diagnose_of_the_changed_config(write_config, tmp_path):
    config = write_config(MLP_CONFIG.replace("lr = 0.01", "lr = 0.3"))
    code, doc = compare_json(str(config), "--out", str(tmp_path / "cmp"), "--try", "optimizer.lr=0.01",
                             "--try", 'schedule.name="linear";schedule.warmup_steps=10')
    assert code in (0, 1), doc
    labels = [r["label"] for r in doc["runs"]]
    assert labels == ["baseline", "optimizer.lr=0.01", 'schedule.name="linear"; schedule.warmup_steps=10']
    assert [r["clip"] for r in doc["runs"]] == [None, None, None]
    for run, sets in ((doc["runs"][1], ["optimizer.lr=0.01"]),
                      (doc["runs"][2], ['schedule.name="linear"', "schedule.warmup_steps=10"])):
        out = tmp_path / f"plain-{len(sets)}"
        args = ["diagnose", str(config), "--no-plots", "--fail-on", "never", "--out", str(out)]
        for s in sets:
            args += ["--set", s]
        assert runner.invoke(app, args).exit_code == 0
        ours = pd.read_csv(f"{run['run_dir']}/trace.csv")[NUMBERS]
        plain = pd.read_csv(out / "trace.csv")[NUMBERS]
        pd.testing.assert_frame_equal(ours, plain)
    warm = pd.read_csv(f"{doc['runs'][2]['run_dir']}/trace.csv")
    assert warm["lr"].iloc[0] == 0.0 and warm["lr"].iloc[10] == pytest.approx(0.3)


def test_try_keeps_the_baselines_initial_weights_and_data(write_config, tmp_path):
    config = write_config(MLP_CONFIG)
    _, doc = compare_json(str(config), "--out", str(tmp_path / "cmp"), "--try", "optimizer.lr=0.0")
    base = pd.read_csv(f"{doc['runs'][0]['run_dir']}/trace.csv")
    tried = pd.read_csv(f"{doc['runs'][1]['run_dir']}/trace.csv")
    # Step 0 is before any update: same weights, same batch, so the same loss and gradient norm.
    assert tried["loss"].iloc[0] == base["loss"].iloc[0]
    assert tried["grad_norm"].iloc[0] == base["grad_norm"].iloc[0]
    assert tried["weight_norm"].nunique() == 1  # lr 0: the weights never move


def test_a_clip_change_clips_that_run_only(write_config, tmp_path):
    config = write_config(MLP_CONFIG.replace("lr = 0.01", "lr = 0.3"))
    _, doc = compare_json(str(config), "--out", str(tmp_path / "cmp"), "--try", "clip.norm=0.5")
    base, tried = doc["runs"]
    assert base["clipped_fraction"] == 0.0 and tried["clipped_fraction"] > 0


@pytest.mark.parametrize(("value", "message"), [
    ("", "--try '': no change given"),
    (" ; ", "no change given"),
    ("optimizer.lr", "--set 'optimizer.lr': expected TABLE.KEY=VALUE"),
    ("run.stepz=3", "unknown key [run] stepz"),
    ("run.precision=\"fp8\"", "[run] precision must be one of fp32, bf16, fp16"),
])
def test_bad_try_is_one_line_exit_2(write_config, tmp_path, value, message):
    config = write_config(MLP_CONFIG)
    result = runner.invoke(app, ["compare", str(config), "--out", str(tmp_path / "cmp"), "--try", value])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_try_does_not_apply_to_recorded_runs(write_config, tmp_path):
    config = write_config(MLP_CONFIG)
    for name in ("a", "b"):
        runner.invoke(app, ["diagnose", str(config), "--no-plots", "--out", str(tmp_path / name)])
    result = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--try", "optimizer.lr=1"])
    assert result.exit_code == 2
    assert "--try reruns a config and cannot be used with runs already done" in result.stderr
