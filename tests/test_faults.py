"""Faults a hostile user (or a bad day) brings, each with the contract's exit code and nothing recorded lost.

User code that raises, exits or raises KeyboardInterrupt at every place gradscope calls it is exit 3; data or
losses of the wrong shape are exit 2 with the run folder finished; checkpoints that are missing, wrong or
malicious are exit 2 (a malicious pickle is refused without running); Ctrl-C is 130 in every command with the
records kept; SIGKILL leaves every recorded step on disk. No fault shows a traceback of gradscope's own.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import gradscope
from gradscope.cli import app
from tests.conftest import gradscope_cmd, subprocess_env

FACTORIES = '''
import os
import sys
import time

import torch
from torch import nn


def act(kind):
    if kind == "raise":
        raise ValueError("boom from user code")
    if kind == "exit0":
        sys.exit(0)
    if kind == "exit7":
        sys.exit(7)
    if kind == "interrupt":
        raise KeyboardInterrupt


class Net(nn.Module):
    def __init__(self, where, kind, output):
        super().__init__()
        self.where, self.kind, self.output = where, kind, output
        if where == "init":
            act(kind)
        self.lin = nn.Linear(4, 1)
        if where == "hook":
            self.lin.weight.register_hook(lambda grad: act(kind))

    def forward(self, x):
        if self.where == "forward":
            act(self.kind)
        if self.output == "string":
            return "not a tensor"
        return self.lin(x)


def build_model(where="", kind="raise", output="tensor"):
    return Net(where, kind, output)


def batches(n=6):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g)) for _ in range(n)]


class Failing:
    def __init__(self, kind):
        self.kind = kind

    def __iter__(self):
        yield batches(1)[0]
        act(self.kind)


class Slow:
    """Steps 0..at-1 run; fetching step `at`'s batch touches `signal_file`, then sleeps (to be signalled)."""

    def __init__(self, at, signal_file):
        self.at, self.signal_file = at, signal_file

    def __iter__(self):
        for i, batch in enumerate(batches(1000)):
            if i == self.at and not os.path.exists(self.signal_file):
                open(self.signal_file, "w").close()
                time.sleep(60)
            yield batch


def build_data(where="", kind="raise", returns="", at=0, signal_file=""):
    if where == "data_factory":
        act(kind)
    if where == "data_iteration":
        return Failing(kind)
    if returns:
        return {"none": None, "tensor": torch.zeros(3), "int": 5}[returns]
    if where == "slow":
        return Slow(at, signal_file)
    return batches()


_calls = []


def build_one_pass_data():
    _calls.append(1)
    return (b for b in (batches(2) if len(_calls) == 1 else []))


def vector_loss(model, batch):
    return (model(batch[0]) - batch[1]) ** 2


def constant_loss(model, batch):
    return torch.tensor(1.0)


def odd_batches():
    return ["a batch that is a string"] * 4


for _kind in ("raise", "exit0", "exit7", "interrupt"):
    def _loss(model, batch, _kind=_kind):
        act(_kind)

    def _optimizer(params, lr=0.1, _kind=_kind):
        act(_kind)

    def _schedule(optimizer, steps, _kind=_kind):
        act(_kind)

    globals()[f"loss_{_kind}"] = _loss
    globals()[f"optimizer_{_kind}"] = _optimizer
    globals()[f"schedule_{_kind}"] = _schedule
'''

CONFIG = """
[model]
factory = "factories.py:build_model"
kwargs = {model}

[data]
factory = "factories.py:{data_factory}"
kwargs = {data}

[loss]
{loss}

[optimizer]
{optimizer}

[run]
steps = 6
{extra}
"""

runner = CliRunner()
KINDS = ["raise", "exit0", "exit7", "interrupt"]


def write(tmp_path: Path, *, model="{}", data="{}", data_factory="build_data", loss='name = "MSELoss"',
          optimizer='name = "SGD"\nlr = 0.01', extra="") -> Path:
    (tmp_path / "factories.py").write_text(FACTORIES)
    config = tmp_path / "gradscope.toml"
    config.write_text(CONFIG.format(model=model, data=data, data_factory=data_factory, loss=loss,
                                    optimizer=optimizer, extra=extra))
    return config


def diagnose(config: Path, out: Path, *args: str):
    return runner.invoke(app, ["diagnose", str(config), "--no-plots", "--out", str(out), *args])


def assert_no_internal_traceback(stderr: str, code: int) -> None:
    if code != 4:
        assert "Traceback (most recent call last)" not in stderr, stderr


def assert_readable(run_dir: Path) -> int:
    """The folder reads back with load_run, without a note of damage; returns its steps."""
    run = gradscope.load_run(run_dir)
    assert run.notes == (), run.notes
    assert json.loads((run_dir / "diagnosis.json").read_text())["steps_completed"] == len(run.trace)
    assert list(run.trace["step"]) == list(range(len(run.trace)))
    return len(run.trace)


# -- user code -------------------------------------------------------------------------------------------
def _user_fault(where: str, kind: str) -> dict[str, str]:
    if where in ("init", "forward", "hook"):
        return {"model": f'{{ where = "{where}", kind = "{kind}" }}'}
    if where in ("data_factory", "data_iteration"):
        return {"data": f'{{ where = "{where}", kind = "{kind}" }}'}
    if where == "loss_step":
        return {"loss": f'step = "factories.py:loss_{kind}"'}
    if where == "optimizer":
        return {"optimizer": f'name = "factories.py:optimizer_{kind}"'}
    return {"extra": f'\n[schedule]\nname = "factories.py:schedule_{kind}"'}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["init", "forward", "hook", "loss_step", "data_factory", "data_iteration",
                                   "optimizer", "schedule"])
def test_user_code_failing_anywhere_is_exit_3_and_the_folder_reads(tmp_path, where, kind):
    out = tmp_path / "out"
    result = diagnose(write(tmp_path, **_user_fault(where, kind)), out)
    assert result.exit_code == 3, (result.exit_code, result.output)
    assert_no_internal_traceback(result.stderr, 3)
    assert result.stderr.startswith("Error: "), result.stderr
    expected = {"raise": "ValueError: boom from user code", "exit0": "SystemExit: 0", "exit7": "SystemExit: 7",
                "interrupt": "KeyboardInterrupt"}[kind]
    assert expected in result.stderr.splitlines()[0], result.stderr
    steps = assert_readable(out)
    assert steps == (1 if where == "data_iteration" else 0)  # the one batch before the failure was a step
    assert json.loads((out / "run.json").read_text())["stopped"] == "error"


@pytest.mark.parametrize(("overrides", "message", "steps"), [
    ({"model": '{ output = "string" }'}, r"your model or loss code at step 0 raised AttributeError", 0),
    ({"loss": 'step = "factories.py:constant_loss"'}, r"backward\(\) through your model at step 0 raised", 0),
])
def test_user_code_of_the_wrong_kind_is_exit_3(tmp_path, overrides, message, steps):
    out = tmp_path / "out"
    result = diagnose(write(tmp_path, **overrides), out)
    assert result.exit_code == 3, result.output
    assert_no_internal_traceback(result.stderr, 3)
    assert re.search(message, result.stderr.splitlines()[0]), result.stderr
    assert assert_readable(out) == steps


@pytest.mark.parametrize("returns", ["none", "tensor", "int"])
def test_a_data_factory_returning_no_batches_is_exit_2(tmp_path, returns):
    out = tmp_path / "out"
    result = diagnose(write(tmp_path, data=f'{{ returns = "{returns}" }}'), out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "[data] factory: factories.py:build_data returned" in lines[0], result.stderr
    assert_readable(out)


@pytest.mark.parametrize(("overrides", "message", "steps"), [
    ({"loss": 'step = "factories.py:vector_loss"'}, r"the loss must be a scalar tensor, got \(8, 1\)", 0),
    ({"data_factory": "odd_batches"}, r"a batch is a str, not \(inputs, targets\) or a dict", 0),
    ({"data_factory": "build_one_pass_data"}, r"the data produced no batches", 2),
])
def test_bad_input_found_mid_run_is_exit_2_with_the_run_folder_finished(tmp_path, overrides, message, steps):
    out = tmp_path / "out"
    result = diagnose(write(tmp_path, **overrides), out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr
    assert assert_readable(out) == steps
    assert json.loads((out / "run.json").read_text())["stopped"] == "error"


# -- config values that torch refuses ----------------------------------------------------------------------
@pytest.mark.parametrize(("loss", "message"), [
    ('name = "MSELoss"\nreduction = 5', r"\[loss\] reduction must be a string for MSELoss, got 5"),
    ('name = "CrossEntropyLoss"\nweight = "x"', r"\[loss\] CrossEntropyLoss: cannot assign 'str' object"),
    ('name = "CrossEntropyLoss"\nignore_index = 1.5', r"\[loss\] ignore_index must be an integer"),
    ('name = "HuberLoss"\ndelta = -1.0', r"\[loss\] delta = -1\.0 was refused by torch: huber_loss does not"),
])
def test_loss_options_torch_refuses_are_exit_2(tmp_path, loss, message):
    result = diagnose(write(tmp_path, loss=loss), tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr


@pytest.mark.parametrize(("optimizer", "extra", "message"), [
    ('name = "Adam"\nbetas = "ab"', "", r"\[optimizer\] Adam: '<=' not supported"),
    ('name = "LBFGS"', "", r"\[optimizer\] name: LBFGS needs a closure"),
    ('name = "SGD"\nlr = 0.1', '\n[schedule]\nname = "StepLR"\nstep_size = 1.5',
     r"\[schedule\] step_size must be an integer for StepLR, got 1\.5"),
    ('name = "SGD"\nlr = 0.1', '\n[schedule]\nname = "cosine"\nnum_cycles = "x"',
     r"\[schedule\] num_cycles must be a finite number"),
])
def test_optimizer_and_schedule_arguments_torch_refuses_are_exit_2(tmp_path, optimizer, extra, message):
    result = diagnose(write(tmp_path, optimizer=optimizer, extra=extra), tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr


def test_a_list_for_a_tensor_option_is_a_tensor(tmp_path):
    # CrossEntropyLoss's class weights can be written in TOML: the list becomes the tensor torch wants.
    result = diagnose(write(tmp_path, loss='name = "BCEWithLogitsLoss"\npos_weight = [2.0]'), tmp_path / "out",
                      "--fail-on", "never")
    assert result.exit_code == 0, result.output


# -- checkpoints -----------------------------------------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['GRADSCOPE_PWNED'], 'w').write('ran')",))


@pytest.mark.parametrize("case", ["missing", "not_a_state_dict", "malicious", "shape_mismatch"])
def test_bad_checkpoints_are_exit_2_and_a_malicious_one_never_runs(tmp_path, monkeypatch, case):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("GRADSCOPE_PWNED", str(marker))
    weights = tmp_path / "weights.pt"
    if case == "not_a_state_dict":
        torch.save([1, 2, 3], weights)
    elif case == "malicious":
        torch.save({"lin.weight": _Evil()}, weights)
    elif case == "shape_mismatch":
        torch.save({"lin.weight": torch.zeros(2, 4), "lin.bias": torch.zeros(2)}, weights)
    config = write(tmp_path)
    config.write_text(config.read_text().replace("kwargs = {}\n", 'kwargs = {}\ncheckpoint = "weights.pt"\n', 1))
    result = diagnose(config, tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "[model] checkpoint" in lines[0], result.stderr
    assert not marker.exists()


# -- the filesystem --------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["diagnose", "compare", "recommend"])
def test_an_out_that_cannot_be_written_is_exit_2(tmp_path, command):
    # Under a file, or in /proc: both refuse writes even to root (chmod would not).
    (tmp_path / "a_file").write_text("x")
    config = write(tmp_path)
    for out in (tmp_path / "a_file" / "run", Path("/proc/gradscope-out")):
        extra = ["--clip-norm", "1"] if command == "compare" else []
        result = runner.invoke(app, [command, str(config), "--out", str(out), *extra])
        assert result.exit_code == 2, (command, out, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: cannot write {out}"), result.stderr


# -- signals ---------------------------------------------------------------------------------------------
def _start(tmp_path: Path, *args: str, at: int = 3, clip: bool = False) -> tuple[subprocess.Popen, Path]:
    flag = tmp_path / "reached"
    config = write(tmp_path, data=f'{{ where = "slow", at = {at}, signal_file = "{flag}" }}',
                   extra="\n[clip]\nnorm = 0.001" if clip else "")
    config.write_text(config.read_text().replace("steps = 6", "steps = 40"))
    plots = [] if args[0] == "recommend" else ["--no-plots"]  # recommend draws none
    process = subprocess.Popen(gradscope_cmd(*args, str(config), *plots, "--out", str(tmp_path / "out")),
                               cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the step to signal"
        time.sleep(0.05)
    return process, tmp_path / "out"


def _end(process: subprocess.Popen, sig: int) -> tuple[str, str]:
    try:
        process.send_signal(sig)
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_sigkill_keeps_every_recorded_step_on_disk(tmp_path):
    # Clipping engages at every step, so each row is amended after it was written: the last one too.
    process, out = _start(tmp_path, "diagnose", at=5, clip=True)
    _end(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    trace = pd.read_csv(out / "trace.csv")
    assert list(trace["step"]) == [0, 1, 2, 3, 4]  # steps 0-4 were recorded before step 5's batch was asked
    assert list(trace["clipped"]) == [1] * 5
    run = gradscope.load_run(out)
    assert len(run.trace) == 5 and run.notes == ()  # no diagnosis.json: diagnosed from the trace
    assert run.diagnosis.steps_completed == 5
    assert len(pd.read_csv(out / "grad_norms.csv")) == 5


def test_ctrl_c_in_compare_is_130_with_the_records_kept(tmp_path):
    """Ctrl-C in compare's second run; diagnose's and recommend's Ctrl-C: test_cli.py and test_exit_codes.py."""
    process, out = _start(tmp_path, "compare", "--clip-norm", "1", at=4)
    stdout, stderr = _end(process, signal.SIGINT)
    assert process.returncode == 130, stderr
    assert_no_internal_traceback(stderr, 130)
    folders = sorted({p.parent for p in out.rglob("trace.csv")})
    assert folders, list(out.rglob("*"))
    steps = [assert_readable(folder) for folder in folders]
    assert 4 in steps  # the run that was interrupted kept its 4 steps
    stopped = {json.loads((f / "run.json").read_text())["stopped"] for f in folders}
    assert "interrupted" in stopped


@pytest.mark.parametrize("command", [["compare", "--clip-norm", "1", "--no-plots"], ["recommend"]])
def test_bad_input_found_mid_run_in_compare_and_recommend_is_exit_2(tmp_path, command):
    out = tmp_path / "out"
    config = write(tmp_path, loss='step = "factories.py:vector_loss"')
    result = runner.invoke(app, [command[0], str(config), *command[1:], "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the loss must be a scalar tensor" in lines[0], result.stderr
    folders = sorted({p.parent for p in out.rglob("trace.csv")})
    assert folders and all(assert_readable(folder) == 0 for folder in folders)


def _limit_file_size() -> None:
    # Writes past 20 kB fail with EFBIG, as on a full disk; SIGXFSZ would kill the process instead.
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_a_full_disk_is_exit_2_and_what_was_recorded_reads_back(tmp_path):
    config = write(tmp_path, data='{ where = "slow", at = 100000, signal_file = "unused" }')
    config.write_text(config.read_text().replace("steps = 6", "steps = 900"))
    out = tmp_path / "out"
    proc = subprocess.run(gradscope_cmd("diagnose", str(config), "--no-plots", "--out", str(out)),
                          capture_output=True, text=True, env=subprocess_env(), preexec_fn=_limit_file_size,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert_no_internal_traceback(proc.stderr, 2)
    assert re.search(r"cannot write .*: File too large \(fix: free some space", proc.stderr), proc.stderr
    run = gradscope.load_run(out)
    assert 50 < len(run.trace) < 900
    assert list(run.trace["step"]) == list(range(len(run.trace)))
    assert json.loads((out / "run.json").read_text())["stopped"] == "error"
