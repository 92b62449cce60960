"""Every way a command can end has its exit code (issue 14): the user's `sys.exit()` and a `KeyboardInterrupt`
raised by their code are their errors (3), a real Ctrl-C is 130 (recommend included, every trial kept), a bug in
gradscope is 4 with its traceback, and torch raising on the user's call shows the user's frame.

In-process through `CliRunner`, and through real subprocesses where only a process shows it (signals, statuses).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import MLP_CONFIG, MLP_FACTORIES, gradscope_cmd, subprocess_env
from typer.testing import CliRunner

import gradscope
import gradscope.monitor.monitor
from gradscope.cli import app

runner = CliRunner()

STOPPING = MLP_FACTORIES + '''
import sys
import time


class Stops(nn.Module):
    """A linear model whose forward ends the program (sys.exit) or raises KeyboardInterrupt on call `at`."""

    def __init__(self, at, how, code):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.calls, self.at, self.how, self.code = 0, at, how, code

    def forward(self, x):
        if self.calls == self.at:
            if self.how == "exit":
                sys.exit(self.code)  # USER-EXITS
            raise KeyboardInterrupt("stop here")  # USER-INTERRUPTS
        self.calls += 1
        return self.lin(x)


def build_stops(at=3, how="exit", code=0):
    return Stops(at, how, code)


class Mismatched(nn.Module):
    """Two linear layers that do not fit: torch raises inside nn.Linear, called from the user's forward."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(5, 1)

    def forward(self, x):
        return self.b(self.a(x))  # USER-CALLS-TORCH


def build_mismatched():
    return Mismatched()


CALLS = [0]


class FailsLater(nn.Module):
    """Raises on the `at`-th forward call of the process: inside one of recommend's trials, not the probe."""

    def __init__(self, at):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.at = at

    def forward(self, x):
        CALLS[0] += 1
        if CALLS[0] == self.at:
            raise ValueError("broke inside a trial")  # TRIAL-RAISES
        return self.lin(x)


def build_fails_later(at=40):
    return FailsLater(at)


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, x):
        time.sleep(0.02)
        return self.lin(x)


def build_slow():
    return Slow()
'''


def _line_of(marker: str) -> int:
    return next(i for i, line in enumerate(STOPPING.splitlines(), 1) if marker in line)


def _config(write_config, factory: str, steps: int = 30) -> Path:
    body = MLP_CONFIG.replace("factories.py:build_model", f"factories.py:{factory}")
    return write_config(body.replace("steps = 30", f"steps = {steps}"), factories=STOPPING)


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


# --- the user's code ends the run: exit 3, what was recorded is kept ---------------------------------------


@pytest.mark.parametrize("code", [0, 5])
def test_sys_exit_in_user_code_is_exit_3_and_the_run_is_kept(tmp_path, write_config, code):
    config = _config(write_config, "build_stops")
    run_dir = tmp_path / "run"
    result = invoke("diagnose", config, "--set", f"model.kwargs.code={code}", "--out", run_dir, "--no-plots")
    assert result.exit_code == 3, (result.stderr, result.exception)
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first == f"Error: your model or loss code at step 3 raised SystemExit: {code}", first
    assert f'File "{tmp_path / "factories.py"}", line {_line_of("USER-EXITS")}, in forward' in result.stderr
    assert pd.read_csv(run_dir / "trace.csv")["step"].tolist() == [0, 1, 2]
    assert json.loads((run_dir / "diagnosis.json").read_text())["steps_completed"] == 3


def test_sys_exit_0_in_user_code_fails_the_real_process(tmp_path, write_config):
    _config(write_config, "build_stops")
    done = subprocess.run(gradscope_cmd("diagnose", "--json", "--no-plots", "--out", "run"), cwd=tmp_path,
                          env=subprocess_env(), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert "raised SystemExit: 0" in done.stderr and "Traceback (most recent call last)" not in done.stderr
    assert len(pd.read_csv(tmp_path / "run" / "trace.csv")) == 3
    assert json.loads((tmp_path / "run" / "diagnosis.json").read_text())["steps_completed"] == 3


def test_keyboard_interrupt_raised_by_user_code_is_exit_3(tmp_path, write_config):
    config = _config(write_config, "build_stops")
    run_dir = tmp_path / "run"
    result = invoke("diagnose", config, "--set", 'model.kwargs.how="interrupt"', "--out", run_dir, "--no-plots")
    assert result.exit_code == 3, (result.stderr, result.exception)
    assert result.stderr.startswith("Error: your model or loss code at step 3 raised KeyboardInterrupt: stop here\n")
    assert f'line {_line_of("USER-INTERRUPTS")}, in forward' in result.stderr
    assert "Interrupted" not in result.stderr
    assert json.loads((run_dir / "diagnosis.json").read_text())["steps_completed"] == 3


def test_torch_raising_on_the_users_call_shows_the_users_frame_then_torchs(tmp_path, write_config):
    config = _config(write_config, "build_mismatched")
    result = invoke("diagnose", config, "--out", tmp_path / "run", "--no-plots")
    assert result.exit_code == 3, (result.stderr, result.exception)
    err = result.stderr
    assert err.startswith("Error: your model or loss code at step 0 raised RuntimeError: mat1 and mat2 shapes "
                          "cannot be multiplied"), err
    user = f'File "{tmp_path / "factories.py"}", line {_line_of("USER-CALLS-TORCH")}, in forward'
    assert user in err and "USER-CALLS-TORCH" in err, err
    torch_frame = err.index("torch/nn/modules/linear.py")  # the torch frame that raised, after the user's
    assert err.index(user) < torch_frame
    assert err.count('File "') == 2, err  # nothing else of torch's, nothing of gradscope's
    package = str(Path(gradscope.__file__).parent)  # not "gradscope/": a clone's own folder is often named so
    assert package not in err, err


# --- a bug in gradscope: exit 4, with its traceback ---------------------------------------------------------


def _broken_record(self, *args, **kwargs):
    raise RuntimeError("an internal failure")


def test_internal_bug_is_exit_4_with_its_traceback(tmp_path, write_config, monkeypatch):
    config = write_config(MLP_CONFIG)
    monkeypatch.setattr(gradscope.monitor.monitor.Monitor, "record", _broken_record)
    result = invoke("diagnose", config, "--json", "--out", tmp_path / "run", "--no-plots")
    assert result.exit_code == 4, (result.stderr, result.exception)
    assert result.stdout == ""
    err = result.stderr
    assert err.startswith("Traceback (most recent call last):\n"), err
    assert "gradscope/drivers/loop.py" in err and "RuntimeError: an internal failure" in err
    assert err.splitlines()[-1].startswith("Error: gradscope itself failed (a bug in gradscope")


def test_internal_bug_in_the_real_process_is_exit_4_never_1(tmp_path, write_config):
    write_config(MLP_CONFIG)
    code = textwrap.dedent("""
        import sys
        import gradscope.monitor.monitor

        def broken(self, *args, **kwargs):
            raise IndexError("an internal failure")

        gradscope.monitor.monitor.Monitor.record = broken
        from gradscope.cli import main
        sys.argv = ["gradscope", "diagnose", "--no-plots", "--out", "run"]
        main()
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 4, done.stderr
    assert "Traceback (most recent call last)" in done.stderr and "IndexError: an internal failure" in done.stderr
    assert "please report it" in done.stderr.lower()


def test_help_documents_the_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "4 gradscope itself failed (a bug: please report it)" in text
    assert "130 interrupted (Ctrl-C)" in text


# --- recommend: a trial's error is exit 3, Ctrl-C is 130, every trial's record kept ----------------------------


def _trial_folders(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.iterdir() if (p / "trace.csv").is_file())


def _assert_readable(folder: Path) -> int:
    trace = pd.read_csv(folder / "trace.csv")
    assert trace["step"].tolist() == list(range(len(trace)))
    diagnosis = json.loads((folder / "diagnosis.json").read_text())
    assert diagnosis["steps_completed"] == len(trace), folder
    assert json.loads((folder / "run.json").read_text())
    return len(trace)


def test_user_error_inside_a_recommend_trial_is_exit_3_not_a_winner(tmp_path, write_config):
    config = _config(write_config, "build_fails_later")
    run_dir = tmp_path / "rec"
    result = invoke("recommend", config, "--json", "--out", run_dir)
    assert result.exit_code == 3, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    err = result.stderr
    assert "raised ValueError: broke inside a trial" in err.splitlines()[0], err
    assert f'line {_line_of("TRIAL-RAISES")}, in forward' in err
    assert f"no recommendation from a trial that crashed; every trial's record is kept in {run_dir}" in err
    folders = _trial_folders(run_dir)
    assert len(folders) >= 2  # the probe and the trial that crashed, at least
    steps = [_assert_readable(folder) for folder in folders]
    assert sum(steps) == 39  # every forward call before the 40th was a recorded step
    stopped = [json.loads((f / "run.json").read_text())["stopped"] for f in folders]
    assert stopped.count("error") == 1


def test_ctrl_c_during_recommend_is_130_and_every_trial_is_kept(tmp_path, write_config):
    _config(write_config, "build_slow", steps=300)
    run_dir = tmp_path / "rec"
    process = subprocess.Popen(gradscope_cmd("recommend", "--json", "--out", "rec"), cwd=tmp_path,
                               env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # wait until the probe is done and a second trial has recorded steps
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "recommend never reached its second trial"
            time.sleep(0.05)
            folders = _trial_folders(run_dir) if run_dir.is_dir() else []
            if sum(len((f / "trace.csv").read_text().splitlines()) > 3 for f in folders) >= 2:
                break
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert f"Interrupted: no recommendation; every trial's record is kept in {Path('rec')}" in stderr
    folders = _trial_folders(run_dir)
    steps = [_assert_readable(folder) for folder in folders]
    assert sum(s > 2 for s in steps) >= 2 and max(steps) < 300
    stopped = {json.loads((f / "run.json").read_text())["stopped"] for f in folders}
    assert "interrupted" in stopped
