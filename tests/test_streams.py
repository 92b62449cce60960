"""Streams, through real pipes: the report on stdout (`gradscope diagnose X > report.txt` keeps it), the user's
own output and notes on stderr, and a reader that goes away (`| head -1`, `2>&1 | head`) is not an error: no
traceback, and the exit code the findings give (1 means findings, never a broken pipe)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import MLP_CONFIG, MLP_FACTORIES, REPO, gradscope_cmd, subprocess_env

PRINTING = MLP_FACTORIES + '''

def build_printing_model(**kwargs):
    print("hello from the user's model")
    return build_model(**kwargs)
'''


def printing_config(tmp_path: Path) -> Path:
    (tmp_path / "factories.py").write_text(PRINTING)
    config = tmp_path / "mlp.toml"
    config.write_text(MLP_CONFIG.replace("factories.py:build_model", "factories.py:build_printing_model")
                      .replace("steps = 30", "steps = 5"))
    return config


def test_the_report_goes_to_stdout_and_the_users_output_to_stderr(tmp_path):
    config = printing_config(tmp_path)
    done = subprocess.run(gradscope_cmd("diagnose", str(config), "--no-plots", "--out", str(tmp_path / "run")),
                          capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gradscope diagnose  mlp\nverdict: HEALTHY"), done.stdout
    assert "hello from the user's model" in done.stderr and "hello" not in done.stdout


def test_json_keeps_stdout_to_the_one_document(tmp_path):
    config = printing_config(tmp_path)
    done = subprocess.run(gradscope_cmd("diagnose", str(config), "--json", "--no-plots", "--out", str(tmp_path / "r")),
                          capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=240)
    assert json.loads(done.stdout)["verdict"] == "healthy"
    assert "hello from the user's model" in done.stderr


def closed_reader(args: list[str], cwd: Path, *, both: bool) -> tuple[int, str]:
    """Run with stdout (and stderr, as `2>&1 | head` does, with `both`) on a pipe whose reader has gone before
    the report is printed; returns the exit code and what reached stderr."""
    proc = subprocess.Popen(gradscope_cmd(*args), stdout=subprocess.PIPE, env=subprocess_env(), cwd=cwd,
                            stderr=subprocess.STDOUT if both else subprocess.PIPE)
    proc.stdout.close()  # the reader goes away at once: every write to the pipe fails (EPIPE)
    err = b"" if both else proc.stderr.read()
    return proc.wait(timeout=300), err.decode()


@pytest.mark.parametrize(("args", "code", "both"), [
    (["diagnose", "--sample", "linear_high_lr", "--steps", "30"], 1, False),  # findings: 1, as with an open pipe
    (["diagnose", "--sample", "healthy_mlp", "--steps", "10", "--json"], 0, True),
    (["compare", "--sample", "healthy_mlp", "--steps", "10", "--clip-norm", "1"], 0, True),
    (["recommend", "--sample", "linear_high_lr", "--steps", "20", "--budget", "1.5"], 0, False),
    (["samples"], 0, True),
], ids=["diagnose", "diagnose-json-2>&1", "compare-2>&1", "recommend", "samples-2>&1"])
def test_a_closed_pipe_is_not_an_error(tmp_path, args, code, both):
    extra = [] if args[0] == "samples" else ["--out", str(tmp_path / "run")]
    extra += ["--no-plots"] if args[0] in ("diagnose", "compare") else []
    got, err = closed_reader([*args, *extra], tmp_path, both=both)
    assert got == code, err
    assert "Traceback" not in err and "Error" not in err, err


def test_diagnose_into_a_file_keeps_the_report(tmp_path):
    report = tmp_path / "report.txt"
    with report.open("w") as out:
        done = subprocess.run(gradscope_cmd("diagnose", "--sample", "linear_high_lr", "--steps", "30", "--no-plots",
                                            "--out", str(tmp_path / "run")),
                              stdout=out, stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=REPO,
                              timeout=240)
    assert done.returncode == 1, done.stderr
    text = report.read_text()
    assert text.startswith("gradscope diagnose  linear_high_lr\nverdict: CRITICAL") and "exploding_gradient" in text
    assert done.stderr == ""
