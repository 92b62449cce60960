"""Config: discovery, `--set` overrides parsed as TOML, paths relative to the config, defaults, resolved config.

Library-level checks call `gradscope.config.load` directly; the behaviour a user sees goes through the real
`diagnose` command (`CliRunner`) on real files, with `monkeypatch.chdir` for discovery.
"""

from __future__ import annotations

import json
import textwrap
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import MLP_CONFIG, MLP_FACTORIES
from typer.testing import CliRunner

from gradscope.cli import app
from gradscope.clip.setting import Clip
from gradscope.config.load import ConfigError, apply_overrides, find_config, load_config, parse_override

runner = CliRunner()


def diagnose(*args: str | Path):
    """Run `gradscope diagnose ... --json --no-plots`; return the parsed document (exit 0 or 1 expected)."""
    result = runner.invoke(app, ["diagnose", *map(str, args), "--json", "--no-plots"])
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr, result.exception)
    return json.loads(result.stdout)


def with_steps(steps: int, body: str = MLP_CONFIG) -> str:
    return textwrap.dedent(body).replace("steps = 30", f"steps = {steps}")


# --- discovery -------------------------------------------------------------------------------------------


def test_discovers_gradscope_toml_in_the_current_folder(tmp_path, write_config, monkeypatch):
    write_config(with_steps(4))
    monkeypatch.chdir(tmp_path)
    document = diagnose("--out", "run")
    assert document["steps_completed"] == 4
    assert document["run_dir"] == "run"
    assert (tmp_path / "run" / "trace.csv").is_file()


def _pyproject(steps: int) -> str:
    """MLP_CONFIG as the [tool.gradscope] table of a pyproject.toml."""
    body = with_steps(steps)
    for table in ("model", "data", "loss", "optimizer", "run"):
        body = body.replace(f"[{table}]", f"[tool.gradscope.{table}]")
    return '[project]\nname = "mine"\nversion = "0.1"\n' + body


def test_discovers_tool_gradscope_in_pyproject(tmp_path, write_config, monkeypatch):
    write_config(_pyproject(3), name="pyproject.toml")
    monkeypatch.chdir(tmp_path)
    raw, source, base = find_config(None)
    assert (source, base) == ("pyproject.toml [tool.gradscope]", tmp_path)
    assert raw["run"]["steps"] == 3
    assert diagnose("--out", "run")["steps_completed"] == 3


def test_gradscope_toml_wins_over_pyproject(tmp_path, write_config, monkeypatch):
    write_config(_pyproject(3), name="pyproject.toml")
    write_config(with_steps(5))
    monkeypatch.chdir(tmp_path)
    assert load_config(None).source == "gradscope.toml"
    assert diagnose("--out", "run")["steps_completed"] == 5


def test_discovery_looks_in_the_current_folder_only(tmp_path, write_config, monkeypatch):
    write_config(with_steps(3))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ConfigError, match=r"^no config found: "):
        load_config(None)


def test_explicit_pyproject_uses_its_tool_gradscope_table(tmp_path, write_config, monkeypatch):
    path = write_config(_pyproject(2), name="pyproject.toml")
    monkeypatch.chdir(tmp_path.parent)
    config = load_config(path)
    assert config.source == f"{path} [tool.gradscope]"
    assert config.run.steps == 2
    assert config.name == tmp_path.name


# --- --set overrides -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("optimizer.lr=0.5", ["optimizer", "lr"], 0.5),
        ("optimizer.lr=1e-3", ["optimizer", "lr"], 0.001),
        ("run.steps=50", ["run", "steps"], 50),
        ("data.shuffle=false", ["data", "shuffle"], False),
        ("optimizer.name=Adam", ["optimizer", "name"], "Adam"),
        ('optimizer.name="Adam"', ["optimizer", "name"], "Adam"),
        ("model.factory=net.py:build", ["model", "factory"], "net.py:build"),
        ("model.kwargs.activation=tanh", ["model", "kwargs", "activation"], "tanh"),
        ("model.kwargs={ width = 8, depth = 1 }", ["model", "kwargs"], {"width": 8, "depth": 1}),
        ("optimizer.betas=[0.9, 0.99]", ["optimizer", "betas"], [0.9, 0.99]),
        (" run.device = cpu ", ["run", "device"], "cpu"),
    ],
)
def test_set_values_are_parsed_as_toml(text, key, value):
    parsed_key, parsed = parse_override(text)
    assert parsed_key == key
    assert parsed == value
    assert type(parsed) is type(value)  # 0.5 is a float, 50 an int, false a bool: not strings


def test_set_applies_to_any_key_and_keeps_the_rest(tmp_path, write_config):
    config = write_config(MLP_CONFIG.replace('factory = "factories.py:build_model"',
                                             'factory = "factories.py:build_model"\nkwargs = { width = 8 }'))
    loaded = load_config(config, ["optimizer.lr=0.5", "model.kwargs.depth=1", "clip.norm=2", "run.seed=7"])
    assert loaded.optimizer.options == {"lr": 0.5}
    assert isinstance(loaded.optimizer.options["lr"], float)
    assert loaded.model.kwargs == {"width": 8, "depth": 1}
    assert (loaded.clip, loaded.run.seed) == (Clip("norm", 2.0), 7)


def test_apply_overrides_does_not_touch_the_original():
    raw = {"run": {"steps": 3}}
    merged = apply_overrides(raw, ["run.steps=9", "optimizer.lr=0.1"])
    assert raw == {"run": {"steps": 3}}
    assert merged == {"run": {"steps": 9}, "optimizer": {"lr": 0.1}}


def test_set_and_steps_reach_the_run(tmp_path, write_config):
    config = write_config(MLP_CONFIG)
    document = diagnose(config, "--out", tmp_path / "a", "--set", "run.steps=6", "--set", "optimizer.lr=0.5")
    assert document["steps_completed"] == 6
    assert pd.read_csv(tmp_path / "a" / "trace.csv")["lr"].tolist() == [0.5] * 6
    # --steps beats both the file and --set
    assert diagnose(config, "--out", tmp_path / "b", "--set", "run.steps=6", "--steps", "2")["steps_completed"] == 2


# --- paths -----------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "models" / "net.py").write_text(MLP_FACTORIES)
    config = project / "configs" / "small.toml"
    config.write_text(with_steps(3).replace("factories.py", "../models/net.py")
                      .replace("[data]", 'checkpoint = "weights.pt"\n\n[data]'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    loaded = load_config(Path("..") / "project" / "configs" / "small.toml")
    assert loaded.base_dir == project / "configs"
    assert loaded.model.checkpoint == project / "configs" / "weights.pt"
    assert loaded.name == "small"
    assert loaded.model.factory == "../models/net.py:build_model"  # kept as written; resolved when imported


def test_factories_are_found_relative_to_the_config_not_the_cwd(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "models" / "net.py").write_text(MLP_FACTORIES)
    config = project / "configs" / "small.toml"
    config.write_text(with_steps(3).replace("factories.py", "../models/net.py"))
    monkeypatch.chdir(tmp_path)
    document = diagnose("project/configs/small.toml", "--out", "run")
    assert document["steps_completed"] == 3
    assert (tmp_path / "run" / "trace.csv").is_file()


def test_csv_source_path_is_relative_to_the_config(tmp_path, monkeypatch):
    import numpy as np

    data_dir = tmp_path / "cfg" / "data"
    data_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(64, 3)), columns=["a", "b", "c"])
    frame["price"] = frame.sum(axis=1)
    frame.to_csv(data_dir / "houses.csv", index=False)
    (tmp_path / "cfg" / "net.py").write_text("from torch import nn\n\ndef build():\n    return nn.Linear(3, 1)\n")
    config = tmp_path / "cfg" / "gradscope.toml"
    config.write_text(textwrap.dedent("""
        [model]
        factory = "net.py:build"
        [data]
        source = "csv"
        path = "data/houses.csv"
        target = "price"
        batch_size = 16
        [loss]
        name = "MSELoss"
        [optimizer]
        name = "SGD"
        lr = 0.01
        [run]
        steps = 5
    """))
    monkeypatch.chdir(tmp_path)
    loaded = load_config(Path("cfg/gradscope.toml"))
    assert loaded.data.path == data_dir / "houses.csv"
    assert (loaded.data.standardize, loaded.name) == (False, "cfg")
    assert diagnose("cfg/gradscope.toml", "--out", "run")["steps_completed"] == 5


# --- defaults --------------------------------------------------------------------------------------------


def test_defaults(tmp_path, write_config):
    config = write_config("""
        [model]
        factory = "factories.py:build_model"
        [data]
        factory = "factories.py:build_data"
        [optimizer]
        name = "SGD"
    """)
    loaded = load_config(config)
    assert (loaded.run.steps, loaded.run.seed, loaded.run.device, loaded.run.threads) == (200, 0, "auto", None)
    assert (loaded.data.batch_size, loaded.data.shuffle, loaded.data.source) == (32, True, None)
    assert (loaded.data.kwargs, loaded.model.kwargs, loaded.model.checkpoint) == ({}, {}, None)
    assert (loaded.loss.name, loaded.loss.step, loaded.loss.kwargs) == (None, None, {})
    assert (loaded.optimizer.name, loaded.optimizer.options) == ("SGD", {})
    assert loaded.clip is None
    assert loaded.name == tmp_path.name  # gradscope.toml is named after its folder
    assert loaded.source == str(config)


def test_default_run_folder_is_named_by_config_under_gradscope_runs(tmp_path, write_config, monkeypatch):
    write_config(with_steps(2), name="tiny.toml")
    monkeypatch.chdir(tmp_path)
    first = diagnose("tiny.toml")["run_dir"]
    second = diagnose("tiny.toml")["run_dir"]
    for run_dir in (first, second):
        assert run_dir.startswith("gradscope-runs/") and "tiny" in Path(run_dir).name
        assert (tmp_path / run_dir / "diagnosis.json").is_file()
    assert first != second  # a new folder each time, never an existing one


# --- the resolved config -----------------------------------------------------------------------------------


def test_resolved_config_is_written_and_reruns_from_anywhere(tmp_path, write_config, monkeypatch):
    config = write_config(MLP_CONFIG)
    first = tmp_path / "first"
    diagnose(config, "--out", first, "--steps", "5", "--set", "optimizer.lr=0.05", "--set", "model.kwargs.width=8")
    resolved_path = first / "resolved_config.toml"
    resolved = tomllib.loads(resolved_path.read_text())
    assert resolved["model"] == {"factory": f"{tmp_path / 'factories.py'}:build_model", "kwargs": {"width": 8}}
    assert resolved["optimizer"] == {"name": "SGD", "lr": 0.05}
    assert resolved["run"] == {"steps": 5, "seed": 0, "device": "auto", "precision": "fp32", "accumulate": 1}
    assert resolved["data"]["batch_size"] == 32 and resolved["data"]["shuffle"] is True
    assert "clip" not in resolved

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    document = diagnose(resolved_path, "--out", "again")
    assert document["steps_completed"] == 5
    columns = ["step", "loss", "grad_norm", "weight_norm", "lr"]
    pd.testing.assert_frame_equal(pd.read_csv(first / "trace.csv")[columns],
                                  pd.read_csv(elsewhere / "again" / "trace.csv")[columns])
    assert tomllib.loads((elsewhere / "again" / "resolved_config.toml").read_text()) == resolved


def test_a_bad_set_value_is_named_by_fields_not_by_its_text(write_config):
    """The error carries the file, table and key it is about; a --set that gave the value claims it."""
    config = write_config(MLP_CONFIG)
    with pytest.raises(ConfigError) as bad_file:
        load_config(config, ["run.steps=-3"])
    assert (bad_file.value.file, bad_file.value.table, bad_file.value.key) == (str(config), "run", "steps")
    assert str(bad_file.value).startswith(f"{config} with --set run.steps=-3: [run] steps must be")
    with pytest.raises(ConfigError) as elsewhere:  # the file's own bad value: no --set claims it
        load_config(write_config(MLP_CONFIG.replace("seed = 0", "seed = 0\ndevice = \"tpu\"")), ["run.steps=5"])
    assert elsewhere.value.key == "device" and "with --set" not in str(elsewhere.value)
