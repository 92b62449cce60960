"""Bad input is exit 2 with one line on stderr naming the file/key and the fix; user code that raises is exit 3.

Every case runs the real `diagnose` command through `CliRunner` on real files in a tmp folder. Bad input must
stop before anything runs: nothing on stdout, no traceback. User code that raises must name the step and show
the user's own frame (their file and line), none of gradscope's or torch's, and leave a readable partial run.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import MLP_CONFIG, MLP_FACTORIES
from typer.testing import CliRunner

import gradscope
from gradscope.cli import app

runner = CliRunner()
PACKAGE_DIR = str(Path(gradscope.__file__).resolve().parent)
TORCH_DIR = str(Path(torch.__file__).resolve().parent)


def invoke(*args: str | Path):
    return runner.invoke(app, ["diagnose", *map(str, args)])


def assert_one_line_error(result, pattern: str) -> str:
    """Exit 2, nothing on stdout, exactly one `Error: ...` line on stderr that matches `pattern`."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.stderr
    assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"
    return lines[0]


# --- the config file itself -------------------------------------------------------------------------------


def test_missing_config_file(tmp_path):
    result = invoke(tmp_path / "nope.toml", "--out", tmp_path / "run")
    assert_one_line_error(result, r"nope\.toml: config file does not exist \(fix: check the path, or list "
                                  r"samples with `gradscope samples`\)$")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("pyproject", [None, "[project]\nname = 'x'\n", "[tool.gradscope]\n"],
                         ids=["empty-folder", "pyproject-without-table", "pyproject-empty-table"])
def test_no_config_found_shows_how_to_start(tmp_path, monkeypatch, pyproject):
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(invoke(), r"^Error: no config found")
    assert "gradscope diagnose path/to/gradscope.toml" in line  # how to pass one
    assert "./gradscope.toml" in line and "[tool.gradscope]" in line  # how to start one
    assert "gradscope samples" in line and "gradscope diagnose --sample NAME" in line  # how to run a sample
    assert not (tmp_path / "gradscope-runs").exists()


def test_directory_as_config_points_at_the_file_inside(tmp_path, write_config):
    config = write_config(MLP_CONFIG)
    line = assert_one_line_error(invoke(tmp_path), r"is a directory, not a TOML file \(fix: pass the config file")
    assert line == f"Error: {tmp_path}: is a directory, not a TOML file (fix: pass the config file, e.g. {config})"


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (bytes(range(256)), r"bin\.toml: is not a text file \(fix: pass a TOML config such as gradscope\.toml\)"),
        (b"\x00\x01model\x00", r"bin\.toml: is a binary file, not TOML \(fix: pass a TOML config"),
        (torch.zeros(3).numpy().tobytes() + b"\xff\xfe", r"bin\.toml: is not a text file"),
    ],
    ids=["not-utf8", "nul-bytes", "tensor-bytes"],
)
def test_binary_file_as_config(tmp_path, content, pattern):
    path = tmp_path / "bin.toml"
    path.write_bytes(content)
    assert_one_line_error(invoke(path), pattern)


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[model]\nfactory = "factories.py:build_model"\n[run\nsteps = 3\n')
    line = assert_one_line_error(invoke(path), r"broken\.toml: invalid TOML: .*\(at line 3, column \d+\) "
                                               r"\(fix: correct the syntax on that line\)$")
    assert str(path) in line


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n"], ids=["empty", "blank", "comment-only"])
def test_empty_config(tmp_path, text):
    path = tmp_path / "empty.toml"
    path.write_text(text)
    assert_one_line_error(invoke(path), r"empty\.toml: is empty \(fix: add at least \[model\] factory, \[data\] "
                                        r"and \[optimizer\]")


# --- keys and values -----------------------------------------------------------------------------------

# (what to change in MLP_CONFIG, the message it must give). The line always starts with the config's path.
CONFIG_CASES = [
    pytest.param('[optimiser]\nlr = 0.1\n', r'unknown table \[optimiser\] \(did you mean "optimizer"\?\) '
                 r"\(fix: use \[model\], \[data\], \[loss\], \[optimizer\], \[run\], \[clip\], \[schedule\]\)$",
                 id="unknown-table"),
    pytest.param(("steps = 30", "step = 30"), r'unknown key \[run\] step \(did you mean "steps"\?\) '
                 r"\(fix: valid keys are steps, seed, device, threads, precision, accumulate, parallel\)$",
                 id="unknown-key"),
    pytest.param(("[data]", "[data]\nbatchsize = 8"), r'unknown key \[data\] batchsize \(did you mean '
                 r'"batch_size"\?\)', id="unknown-key-data"),
    pytest.param(("steps = 30", 'steps = "ten"'), r"\[run\] steps must be a positive integer, got 'ten' "
                 r"\(fix: e\.g\. steps = 200\)$", id="wrong-type-steps"),
    pytest.param(("[data]", '[data]\nshuffle = "yes"'), r"\[data\] shuffle must be true or false, got 'yes'$",
                 id="wrong-type-bool"),
    pytest.param(('factory = "factories.py:build_model"', 'factory = "factories.py:build_model"\nkwargs = 3'),
                 r"\[model\] kwargs must be a table, e\.g\. \{ hidden = 64 \}, got 3$", id="wrong-type-table"),
    pytest.param(("lr = 0.01", 'lr = "fast"'), r"\[optimizer\] lr must be a number for SGD, got \"fast\" "
                 r"\(fix: e\.g\. lr = ", id="wrong-type-optimizer-option"),
    pytest.param(("lr = 0.01", "lr = 0.01\nnesterov = 1"), r"\[optimizer\] nesterov must be true or false for "
                 r"SGD, got 1", id="wrong-type-optimizer-flag"),
    pytest.param(("steps = 30", "steps = -3"), r"\[run\] steps must be a positive integer, got -3 "
                 r"\(fix: e\.g\. steps = 200\)$", id="negative-steps"),
    pytest.param(("steps = 30", "steps = 0"), r"\[run\] steps must be a positive integer, got 0", id="zero-steps"),
    pytest.param(("seed = 0", 'seed = 0\ndevice = "gpu"'), r"\[run\] device must be one of auto, cpu, cuda, mps, "
                 r"got 'gpu'", id="bad-device"),
    pytest.param(("[run]", "[clip]\nnorm = -1.0\n[run]"), r"\[clip\] norm must be a positive number, got -1\.0",
                 id="negative-clip"),
    pytest.param(('factory = "factories.py:build_model"', 'factory = "factories.py"'),
                 r"\[model\] factory = 'factories\.py' is not an import path \(fix: use \"package\.module:attribute\" "
                 r'or "path/to/file\.py:attribute"\)$', id="not-an-import-path"),
    pytest.param(('factory = "factories.py:build_model"', 'factory = "nofile.py:build_model"'),
                 r"\[model\] factory: file nofile\.py of 'nofile\.py:build_model' does not exist \(looked in .*; "
                 r"fix: paths are relative to the config file's folder\)$", id="import-file-missing"),
    pytest.param(('factory = "factories.py:build_model"', 'factory = "factories.py:build_modle"'),
                 r"\[model\] factory: factories\.py has no attribute 'build_modle' \(did you mean \"build_model\"\?\) "
                 r"\(fix: point 'factories\.py:build_modle' at a name defined in factories\.py\)$",
                 id="import-attribute-missing"),
    pytest.param(('factory = "factories.py:build_data"', 'factory = "factories.py:load_data"'),
                 r"\[data\] factory: factories\.py has no attribute 'load_data'", id="data-attribute-missing"),
    pytest.param(('factory = "factories.py:build_model"', 'factory = "no_such_module_xyz:build"'),
                 r"\[model\] factory: module 'no_such_module_xyz' not found", id="import-module-missing"),
    pytest.param(('factory = "factories.py:build_model"', ('factory = "factories.py:build_model"\n'
                  "kwargs = { widht = 8 }")),
                 r"\[model\] factory: build_model\(\) has no parameter 'widht' \(did you mean \"width\"\?\) "
                 r"\(fix: valid names are width, depth, activation, init_std\)$", id="factory-kwarg-typo"),
    pytest.param(('name = "SGD"', 'name = "Adamm"'),
                 r"\[optimizer\] name: 'Adamm' is not a torch\.optim optimizer \(did you mean \"Adam\"\?\) "
                 r"\(fix: e\.g\. SGD, Adam, AdamW, or an import path\)$", id="unknown-optimizer"),
    pytest.param(('name = "MSELoss"', 'name = "MSELos"'),
                 r"\[loss\] name: 'MSELos' is not a torch\.nn loss \(did you mean \"MSELoss\"\?\)", id="unknown-loss"),
    pytest.param(("lr = 0.01", "lr = 0.01\nmomentun = 0.9"),
                 r"\[optimizer\] momentun is not an option of SGD \(did you mean \"momentum\"\?\) "
                 r"\(fix: valid options are lr, momentum, ", id="optimizer-option-typo"),
    pytest.param(('name = "MSELoss"', 'name = "MSELoss"\nreductoin = "sum"'),
                 r"\[loss\] reductoin is not an option of MSELoss \(did you mean \"reduction\"\?\)",
                 id="loss-option-typo"),
    pytest.param(('name = "MSELoss"', 'name = "MSELoss"\nreduction = "avg"'),
                 r"\[loss\] reduction must be one of mean, sum, none, got 'avg'", id="loss-reduction"),
]


@pytest.mark.parametrize(("change", "pattern"), CONFIG_CASES)
def test_bad_config_value(tmp_path, write_config, change, pattern):
    if isinstance(change, tuple):
        old, new = change
        body = textwrap.dedent(MLP_CONFIG)
        assert old in body
        body = body.replace(old, new, 1)
    else:
        body = textwrap.dedent(MLP_CONFIG) + change
    config = write_config(body, name="bad.toml")
    line = assert_one_line_error(invoke(config, "--out", tmp_path / "run", "--no-plots"), pattern)
    assert line.startswith(f"Error: {config}: ")


def test_factory_argument_missing_from_kwargs(tmp_path, write_config):
    factories = MLP_FACTORIES + "\n\ndef build_sized(hidden):\n    return build_model(width=hidden)\n"
    config = write_config(MLP_CONFIG.replace("factories.py:build_model", "factories.py:build_sized"),
                          factories=factories)
    line = assert_one_line_error(invoke(config, "--no-plots", "--out", tmp_path / "run"),
                                 r"\[model\] factory: build_sized\(\) needs hidden \(fix: add it to the kwargs "
                                 r"table\)$")
    assert line.startswith(f"Error: {config}: ")


# --- command-line options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--steps", "0"], r"^Error: --steps must be a positive integer, got 0 \(fix: e\.g\. --steps 100\)$"),
        (["--steps", "-5"], r"^Error: --steps must be a positive integer, got -5"),
        (["--set", "run.steps=-3"], (r"bad\.toml with --set run\.steps=-3: \[run\] steps must be a positive "
                                    r"integer, got -3 \(fix: e\.g\. steps = 200\)$")),
        (["--set", "run.steps"], (r"^Error: --set 'run\.steps': expected TABLE\.KEY=VALUE, e\.g\. --set "
                                 r"run\.steps=50 or --set optimizer\.lr=0\.01$")),
        (["--set", "steps=3"], r"^Error: --set 'steps=3': expected TABLE\.KEY=VALUE"),
        (["--set", "run.steps="], r"^Error: --set 'run\.steps=': expected TABLE\.KEY=VALUE"),
        (["--set", "=3"], r"^Error: --set '=3': expected TABLE\.KEY=VALUE"),
        (["--set", "run.device=a b"], (r"^Error: --set 'run\.device=a b': 'a b' is not a TOML value \(fix: quote "
                                      r"strings")),
        (["--set", "run.steps.x=3"], r"^Error: --set 'run\.steps\.x=3': steps is a value, not a table$"),
        (["--set", "run.stepz=3"], (r'bad\.toml with --set run\.stepz=3: unknown key \[run\] stepz '
                                   r'\(did you mean "steps"\?\)')),
        (["--set", "trian.steps=3"], r"bad\.toml with --set trian\.steps=3: unknown table \[trian\]"),
        (["--fail-on", "warn"], (r'^Error: --fail-on \'warn\' is not a level \(did you mean "warning"\?\) '
                                r"\(fix: one of never, warning, critical\)$")),
        (["--fail-on", "error"], r"^Error: --fail-on 'error' is not a level \(fix: one of never, warning, critical\)$"),
        (["--sample", "healthy_mpl"], (r"^Error: --sample 'healthy_mpl': no such sample \(did you mean "
                                      r'"healthy_mlp"\?\) \(fix: one of .*healthy_mlp.*; see gradscope samples\)$')),
    ],
    ids=["steps-0", "steps-negative", "set-steps-negative", "set-no-equals", "set-no-table", "set-no-value",
         "set-no-key", "set-not-toml", "set-into-value", "set-unknown-key", "set-unknown-table", "fail-on-typo",
         "fail-on-unknown", "sample-unknown"],
)
def test_bad_option(tmp_path, write_config, args, pattern):
    config = write_config(MLP_CONFIG, name="bad.toml")
    if args[0] == "--sample":
        result = runner.invoke(app, ["diagnose", *args])
    else:
        result = invoke(config, *args, "--out", tmp_path / "run")
    assert_one_line_error(result, pattern)
    assert not (tmp_path / "run").exists()


def test_out_is_an_existing_file(tmp_path, write_config):
    config = write_config(MLP_CONFIG)
    (tmp_path / "notes.txt").write_text("mine\n")
    assert_one_line_error(invoke(config, "--out", tmp_path / "notes.txt"),
                          rf"^Error: --out {re.escape(str(tmp_path / 'notes.txt'))}: is a file, not a folder \(fix: ")
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_config_and_sample_together(tmp_path, write_config):
    config = write_config(MLP_CONFIG)
    assert_one_line_error(invoke(config, "--sample", "healthy_mlp"), r"give either CONFIG or --sample, not both")


# --- checkpoints: loaded with weights_only=True --------------------------------------------------------


class RunsCode:
    """Unpickling this would create a folder: the stand-in for a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _save_code_zip(path: Path, marker: Path) -> None:
    torch.save({"0.weight": RunsCode(marker)}, path)


def _save_code_raw_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(RunsCode(marker)))


def _save_module(path: Path, marker: Path) -> None:
    torch.save(torch.nn.Linear(4, 16), path)


def _save_list(path: Path, marker: Path) -> None:
    torch.save([torch.zeros(2)], path)


def _save_dict_of_numbers(path: Path, marker: Path) -> None:
    torch.save({"0.weight": 1.0}, path)


def _save_wrong_shapes(path: Path, marker: Path) -> None:
    torch.save({"0.weight": torch.zeros(3, 3)}, path)


def _save_garbage(path: Path, marker: Path) -> None:
    path.write_bytes(b"definitely not a checkpoint")


@pytest.mark.parametrize(
    ("save", "pattern"),
    [
        (_save_code_zip, (r"ckpt\.pt is not a plain state dict and was refused by torch\.load\(weights_only=True\): "
                         r"it would unpickle posix\.mkdir; only tensors and plain containers are allowed "
                         r"\(fix: save it with torch\.save\(model\.state_dict\(\), path\)\)$")),
        (_save_code_raw_pickle, (r"ckpt\.pt is not a plain state dict and was refused by "
                                r"torch\.load\(weights_only=True\): it is not a file written by torch\.save")),
        (_save_module, r"ckpt\.pt is not a plain state dict .*: it would unpickle torch\.nn\.modules\.linear\.Linear"),
        (_save_list, (r"ckpt\.pt holds a list, not a state dict of tensors \(fix: save it with "
                     r"torch\.save\(model\.state_dict\(\), path\)\)$")),
        (_save_dict_of_numbers, r"ckpt\.pt is not a state dict of tensors: '0\.weight' is float, not a tensor"),
        (_save_wrong_shapes, (r"ckpt\.pt does not fit the model: missing 0\.bias, 2\.weight, 2\.bias and 2 more; "
                             r"0\.weight is \[3, 3\] in the file, \[16, 4\] in the model \(fix: ")),
        (_save_garbage, r"ckpt\.pt is not a plain state dict .*: it is not a file written by torch\.save"),
    ],
    ids=["code-in-zip", "code-raw-pickle", "whole-module", "list", "dict-of-floats", "wrong-shapes", "garbage"],
)
def test_checkpoint_that_is_not_a_plain_state_dict(tmp_path, write_config, save, pattern, recwarn):
    marker = tmp_path / "code-ran"
    config = write_config(MLP_CONFIG.replace('[data]', 'checkpoint = "ckpt.pt"\n\n[data]'))
    save(tmp_path / "ckpt.pt", marker)
    line = assert_one_line_error(invoke(config, "--out", tmp_path / "run", "--no-plots"), pattern)
    assert line.startswith(f"Error: {config}: [model] checkpoint: ")
    assert not marker.exists(), "unpickling ran the file's code"
    # torch warns e.g. "Detected pickle protocol 4": outside pytest that would be a second line on stderr
    assert [str(w.message) for w in recwarn] == []


def test_missing_checkpoint_is_resolved_against_the_config_folder(tmp_path, write_config):
    config = write_config(MLP_CONFIG.replace('[data]', 'checkpoint = "weights/ckpt.pt"\n\n[data]'))
    assert_one_line_error(invoke(config, "--no-plots", "--out", tmp_path / "run"),
                          rf"\[model\] checkpoint: {re.escape(str(tmp_path / 'weights' / 'ckpt.pt'))} does not "
                          r"exist \(fix: paths are relative to the config's folder\)$")


def test_a_plain_state_dict_loads(tmp_path, write_config):
    """The control: a checkpoint saved the documented way is accepted and really loaded."""
    from gradscope.build.loading import build_model
    from gradscope.config.load import load_config

    plain = write_config(MLP_CONFIG.replace("steps = 30", "steps = 1"), name="plain.toml")
    torch.manual_seed(123)
    state = {k: torch.randn_like(v) for k, v in build_model(load_config(plain)).state_dict().items()}
    torch.save(state, tmp_path / "ckpt.pt")
    config = write_config(plain.read_text().replace('[data]', 'checkpoint = "ckpt.pt"\n\n[data]'))
    model = build_model(load_config(config))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    result = invoke(config, "--json", "--no-plots", "--out", tmp_path / "run")
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout)["steps_completed"] == 1


# --- the user's code raises: exit 3 ----------------------------------------------------------------------

FAILING = MLP_FACTORIES + '''

class Flaky(nn.Module):
    def __init__(self, fail_at):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.calls = 0
        self.fail_at = fail_at

    def forward(self, x):
        if self.calls == self.fail_at:
            raise ValueError(f"forward broke on call {self.calls}")  # FORWARD-RAISES
        self.calls += 1
        return self.lin(x)


def build_flaky(fail_at=3):
    return Flaky(fail_at)


def data_then_error(fail_at=2):
    g = torch.Generator().manual_seed(0)
    for _ in range(fail_at):
        x = torch.randn(8, 4, generator=g)
        yield x, x.sum(dim=1, keepdim=True)
    raise KeyError("the data source went away")  # DATA-ITER-RAISES


def broken_data():
    return {"x": 1}["y"]  # DATA-FACTORY-RAISES


def loss_step(model, batch):
    model.steps_seen = getattr(model, "steps_seen", 0) + 1
    x, y = batch
    if model.steps_seen == 3:
        return helper_that_divides(model(x), y)
    return ((model(x) - y) ** 2).mean()


def helper_that_divides(out, y):
    return ((out - y) ** 2).mean() * (1 / (y.numel() - len(y) * y.shape[1]))  # LOSS-RAISES
'''


def _line_of(marker: str, source: str = FAILING) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if marker in line)


@pytest.mark.parametrize(
    ("change", "step", "error", "marker", "function"),
    [
        (("factories.py:build_model", "factories.py:build_flaky"), 3, "ValueError: forward broke on call 3",
         "FORWARD-RAISES", "forward"),
        (("factories.py:build_data", "factories.py:data_then_error"), 2, "KeyError: 'the data source went away'",
         "DATA-ITER-RAISES", "data_then_error"),
        (('name = "MSELoss"', 'step = "factories.py:loss_step"'), 2, "ZeroDivisionError: division by zero",
         "LOSS-RAISES", "helper_that_divides"),
    ],
    ids=["model-forward", "data-iteration", "loss-step"],
)
def test_user_code_raising_at_step_k(tmp_path, write_config, change, step, error, marker, function):
    config = write_config(MLP_CONFIG.replace(*change), factories=FAILING)
    run_dir = tmp_path / "run"
    result = invoke(config, "--out", run_dir, "--no-plots")
    assert result.exit_code == 3, (result.stderr, result.exception)
    assert result.stdout == ""
    err = result.stderr
    first = err.splitlines()[0]
    assert first.startswith("Error: ") and f"at step {step} raised {error}" in first, first
    # the user's frame, with their file and line ...
    assert f'File "{tmp_path / "factories.py"}", line {_line_of(marker)}, in {function}' in err, err
    assert marker in err  # the source line itself
    # ... and none of gradscope's or torch's internals
    assert "gradscope/drivers/loop.py" not in err and PACKAGE_DIR not in err and TORCH_DIR not in err, err
    assert "Traceback (most recent call last)" not in err
    assert f"{step} step(s) recorded before it are in {run_dir}" in err

    trace = pd.read_csv(run_dir / "trace.csv")
    assert trace["step"].tolist() == list(range(step))
    assert trace["loss"].notna().all()
    diagnosis = json.loads((run_dir / "diagnosis.json").read_text())
    assert diagnosis["steps_completed"] == step
    assert diagnosis["verdict"] == "healthy"


def test_data_factory_raising_at_setup(tmp_path, write_config):
    config = write_config(MLP_CONFIG.replace("factories.py:build_data", "factories.py:broken_data"),
                          factories=FAILING)
    result = invoke(config, "--out", tmp_path / "run", "--no-plots")
    assert result.exit_code == 3, (result.stderr, result.exception)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: the data factory (while setting up, before step 0) raised "
                                    "KeyError: 'y'\n"), result.stderr
    line = _line_of("DATA-FACTORY-RAISES")
    assert f'File "{tmp_path / "factories.py"}", line {line}, in broken_data' in result.stderr
    assert PACKAGE_DIR not in result.stderr and TORCH_DIR not in result.stderr


def test_data_factory_raising_at_setup_still_leaves_a_readable_run(tmp_path, write_config):
    config = write_config(MLP_CONFIG.replace("factories.py:build_data", "factories.py:broken_data"),
                          factories=FAILING)
    assert invoke(config, "--out", tmp_path / "run", "--no-plots").exit_code == 3
    assert pd.read_csv(tmp_path / "run" / "trace.csv").empty
    assert json.loads((tmp_path / "run" / "diagnosis.json").read_text())["steps_completed"] == 0


def test_user_module_that_fails_to_import(tmp_path, write_config):
    config = write_config(MLP_CONFIG, factories="import torch\n\nraise ImportError('needs a GPU')  # IMPORT-RAISES\n")
    result = invoke(config, "--out", tmp_path / "run", "--no-plots")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: importing factories.py (while setting up, before step 0) raised "
                                    "ImportError: needs a GPU\n"), result.stderr
    assert f'File "{tmp_path / "factories.py"}", line 3, in <module>' in result.stderr
    assert PACKAGE_DIR not in result.stderr
