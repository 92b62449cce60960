"""`gradscope diagnose -- COMMAND`: real scripts, written as users write them (tests/scripts/), run as real child
processes, attached. Each script logs the numbers it computes itself (the losses it backpropagated, what
clip_grad_norm_ returned, or its own global gradient norm); every trace row must match them."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradscope.attach import command_label
from gradscope.attach.launch import child_environ
from gradscope.attach.session import record_command
from gradscope.attach.settings import BOOT, Settings
from gradscope.cli import app
from gradscope.clip.setting import Clip
from gradscope.trace.trace import StopReason
from tests.conftest import REPO, subprocess_env

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PYTHON = sys.executable
# The script's float32 numbers are printed with .item() (17 digits), the trace's with 10 significant digits; the
# norms are the same kernels' (clip_grad_norm_'s fused norm) or the script's own sum, which may add in another
# order: 1e-5 relative holds on every CPU.
RTOL = 1e-5


def _same(trace, log: list[dict]) -> None:
    assert len(log) > 0
    for row, (loss, norm) in enumerate(zip(trace.loss[:len(log)], trace.grad_norm[:len(log)], strict=True)):
        assert math.isclose(loss, log[row]["loss"], rel_tol=RTOL), (row, loss, log[row])
        assert math.isclose(norm, log[row]["grad_norm"], rel_tol=RTOL), (row, norm, log[row])


@pytest.mark.parametrize(("script", "clip"), [("adamw_accum.py", 1.0), ("lbfgs.py", None),
                                              ("manual_sgd.py", 0.25), ("amp_fp16.py", 1.0)])
def test_each_row_is_the_scripts_own_step(tmp_path: Path, script: str, clip: float | None) -> None:
    log = tmp_path / "log.json"
    result = record_command([PYTHON, str(SCRIPTS / script), str(log)], tmp_path / "run", plots=False)
    assert result.error is None and result.stop is StopReason.COMPLETED
    (run,) = result.runs
    expected = json.loads(log.read_text())
    assert len(run.trace) == len(expected)
    _same(run.trace, expected)
    assert (tmp_path / "run" / "trace.csv").is_file() and (tmp_path / "run" / "diagnosis.json").is_file()
    if clip is not None:  # `clipped` where the script's own clip engaged
        clipped = [int(math.isfinite(r["grad_norm"]) and r["grad_norm"] > clip) for r in expected]
        assert run.trace.column("clipped").tolist() == clipped
        assert run.diagnosis.summary.clip == {"mode": "norm", "threshold": clip}
    if script == "amp_fp16.py":  # the GradScaler's skipped steps are rows, flagged, not findings
        skipped = [int(not math.isfinite(r["grad_norm"])) for r in expected]
        assert run.trace.column("amp_skipped").tolist() == skipped and sum(skipped) >= 1
        assert run.diagnosis.verdict == "healthy"
    # The fp16 overflow a loss hides is checked by replaying a step, which a script's run cannot: said, not skipped
    unchecked = {u.kind: u.why for u in run.diagnosis.unchecked}
    if script == "amp_fp16.py":
        assert "the script computes in float16" in unchecked["activation_overflow"]
        assert "runs on configs only" in unchecked["activation_overflow"]
    else:  # float32: the check would not apply, nothing to say
        assert unchecked == {}
    if script == "manual_sgd.py":  # no optimizer: the module is found inside train(), its names kept
        assert run.trace.info.param_names[0] == "encoder.weight"


def test_the_dtype_a_script_computes_in_is_its_autocasts_not_its_scalers_guess(tmp_path: Path) -> None:
    """A script that makes an (enabled) GradScaler before it enters a bfloat16 autocast computes in bfloat16: the
    scaler's float16 was a guess, and the autocast names the dtype."""
    script = tmp_path / "scaler_then_bf16.py"
    script.write_text(
        "import torch\n"
        "torch.manual_seed(0)\n"
        "model = torch.nn.Linear(4, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "scaler = torch.amp.GradScaler('cpu')\n"
        "for _ in range(4):\n"
        "    opt.zero_grad()\n"
        "    with torch.autocast('cpu', dtype=torch.bfloat16):\n"
        "        loss = model(torch.randn(8, 4)).float().pow(2).mean()\n"
        "    scaler.scale(loss).backward()\n"
        "    scaler.step(opt)\n"
        "    scaler.update()\n")
    result = record_command([PYTHON, str(script)], tmp_path / "run", plots=False)
    assert result.error is None and len(result.runs[0].trace) == 4
    unchecked = {u.kind: u.why for u in result.runs[0].diagnosis.unchecked}
    assert "the script computes in bfloat16" in unchecked["activation_overflow"]


def test_a_shell_script_running_python_dash_m(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    command = ["bash", "-c", f'cd "{SCRIPTS}" && "{PYTHON}" -m sgd_mlp "{log}"']
    result = record_command(command, tmp_path / "run", plots=False, label="sgd")
    (run,) = result.runs
    _same(run.trace, json.loads(log.read_text()))
    assert len(run.trace) == 8 and run.diagnosis.label == "sgd"


def test_a_gan_is_one_run_per_optimizer_named_by_the_script_and_steps_stops_it(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    result = record_command([PYTHON, str(SCRIPTS / "gan.py"), str(log)], tmp_path / "run", steps=3, plots=False)
    assert [r.label for r in result.runs] == ["netD", "netG"]
    expected = json.loads(log.read_text())  # the script logs after each step: the third step's never comes
    for run in result.runs:
        assert run.run_dir == tmp_path / "run" / run.label
        assert len(run.trace) == 3 and run.diagnosis.summary.steps_requested == 3
        _same(run.trace, expected[run.label])
    assert result.stop is StopReason.COMPLETED
    document = result.document()
    assert [r["label"] for r in document["runs"]] == ["netD", "netG"] and document["verdict"] == "healthy"
    # Two optimizers stepping on different losses play a game: judged together (gradscope.diagnose.adversarial).
    assert all(r["adversarial"]["sides"] == ["netD", "netG"] for r in document["runs"])
    saved = json.loads((tmp_path / "run" / "netG" / "diagnosis.json").read_text())
    assert saved["adversarial"]["collapsed"] == []


def test_torchrun_ranks_are_reduced_and_rank_0_writes(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    command = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(SCRIPTS / "ddp.py"), str(log)]
    result = record_command(command, tmp_path / "run", plots=False)
    (run,) = result.runs
    _same(run.trace, json.loads(log.read_text()))  # the global mean loss, the norm of the averaged gradients
    assert len(run.trace) == 4 and result.stop is StopReason.COMPLETED


def test_where_it_went_nonfinite_is_named_by_a_second_run(tmp_path: Path) -> None:
    result = record_command([PYTHON, str(SCRIPTS / "overflow.py")], tmp_path / "run", plots=False)
    (run,) = result.runs
    assert result.stop is StopReason.NONFINITE_WEIGHTS  # stopped there, as a config's run is
    event = next(e for e in run.trace.info.events if e.kind == "nonfinite_loss")
    assert event.module == "1" and event.stage == "forward" and "Scale" in event.detail
    assert event.op["op"] == "aten.exp"
    assert run.diagnosis.summary.first_nonfinite_step == event.step


def test_the_scripts_failures_are_exit_3_with_what_was_recorded(tmp_path: Path) -> None:
    """The steps before the failure are diagnosed and reported (a script that blew up may raise for it: an
    OverflowError from math.exp(loss)), then the failure is one line and exit 3."""
    runner = CliRunner()
    raised = runner.invoke(app, ["diagnose", "--no-plots", "--out", str(tmp_path / "a"), "--",
                                 PYTHON, str(SCRIPTS / "raises.py")])
    assert raised.exit_code == 3, raised.output
    assert "raised ValueError: batch 3 is corrupt" in raised.output and "3 step(s) recorded" in raised.output
    assert "verdict: HEALTHY  3 steps (stopped: your code raised)" in raised.stdout  # the report, on stdout
    assert len((tmp_path / "a" / "trace.csv").read_text().splitlines()) == 1 + 3
    exited = runner.invoke(app, ["diagnose", "--no-plots", "--out", str(tmp_path / "b"), "--",
                                 PYTHON, str(SCRIPTS / "exits2.py")])
    assert exited.exit_code == 3 and "exited with status 2" in exited.output


def test_a_script_that_updates_by_hand_is_not_offered_a_warmup_compare(tmp_path: Path) -> None:
    """The word LM updates its weights by hand (no torch.optim): --warmup cannot change its learning rate, so its
    unstable start's advice offers no `gradscope compare --warmup` line (which would be refused), only the advice."""
    done = CliRunner().invoke(app, ["diagnose", "--no-plots", "--out", str(tmp_path / "run"), "--", PYTHON,
                                    str(REPO / "examples" / "scripts" / "word_lm.py"), "--epochs", "1", "--clip", "0",
                                    "--lr", "40"])
    assert done.exit_code == 1, done.output
    assert "early_instability: unstable start" in done.stdout and "try: warm up the learning rate" in done.stdout
    assert "compare --warmup" not in done.stdout


def test_a_warning_from_a_wrapped_torch_call_names_the_scripts_line(tmp_path: Path) -> None:
    """Torch warns at its caller's line; under the attach its caller is gradscope's wrapper of GradScaler.__init__,
    so the warning named gradscope's file. It names the script's line, as without gradscope, and a warning the
    script raises every step still shows once (Python's default: once per location)."""
    script = tmp_path / "warns.py"
    script.write_text("import warnings\n"
                      "import torch\n"
                      "net = torch.nn.Linear(4, 1)\n"
                      "opt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
                      "scaler = torch.amp.GradScaler('cuda')\n"
                      "for _ in range(3):\n"
                      "    warnings.warn('the script warns every step')\n"
                      "    opt.zero_grad()\n"
                      "    net(torch.randn(8, 4)).pow(2).mean().backward()\n"
                      "    opt.step()\n")
    env = subprocess_env() | {"CUDA_VISIBLE_DEVICES": ""}  # GradScaler('cuda') warns where CUDA is not available
    done = subprocess.run([PYTHON, "-m", "gradscope", "diagnose", "--no-plots", "--out", str(tmp_path / "run"), "--",
                           PYTHON, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{script}:5: UserWarning: torch.cuda.amp.GradScaler is enabled" in done.stderr, done.stderr
    assert "gradscope/attach" not in done.stderr
    assert done.stderr.count(f"{script}:7: UserWarning: the script warns every step") == 1


def test_bad_commands_are_exit_2_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["diagnose", "--", "no-such-trainer-xyz", "train.py"])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [
        "Error: no-such-trainer-xyz: command not found (fix: check its spelling, or the PATH it is on)"]
    both = runner.invoke(app, ["diagnose", str(tmp_path / "x.toml"), "--", PYTHON, "train.py"])
    assert both.exit_code == 2 and len(both.output.strip().splitlines()) == 1
    defeated = runner.invoke(app, ["diagnose", "--out", str(tmp_path / "c"), "--",
                                   PYTHON, str(SCRIPTS / "autograd_grad.py")])
    assert defeated.exit_code == 2 and "torch.autograd.grad" in defeated.output, defeated.output
    assert defeated.output.strip().splitlines()[-1].startswith("Error: ")


def test_a_trials_clip_replaces_the_scripts_own(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    trial = record_command([PYTHON, str(SCRIPTS / "adamw_accum.py"), str(log)], tmp_path / "norm",
                           clip=Clip("norm", 0.3), plots=False)
    (run,) = trial.runs
    norms = [r["grad_norm"] for r in json.loads(log.read_text())]  # what the script's clip returned: pre-clip
    assert run.trace.grad_norm.tolist() == pytest.approx(norms, rel=RTOL)
    assert run.trace.column("clipped").tolist() == [int(n > 0.3) for n in norms]
    assert run.diagnosis.summary.clip == {"mode": "norm", "threshold": 0.3}
    # --clip-adaptive on a script: test_attach_trials.py


def test_the_boot_code_chains_to_the_sitecustomize_it_shadows(tmp_path: Path) -> None:
    import random

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("MARK = 'theirs ran'\n")
    env = {**child_environ(Settings(seed=7)), "PYTHONPATH": f"{BOOT}{os.pathsep}{theirs}"}
    probe = ("import random, sitecustomize, sys; "
             "print(sitecustomize.MARK, random.random(), 'torch' in sys.modules, sep='|')")
    out = subprocess.run([PYTHON, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    mark, drawn, torch_loaded = out.strip().split("|")
    random.seed(7)  # Python's random is seeded as the script starts; torch is imported only by a script that does
    assert (mark, float(drawn), torch_loaded) == ("theirs ran", random.random(), "False")


def test_settings_travel_through_the_environment_and_commands_have_short_names() -> None:
    settings = Settings(out=Path("/x/run"), control=Path("/x/c.jsonl"), steps=5, seed=3, clip=Clip("norm", 0.5),
                        locate=2, locate_label="netG")
    assert Settings.from_environ(settings.environ()) == settings
    assert Settings.from_environ({**settings.environ(), "GRADSCOPE_ATTACH_CLIP": "adaptive"}).clip == Clip("adaptive")
    assert command_label(["torchrun", "--nproc-per-node", "2", "src/train.py", "--lr", "1"]) == "train.py"
    assert command_label(["python", "-m", "pkg.train"]) == "pkg.train"
    assert command_label(["./run_all"]) == "run_all"


def test_ctrl_c_stops_the_whole_script_and_keeps_the_trace_and_json_stdout_holds_the_document(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    out = tmp_path / "run"
    command = [PYTHON, "-m", "gradscope", "diagnose", "--json", "--no-plots", "--out", str(out), "--",
               PYTHON, str(SCRIPTS / "forever.py"), str(pids)]
    gradscope = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        trace = out / "model" / "trace.csv"
        if trace.is_file() and len(trace.read_text().splitlines()) > 3:
            break
        time.sleep(0.2)
    gradscope.send_signal(signal.SIGINT)
    document, err = gradscope.communicate(timeout=60)
    assert gradscope.returncode == 130, err
    assert json.loads(document)["summary"]["stopped"] == "interrupted"  # stdout: the one JSON document
    assert "training until stopped" in err  # the script's own output: on stderr
    assert len((out / "trace.csv").read_text().splitlines()) > 3  # kept, and diagnosed
    assert json.loads((out / "diagnosis.json").read_text())["summary"]["stopped"] == "interrupted"
    for pid in map(int, pids.read_text().split()):  # the script and its own helper process: both gone
        assert not running(pid), f"pid {pid} still runs"


def test_a_signal_to_gradscope_alone_leaves_no_worker_of_a_launcher_behind(tmp_path: Path) -> None:
    """`timeout` or a scheduler signals gradscope's process only. A launcher runs its worker in a session of its
    own (as torchrun runs its ranks), out of reach of a signal to the command's process group, and the worker
    ignores the signal (a rank blocked in a collective): once its launcher is gone the worker would be left an
    orphan, hung (torchrun's ranks were, after gradscope killed torchrun at the end of its grace). gradscope finds
    it by parentage when the signal comes and kills it too."""
    pids = tmp_path / "pids"
    out = tmp_path / "run"
    command = [PYTHON, "-m", "gradscope", "diagnose", "--no-plots", "--out", str(out), "--",
               PYTHON, str(SCRIPTS / "launcher.py"), str(pids)]
    gradscope = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (pids.is_file() and (out / "model" / "trace.csv").is_file()):
        time.sleep(0.2)
    gradscope.send_signal(signal.SIGTERM)
    _, err = gradscope.communicate(timeout=120)
    assert gradscope.returncode != 0, err
    worker, launcher = map(int, pids.read_text().split())
    assert not running(launcher), "the launcher still runs"
    assert not running(worker), "the launcher's worker still runs"


def running(pid: int, wait: float = 10.0) -> bool:
    """Whether `pid` still runs after up to `wait` seconds. A process killed with SIGKILL dies when the kernel next
    schedules it (late on a loaded machine), and then stays a zombie until its parent, here init, reaps it: a
    zombie runs nothing, so it counts as gone."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        stat = Path(f"/proc/{pid}/stat")  # Linux: a zombie's state is Z (elsewhere a zombie counts as running)
        with contextlib.suppress(OSError):
            if stat.read_text().rpartition(")")[2].split()[0] in ("Z", "X"):
                return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)
