"""The `gradscope` command line as a user and a CI job see it.

In-process through `CliRunner` (stdout and stderr kept apart) for the documents and exit codes, and through
real subprocesses for what only a process shows: exit statuses, stdout purity, start-up imports, Ctrl-C.
"""

from __future__ import annotations

import json
import math
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
from gradscope.build.samples import samples_dir
from gradscope.cli import app

runner = CliRunner()

KINDS = {"nonfinite_loss", "nonfinite_gradient", "nonfinite_weight", "exploding_gradient", "gradient_spike",
         "loss_spike", "loss_divergence", "loss_plateau", "weight_growth", "vanishing_gradient"}
SEVERITIES = {"info", "warning", "critical"}

# Three runs of the same tiny MLP with known verdicts (checked in test_verdicts_of_the_test_configs).
HEALTHY: list[str] = []
WARNING = ["--set", "optimizer.name=Adam", "--set", "optimizer.lr=1.0"]  # an unstable start that recovers
EXPLODING = ["--set", "optimizer.lr=0.5", "--set", "data.kwargs.scale=10.0"]  # NaN within 3 steps
CASES = {"healthy": HEALTHY, "warning": WARNING, "critical": EXPLODING}

LOUD_FACTORIES = MLP_FACTORIES + '''
print("factories.py imported")


def build_loud_data(**kwargs):
    print("building the data now")
    return build_data(**kwargs)
'''


def strict_loads(text: str):
    """json.loads that refuses NaN/Infinity tokens, which Python writes but strict parsers reject."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def mlp(write_config):
    return write_config(MLP_CONFIG)


def run_json(config: Path, out: Path, *extra: str):
    result = runner.invoke(app, ["diagnose", str(config), "--json", "--no-plots", "--out", str(out), *extra])
    return result


# --- the JSON document -------------------------------------------------------------------------------------


def test_json_document_has_the_contract_fields(tmp_path, mlp):
    out = tmp_path / "run"
    result = run_json(mlp, out)
    assert result.exit_code == 0, result.stderr
    document = strict_loads(result.stdout)
    assert document["verdict"] == "healthy"
    assert document["steps_completed"] == 30
    assert document["symptoms"] == []
    summary = document["summary"]
    for key in ("final_loss", "max_grad_norm", "median_grad_norm"):
        assert isinstance(summary[key], float) and math.isfinite(summary[key]) and summary[key] > 0, key
    assert summary["max_grad_norm"] >= summary["median_grad_norm"]
    assert document["run_dir"] == str(out)
    # the run folder's diagnosis.json is the same document; stdout held nothing else
    assert strict_loads((out / "diagnosis.json").read_text()) == document
    assert result.stdout.strip().startswith("{") and result.stdout.strip().endswith("}")
    trace = pd.read_csv(out / "trace.csv")
    assert {"step", "loss", "grad_norm", "weight_norm", "clipped"} <= set(trace.columns)
    assert trace["step"].tolist() == list(range(30))
    assert summary["final_loss"] == pytest.approx(trace["loss"].iloc[-1], rel=1e-6)
    assert summary["max_grad_norm"] == pytest.approx(trace["grad_norm"].max(), rel=1e-6)


def test_json_stays_pure_when_user_code_prints(tmp_path, write_config):
    config = write_config(MLP_CONFIG.replace("factories.py:build_data", "factories.py:build_loud_data"),
                          factories=LOUD_FACTORIES)
    result = run_json(config, tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert strict_loads(result.stdout)["verdict"] == "healthy"
    assert "factories.py imported" in result.stderr and "building the data now" in result.stderr
    assert "building" not in result.stdout


def test_nonfinite_values_are_null_plus_text(tmp_path, mlp):
    result = run_json(mlp, tmp_path / "run", *EXPLODING)
    assert result.exit_code == 1, result.stderr
    document = strict_loads(result.stdout)  # no bare NaN/Infinity tokens anywhere
    assert document["verdict"] == "critical"
    assert document["summary"]["final_loss"] is None
    assert document["summary"]["final_loss_text"] == "nan"
    kinds = [s["kind"] for s in document["symptoms"]]
    assert {"nonfinite_loss", "nonfinite_gradient"} <= set(kinds)
    for symptom in document["symptoms"]:
        assert {"kind", "severity", "step", "parameter", "message", "evidence"} <= set(symptom)
        assert symptom["kind"] in KINDS and symptom["severity"] in SEVERITIES
        assert isinstance(symptom["step"], int) and isinstance(symptom["message"], str)
    first_bad = min(s["step"] for s in document["symptoms"] if s["kind"] == "nonfinite_loss")
    trace = pd.read_csv(tmp_path / "run" / "trace.csv")
    assert not math.isfinite(trace["loss"][first_bad]) and trace["loss"][:first_bad].notna().all()


@pytest.mark.parametrize("case", CASES)
def test_verdicts_of_the_test_configs(tmp_path, mlp, case):
    result = run_json(mlp, tmp_path / "run", "--fail-on", "never", *CASES[case])
    assert result.exit_code == 0, result.stderr
    assert strict_loads(result.stdout)["verdict"] == case


@pytest.mark.parametrize(
    ("case", "fail_on", "code"),
    [
        ("healthy", "never", 0), ("healthy", "warning", 0), ("healthy", "critical", 0), ("healthy", None, 0),
        ("warning", "never", 0), ("warning", "warning", 1), ("warning", "critical", 0), ("warning", None, 0),
        ("critical", "never", 0), ("critical", "warning", 1), ("critical", "critical", 1), ("critical", None, 1),
    ],
)
def test_exit_code_follows_fail_on(tmp_path, mlp, case, fail_on, code):
    extra = [] if fail_on is None else ["--fail-on", fail_on]  # None: the default, critical
    result = run_json(mlp, tmp_path / "run", *CASES[case], *extra)
    assert result.exit_code == code, result.stderr
    assert strict_loads(result.stdout)["verdict"] == case


def test_human_report_names_verdict_and_next_step(tmp_path, mlp):
    result = runner.invoke(app, ["diagnose", str(mlp), "--out", str(tmp_path / "run"), *EXPLODING],
                           env={"COLUMNS": "300"})  # a wide terminal: rich would wrap the long tmp path
    assert result.exit_code == 1, result.stderr
    output = result.stdout + result.stderr
    assert "CRITICAL" in output and "nonfinite_loss" in output
    assert f"gradscope recommend {mlp}" in output
    assert (tmp_path / "run" / "loss_grad_norm.png").stat().st_size > 0  # plots are on by default


def test_best_has_one_meaning_in_the_report(tmp_path):
    """"best" is the summary's lowest single loss; the divergence finding judges levels (medians over several steps)
    and calls its own "lowest level" (the sample's summary says best 177.4 where no 10-step median got below 252.4)."""
    result = runner.invoke(app, ["diagnose", "--sample", "linear_high_lr", "--no-plots", "--out", str(tmp_path / "r")],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.stderr
    report = result.stdout.replace(str(tmp_path), "TMP")  # the folder's name holds the word too
    [summary] = [line for line in report.splitlines() if "best" in line]
    assert summary.startswith("loss ") and "(best " in summary
    divergence = " ".join(report[report.index("loss_divergence: "):].split("\n", 2)[:2])  # wrapped once
    assert "at its lowest" in divergence and "median of" in divergence


# --- samples ---------------------------------------------------------------------------------------------


def test_samples_lists_every_bundled_sample(tmp_path):
    folders = sorted(p.parent.name for p in samples_dir().glob("*/gradscope.toml"))
    assert len(folders) >= 6
    result = runner.invoke(app, ["samples"])
    assert result.exit_code == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()[: len(folders)]]
    assert listed == folders
    assert "run one: gradscope diagnose --sample NAME" in result.stdout

    as_json = runner.invoke(app, ["samples", "--json"])
    entries = strict_loads(as_json.stdout)
    assert [e["name"] for e in entries] == folders
    verdicts = {e["name"]: e["expected_verdict"] for e in entries}
    assert set(verdicts.values()) <= {"healthy", "warning", "critical"}
    assert list(verdicts.values()).count("healthy") >= 2 and list(verdicts.values()).count("critical") >= 2
    for entry in entries:
        assert Path(entry["config"]).is_file()
        assert entry["summary"].endswith("."), entry  # the whole first paragraph, not a line cut mid-sentence


def test_diagnose_a_sample(tmp_path):
    result = runner.invoke(app, ["diagnose", "--sample", "healthy_mlp", "--steps", "40", "--json", "--no-plots",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.stderr
    document = strict_loads(result.stdout)
    assert (document["verdict"], document["steps_completed"]) == ("healthy", 40)
    assert "healthy_mlp" in (tmp_path / "run" / "resolved_config.toml").read_text()


# --- subprocesses: what only a real process shows --------------------------------------------------------


def run_process(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_help_and_samples_import_no_heavy_modules(tmp_path):
    code = textwrap.dedent("""
        import sys
        from gradscope.cli import app
        for args in (["--help"], ["diagnose", "--help"], ["samples"]):
            try:
                app(args, prog_name="gradscope")
            except SystemExit as exc:
                assert exc.code in (0, None), (args, exc.code)
        print("HEAVY", sorted({"torch", "pandas", "matplotlib"} & set(sys.modules)))
    """)
    done = run_process([sys.executable, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "HEAVY []"
    assert "diagnose" in done.stdout and "--fail-on" in done.stdout and "healthy_mlp" in done.stdout


def test_python_m_gradscope_version_and_help(tmp_path):
    version = run_process(gradscope_cmd("--version"), tmp_path)
    assert (version.returncode, version.stdout, version.stderr) == (0, f"gradscope {gradscope.__version__}\n", "")
    shown = run_process(gradscope_cmd("--help"), tmp_path)
    assert shown.returncode == 0
    for command in ("diagnose", "samples"):
        assert command in shown.stdout


SUBPROCESS_CASES = {
    "healthy": (["gradscope.toml", "--json"], 0),
    "exploding-and-printing": (["gradscope.toml", "--json", "--set", "data.factory=factories.py:build_loud_data",
                                *EXPLODING], 1),
    "bad-input": (["missing.toml", "--json"], 2),
    "user-code-raises": (["gradscope.toml", "--json", "--set", "model.kwargs.activation=swish"], 3),
}


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_exit_codes_of_the_real_process(tmp_path, write_config, case):
    write_config(MLP_CONFIG, factories=LOUD_FACTORIES)
    args, code = SUBPROCESS_CASES[case]
    done = run_process(gradscope_cmd("diagnose", *args, "--no-plots", "--out", "run"), tmp_path)
    assert done.returncode == code, done.stderr
    assert "Traceback (most recent call last)" not in done.stderr
    if code in (0, 1):
        document = strict_loads(done.stdout)  # the whole of stdout is one JSON document
        assert document["run_dir"] == "run"
        assert document["verdict"] == ("healthy" if code == 0 else "critical")
    else:
        assert done.stdout == ""
    if case == "exploding-and-printing":
        assert "building the data now" in done.stderr
    if code == 2:
        assert done.stderr == "Error: missing.toml: config file does not exist (fix: check the path, or list " \
                              "samples with `gradscope samples`)\n"
    if code == 3:
        assert done.stderr.startswith("factories.py imported\nError: the model factory (while setting up, "
                                      "before step 0) raised KeyError: 'swish'\n"), done.stderr
        assert f'File "{tmp_path / "factories.py"}", line ' in done.stderr


SLOW_FACTORIES = MLP_FACTORIES + '''
import time


class Slow(nn.Module):
    """A linear model whose forward sleeps, so a run lasts long enough to interrupt."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, x):
        time.sleep(0.04)
        return self.lin(x)


def build_slow():
    return Slow()
'''


def test_ctrl_c_keeps_the_trace_and_diagnoses_it(tmp_path, write_config):
    write_config(MLP_CONFIG.replace("factories.py:build_model", "factories.py:build_slow")
                 .replace("steps = 30", "steps = 5000"), factories=SLOW_FACTORIES)
    trace_file = tmp_path / "run" / "trace.csv"
    process = subprocess.Popen(gradscope_cmd("diagnose", "--json", "--no-plots", "--out", "run"), cwd=tmp_path,
                               env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        rows_seen = 0
        while rows_seen < 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never wrote 5 rows"
            time.sleep(0.05)
            if trace_file.is_file():
                rows_seen = len(trace_file.read_text().splitlines()) - 1
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    trace = pd.read_csv(trace_file)
    assert len(trace) >= rows_seen
    assert trace["step"].tolist() == list(range(len(trace)))
    assert trace["loss"].notna().all() and len(trace) < 5000
    diagnosis = strict_loads((tmp_path / "run" / "diagnosis.json").read_text())
    assert diagnosis["steps_completed"] == len(trace)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["stopped"] == "interrupted"
    assert strict_loads(stdout) == diagnosis  # --json still prints the diagnosis of what was recorded
    assert f"Interrupted after {len(trace)} step(s)" in stderr
