"""gradscope under torch.distributed: real 2-process groups on CPU (gloo) launched with torchrun, against a
single-process plain loop on the same global batches.

Three launches serve every test (the torch import dominates): `distributed_worker.py` runs the Monitor on FSDP2
and DDP models in several scenarios; `torchrun -m gradscope diagnose` runs a healthy FSDP2 config; two ranks
started with torchrun's variables run `python -m gradscope diagnose` on a DDP config that blows up, so that each
rank's exit code is seen.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import MLP_CONFIG, MLP_FACTORIES, subprocess_env
from distributed_worker import FLOAT64_LR, NAN_STEP, SCENARIOS, build_model, plain_loop
from typer.testing import CliRunner

from gradscope.cli import app
from gradscope.monitor.param_names import clean_name, trainable_parameters
from gradscope.numbers import FLOAT32_MAX

TESTS = Path(__file__).resolve().parent
REL = 1e-4

# conftest's MLP config, shorter, with the parallel mode left to fill in
HEALTHY = MLP_CONFIG.replace("steps = 30\nseed = 0", 'steps = 6\nseed = 0\nparallel = "{parallel}"')

BLOWS_UP = """
[model]
factory = "factories.py:build_model"

[data]
factory = "factories.py:build_data"
kwargs = {{ scale = 10.0 }}

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 0.5

[run]
steps = 8
parallel = "{parallel}"
"""


def torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    env = subprocess_env() | {"PYTHONPATH": f"{TESTS.parent}:{TESTS}"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def write_config(folder: Path, body: str, parallel: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "factories.py").write_text(MLP_FACTORIES)
    path = folder / f"{parallel}.toml"
    path.write_text(textwrap.dedent(body.format(parallel=parallel)))
    return path


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    """The worker's results on rank 0 and rank 1, and its folder."""
    out = tmp_path_factory.mktemp("dist")
    done = torchrun(str(TESTS / "distributed_worker.py"), str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    return (json.loads((out / "rank0.json").read_text()), json.loads((out / "rank1.json").read_text()), out)


def close(got: list[float], want: list[float]) -> bool:
    """Equal to REL relative; non-finite exactly where the reference is, but either kind of non-finite: gloo's
    all-reduce of an overflowed value may give NaN where the single process has inf (an inf meeting an inf of the
    other sign, or a NaN, in its sum), and which one a machine gets depends on its reduction order."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    finite = np.isfinite(want)
    return bool(np.array_equal(np.isfinite(got), finite)
                and np.allclose(got[finite], want[finite], rtol=REL, atol=0))


@pytest.mark.parametrize("name", ["fsdp", "ddp"])
def test_global_and_per_parameter_norms_are_the_single_process_ones(launched, name):
    rank0, rank1, _ = launched
    want = plain_loop()
    for got in (rank0[name], rank1[name]):
        assert close(got["grad_norm"], want["grad_norm"])
        assert close(np.asarray(got["param_norms"]).ravel(), np.asarray(want["param_norms"]).ravel())
        assert close(got["loss"], want["loss"])  # the global mean, not a rank's half
        assert close(got["weight_norm"], want["weight_norm"])
        assert close(got["grad_max_abs"], want["grad_max_abs"])
    assert rank0[name] == rank1[name]  # every rank holds the same record


@pytest.mark.parametrize("name", ["fsdp", "ddp"])
def test_names_shapes_and_modules_are_the_models_own(launched, name):
    got = launched[0][name]
    model = build_model()
    assert got["names"] == [n for n, _ in model.named_parameters()]  # no `module.` under DDP
    assert got["shapes"] == [list(p.shape) for p in model.parameters()]  # full shapes, not FSDP2's shards
    assert set(got["owners"]) == {"Linear"}  # not FSDP2's FSDPLinear


@pytest.mark.parametrize("name", ["fsdp_clip", "ddp_clip", "fsdp_sync"])
def test_clip_norm_clips_every_shard_by_the_global_coefficient(launched, name):
    """The clipped run's norms follow the single-process clipped run step for step (also with sync_every=2)."""
    args = SCENARIOS[name]
    want = plain_loop(lr=args["lr"], clip=args["clip"])
    for got in launched[:2]:
        assert close(got[name]["grad_norm"], want["grad_norm"])
        assert close(got[name]["loss"], want["loss"])
        assert got[name]["clipped"] == [int(n > args["clip"]) for n in want["grad_norm"]]
    assert close(want["grad_norm"][1:], plain_loop(lr=args["lr"])["grad_norm"][1:]) is False  # clipping mattered


def test_clip_value_matches_the_single_process_run(launched):
    want = plain_loop(clip_value=SCENARIOS["fsdp_value"]["clip_value"])
    for got in launched[:2]:
        assert close(got["fsdp_value"]["grad_norm"], want["grad_norm"])
        assert close(got["fsdp_value"]["grad_max_abs"][1:], want["grad_max_abs"][1:])  # tracked from step 1
        assert got["fsdp_value"]["clipped"] == [1] * len(want["grad_norm"])


@pytest.mark.parametrize("name", ["ddp_float64", "fsdp_float64"])
def test_a_float64_model_keeps_its_precision_across_ranks(launched, name):
    """A float64 model whose loss and gradient norms pass float32's range while finite: every rank's trace holds
    the single-process float64 numbers, not the inf that a float32 reduction would make of them."""
    want = plain_loop(lr=FLOAT64_LR, float64=True)
    assert min(want["grad_norm"]) > FLOAT32_MAX and min(want["loss"]) > FLOAT32_MAX  # the scenario does what it says
    for got in launched[:2]:
        assert close(got[name]["grad_norm"], want["grad_norm"])
        assert close(got[name]["loss"], want["loss"])
        assert close(np.asarray(got[name]["param_norms"]).ravel(), np.asarray(want["param_norms"]).ravel())
        assert close(got[name]["grad_max_abs"], want["grad_max_abs"])
        assert not [kind for kind, _ in got[name]["events"] if kind.startswith("nonfinite")]


@pytest.mark.parametrize("name", ["fsdp_nan", "ddp_nan"])
def test_a_nan_on_one_rank_is_seen_by_every_rank_at_the_same_step(launched, name):
    """The NaN sits in rank 1's half of the batch only; both ranks report it at that step, as one process does."""
    want = plain_loop(nan=True)
    first = next(i for i, v in enumerate(want["loss"]) if not math.isfinite(v))
    assert first == NAN_STEP
    for got in launched[:2]:
        events = dict((kind, step) for kind, step in got[name]["events"])
        assert events["nonfinite_loss"] == NAN_STEP
        assert events["nonfinite_gradient"] == NAN_STEP
        assert close(got[name]["grad_norm"], want["grad_norm"])
    assert launched[0][name]["events"] == launched[1][name]["events"]


def test_save_writes_on_rank_0_only(launched):
    rank0, rank1, out = launched
    assert (out / "rank0" / "trace.csv").is_file() and (out / "rank0" / "diagnosis.json").is_file()
    assert rank1["fsdp_save"]["saved"] == str(out / "rank1")  # returned, and nothing written there
    assert not (out / "rank1").exists()
    trace = pd.read_csv(out / "rank0" / "trace.csv")
    assert close(trace["grad_norm"].tolist(), plain_loop()["grad_norm"])


def single_process(folder: Path, body: str) -> tuple[int, pd.DataFrame, dict]:
    config = write_config(folder, body, "none")
    result = CliRunner().invoke(app, ["diagnose", str(config), "--json", "--no-plots", "--out", str(folder / "run")])
    return result.exit_code, pd.read_csv(folder / "run" / "trace.csv"), json.loads(result.stdout)


def same_trace(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got["step"]) == list(want["step"])
    for column in ("loss", "grad_norm", "weight_norm", "grad_max_abs"):
        assert close(got[column].tolist(), want[column].tolist()), column


def test_torchrun_diagnose_fsdp_gives_the_single_process_trace(tmp_path):
    code, want, document = single_process(tmp_path / "one", HEALTHY)
    config = write_config(tmp_path / "fsdp", HEALTHY, "fsdp")
    run_dir = tmp_path / "fsdp-run"
    done = torchrun("-m", "gradscope", "diagnose", str(config), "--json", "--no-plots", "--out", str(run_dir))
    assert done.returncode == code == 0, done.stderr[-3000:]  # torchrun exits 0 only when every rank did
    got = json.loads(done.stdout)  # exactly one JSON document on stdout: rank 0's
    assert got["verdict"] == document["verdict"] and got["run_dir"] == str(run_dir)
    same_trace(pd.read_csv(run_dir / "trace.csv"), want)
    names = json.loads((run_dir / "run.json").read_text())["param_names"]
    assert names == json.loads((tmp_path / "one" / "run" / "run.json").read_text())["param_names"]


def launch_two(*args: str, cwd: Path) -> list[subprocess.CompletedProcess]:
    """Two ranks started as torchrun starts them (its env:// variables), so each rank's exit code is seen:
    torchrun itself stops the other ranks once one exits non-zero."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = subprocess_env() | {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                              "LOCAL_WORLD_SIZE": "2"}
    ranks = [subprocess.Popen([sys.executable, *args], env=env | {"RANK": str(r), "LOCAL_RANK": str(r)}, cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    results = []
    for rank in ranks:
        stdout, stderr = rank.communicate(timeout=240)
        results.append(subprocess.CompletedProcess(rank.args, rank.returncode, stdout, stderr))
    return results


def test_diagnose_ddp_blowup_same_step_and_same_exit_code_on_every_rank(tmp_path):
    code, want, document = single_process(tmp_path / "one", BLOWS_UP)
    assert code == 1 and document["summary"]["first_nonfinite_step"] is not None
    config = write_config(tmp_path / "ddp", BLOWS_UP, "ddp")
    run_dir = tmp_path / "ddp-run"
    rank0, rank1 = launch_two("-m", "gradscope", "diagnose", str(config), "--json", "--no-plots",
                              "--out", str(run_dir), cwd=tmp_path)
    assert rank0.returncode == rank1.returncode == 1, rank0.stderr[-2000:] + rank1.stderr[-2000:]
    assert rank1.stdout == ""  # rank 0 prints
    got = json.loads(rank0.stdout)
    assert got["summary"]["first_nonfinite_step"] == document["summary"]["first_nonfinite_step"]
    assert got["verdict"] == document["verdict"] == "critical"
    assert [s["kind"] for s in got["symptoms"]] == [s["kind"] for s in document["symptoms"]]
    same_trace(pd.read_csv(run_dir / "trace.csv"), want)


def test_parallel_without_torchrun_is_one_line_and_exit_2(tmp_path):
    config = write_config(tmp_path, HEALTHY, "ddp")
    result = CliRunner().invoke(app, ["diagnose", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "needs torchrun" in result.output and "torchrun --nproc-per-node" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_parallel_value_is_validated(tmp_path):
    config = write_config(tmp_path, HEALTHY, "fsdp2")
    result = CliRunner().invoke(app, ["diagnose", str(config)])
    assert result.exit_code == 2
    assert "[run] parallel must be one of none, ddp, fsdp" in result.output and "fsdp2" in result.output


def test_wrapper_prefixes_are_dropped_from_names():
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    model = build_model()
    model[2] = checkpoint_wrapper(model[2])
    compiled = torch.compile(model)
    assert [n for n, _ in compiled.named_parameters()][2].startswith("_orig_mod.2._checkpoint_wrapped_module.")
    assert [n for n, _ in trainable_parameters(compiled)] == [n for n, _ in build_model().named_parameters()]
    assert clean_name("layers.0._fsdp_wrapped_module.attn.weight") == "layers.0.attn.weight"
    assert clean_name("module.weight") == "module.weight"  # a user's layer called `module` keeps its name


def test_a_batch_that_does_not_split_is_a_clear_error():
    from gradscope.drivers.distributed import rank_slice
    from gradscope.errors import ConfigError

    assert rank_slice({"x": torch.zeros(6, 2), "n": 3}, 1)["x"].shape == (6, 2)
    with pytest.raises(ConfigError, match="a batch of 7 does not split across 2 ranks"):
        rank_slice((torch.zeros(8, 2), [torch.zeros(7)]), 2)


@pytest.mark.parametrize(("data", "named"), [
    ('factory = "factories.py:as_dataset"', "e.g. 28, in {tmp}/c.toml: [data] batch_size)"),  # a Dataset
    ('factory = "factories.py:own_loader"\nkwargs = { batch = 30 }', "e.g. 28, in {tmp}/c.toml: [data] kwargs.batch)"),
    ('factory = "factories.py:own_loader"', "e.g. 28, in factories.py:own_loader, which batches its own data"),
])
def test_the_split_error_names_where_the_batch_size_is_set(tmp_path, data, named):
    """[data] batch_size only batches a Dataset: a factory that returns its own loader sets the size itself."""
    from gradscope.build.loading import build_batches
    from gradscope.config.load import load_config
    from gradscope.drivers.distributed import rank_slice
    from gradscope.errors import ConfigError

    (tmp_path / "factories.py").write_text(MLP_FACTORIES + '''

def as_dataset():
    x = torch.randn(60, 4)
    return torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))


def own_loader(batch=30):
    return torch.utils.data.DataLoader(as_dataset(), batch_size=batch)
''')
    config = tmp_path / "c.toml"
    config.write_text(MLP_CONFIG[:MLP_CONFIG.index("[data]")] + f"[data]\n{data}\nbatch_size = 30\n"
                      + MLP_CONFIG[MLP_CONFIG.index("[loss]"):])
    batches = build_batches(load_config(config), 0)
    with pytest.raises(ConfigError, match="a batch of 30 does not split across 4 ranks") as raised:
        rank_slice(next(iter(batches)), 4, batches.batch_size_at)
    assert named.format(tmp=tmp_path) in str(raised.value)
