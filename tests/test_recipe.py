"""The training recipe in the config ([schedule], [run] precision and accumulate) against plain torch loops.

Every reference comes from the loop a user would write with the same recipe: transformers' schedule functions,
`torch.autocast`, `torch.amp.GradScaler("cpu")`, loss / N per micro-batch. Never from gradscope.
"""

from __future__ import annotations

import math
import shlex

import numpy as np
import pytest
import torch
from conftest import MLP_CONFIG, MLP_FACTORIES
from torch import nn
from typer.testing import CliRunner

from gradscope.cli import app
from gradscope.config.load import ScheduleConfig, load_config
from gradscope.drivers.loop import train

REL = 1e-5

FACTORIES = '''
import torch
from torch import nn


def build_model(width=16, scale_out=1.0):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))


def build_data(n=192, batch_size=16, target_scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)) * target_scale
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]


class Amplify(nn.Module):
    """x * 1000: finite in float32, past float16's 65,504 once |x| > 65.5."""

    def forward(self, x):
        return x * 1000.0


def build_overflowing(width=8):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, width), Amplify(), nn.Linear(width, 1))


def build_big_inputs(n=64, batch_size=16):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g) * 200.0
    y = torch.randn(n, 1, generator=g)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]


def step_size_schedule(optimizer, steps, every=5):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=every, gamma=0.5)
'''


def config_text(extra: str = "", steps: int = 24, lr: float = 0.05, optimizer: str = "SGD",
                model: str = "build_model", data: str = "build_data", data_kwargs: str = "") -> str:
    return f"""
[model]
factory = "factories.py:{model}"

[data]
factory = "factories.py:{data}"
kwargs = {{ {data_kwargs} }}
shuffle = false

[loss]
name = "MSELoss"

[optimizer]
name = "{optimizer}"
lr = {lr}

[run]
steps = {steps}
seed = 0
device = "cpu"
{extra}
"""


def write(tmp_path, body: str):
    (tmp_path / "factories.py").write_text(FACTORIES)
    path = tmp_path / "gradscope.toml"
    path.write_text(body)
    return path


def factories(tmp_path):
    import importlib.util

    (tmp_path / "factories.py").write_text(FACTORIES)
    spec = importlib.util.spec_from_file_location("recipe_factories", tmp_path / "factories.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_loop(tmp_path, steps, *, lr=0.05, optimizer="SGD", accumulate=1, precision="fp32", schedule=None,
               model="build_model", data="build_data", data_kwargs=None):
    """The loop a user writes, returning per optimizer step (loss, pre-clip grad norm, lr, skipped)."""
    f = factories(tmp_path)
    torch.manual_seed(0)
    net = getattr(f, model)()
    batches = getattr(f, data)(**(data_kwargs or {}))
    opt = getattr(torch.optim, optimizer)(net.parameters(), lr=lr)
    sched = schedule(opt) if schedule else None
    scaler = torch.amp.GradScaler("cpu") if precision == "fp16" else None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    loss_fn = nn.MSELoss()
    rows, i = [], 0
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        losses = []
        for _ in range(accumulate):
            x, y = batches[i % len(batches)]
            i += 1
            if dtype is None:
                loss = loss_fn(net(x), y)
            else:
                with torch.autocast("cpu", dtype=dtype):
                    loss = loss_fn(net(x), y)
            losses.append(loss.item())
            scaled = loss / accumulate
            (scaler.scale(scaled) if scaler else scaled).backward()
        if scaler:
            scaler.unscale_(opt)
        norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), math.inf))
        used_lr = opt.param_groups[0]["lr"]
        skipped = False
        if scaler:
            before = scaler.get_scale()
            scaler.step(opt)
            scaler.update()
            skipped = scaler.get_scale() < before
        else:
            opt.step()
        if sched:
            sched.step()
        rows.append((sum(losses) / len(losses), norm, used_lr, skipped))
    return rows


def run(tmp_path, body: str):
    path = write(tmp_path, body)
    result = train(load_config(path), tmp_path / "run", write_plots=False)
    return result, result.trace.to_frame()


def assert_matches(frame, rows, rel=REL, skipped=None):
    loss, norm, lr, skip = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    ok = skip == 0 if skipped is None else np.ones(len(rows), bool)
    np.testing.assert_allclose(frame["loss"].to_numpy(), loss, rtol=rel)
    np.testing.assert_allclose(frame["grad_norm"].to_numpy()[ok], norm[ok], rtol=rel)
    np.testing.assert_allclose(frame["lr"].to_numpy(), lr, rtol=1e-12)


@pytest.mark.parametrize(("name", "extra"), [("linear", ""), ("cosine", ""), ("cosine", "num_cycles = 1.5"),
                                             ("constant", "")])
def test_builtin_schedules_match_transformers(tmp_path, name, extra):
    import transformers

    make = {"linear": transformers.get_linear_schedule_with_warmup,
            "cosine": transformers.get_cosine_schedule_with_warmup,
            "constant": transformers.get_constant_schedule_with_warmup}[name]
    kwargs = {} if name == "constant" else {"num_training_steps": 24}
    if extra:
        kwargs["num_cycles"] = 1.5
    rows = plain_loop(tmp_path, 24, schedule=lambda opt: make(opt, num_warmup_steps=6, **kwargs))
    result, frame = run(tmp_path, config_text(f'\n[schedule]\nname = "{name}"\nwarmup_steps = 6\n{extra}\n'))
    assert frame["lr"].iloc[0] == 0.0  # warm-up starts from 0, as in transformers
    assert_matches(frame, rows)
    assert result.diagnosis.verdict == "healthy"


def test_torch_scheduler_by_name_and_by_import_path(tmp_path):
    rows = plain_loop(tmp_path, 20, schedule=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 5, gamma=0.5))
    _, frame = run(tmp_path, config_text('\n[schedule]\nname = "StepLR"\nstep_size = 5\ngamma = 0.5\n', steps=20))
    assert_matches(frame, rows)
    assert sorted(set(frame["lr"])) == [0.05 / 8, 0.05 / 4, 0.05 / 2, 0.05]
    _, frame2 = run(tmp_path, config_text('\n[schedule]\nname = "factories.py:step_size_schedule"\nevery = 5\n',
                                          steps=20))
    assert_matches(frame2, rows)


def test_accumulation_one_row_per_optimizer_step(tmp_path):
    rows = plain_loop(tmp_path, 10, accumulate=3)
    result, frame = run(tmp_path, config_text("accumulate = 3", steps=10))
    assert len(frame) == 10 and list(frame["step"]) == list(range(10))
    assert_matches(frame, rows)
    # Not the same as one micro-batch per step: the accumulated gradients are a 3-batch mean.
    single = plain_loop(tmp_path, 10)
    assert not np.allclose([r[1] for r in single], frame["grad_norm"], rtol=1e-3)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_matches_autocast_loop(tmp_path, precision):
    rows = plain_loop(tmp_path, 16, precision=precision, accumulate=2)
    result, frame = run(tmp_path, config_text(f'precision = "{precision}"\naccumulate = 2', steps=16))
    assert_matches(frame, rows, rel=1e-4)
    assert result.diagnosis.summary.amp_skipped_steps == sum(r[3] for r in rows)
    assert result.diagnosis.verdict == "healthy"


def test_fp16_skipped_steps_counted_as_the_scaler_skips_them(tmp_path):
    # Targets x300: the first gradients times the initial scale 65536 overflow float16, so the scaler skips
    # steps while its scale settles. That is normal AMP: counted, not reported as non-finite gradients.
    kwargs = {"target_scale": 300.0}
    rows = plain_loop(tmp_path, 20, precision="fp16", lr=1e-4, data_kwargs=kwargs)
    expected = sum(r[3] for r in rows)
    assert 2 <= expected <= 12
    result, frame = run(tmp_path, config_text('precision = "fp16"', steps=20, lr=1e-4,
                                              data_kwargs="target_scale = 300.0"))
    assert int(frame["amp_skipped"].sum()) == expected
    assert list(frame["amp_skipped"].astype(bool)) == [r[3] for r in rows]
    assert_matches(frame, rows, rel=1e-4)
    assert result.diagnosis.summary.amp_skipped_steps == expected
    assert "nonfinite_gradient" not in result.diagnosis.kinds()


def test_fp16_overflow_names_the_module(tmp_path):
    # Linear -> x1000 overflows float16 (65,504) under autocast, although float32 holds it: the replay of the
    # first bad step runs under the same autocast and names the module whose output overflowed.
    body = config_text('precision = "fp16"', steps=5, lr=1e-12, model="build_overflowing", data="build_big_inputs")
    path = write(tmp_path, body)
    result = train(load_config(path), tmp_path / "run", write_plots=False)
    assert result.diagnosis.summary.first_nonfinite_step == 0
    loss_symptom = next(s for s in result.diagnosis.symptoms if s.kind.value == "nonfinite_loss")
    assert loss_symptom.module == "1"
    assert "Amplify" in loss_symptom.message or "Amplify" in str(loss_symptom.evidence)
    # The same model in fp32 is finite.
    fp32 = config_text("", steps=5, lr=1e-12, model="build_overflowing", data="build_big_inputs")
    result32 = train(load_config(write(tmp_path, fp32)), tmp_path / "run32", write_plots=False)
    assert result32.diagnosis.summary.first_nonfinite_step is None


@pytest.mark.parametrize(("extra", "message"), [
    ('precision = "fp8"', "[run] precision must be one of fp32, bf16, fp16"),
    ("accumulate = 0", "[run] accumulate must be a positive integer"),
    ('\n[schedule]\nname = "cosin"', 'did you mean "cosine"'),
    ('\n[schedule]\nwarmup_steps = 10', "[schedule] name is required"),
    ('\n[schedule]\nname = "StepLR"\nwarmup_steps = 10', "warmup_steps goes with the built-in schedules"),
    ('\n[schedule]\nname = "StepLR"\ngamma = 0.5', "StepLR"),
    ('\n[schedule]\nname = "StepLR"\nstep_size = "five"', "[schedule] step_size must be a number"),
    ('\n[schedule]\nname = "linear"\nwarmup_steps = -1', "[schedule] warmup_steps must be an integer >= 0"),
    ('\n[schedule]\nname = "linear"\nnum_cycles = 2', "unknown key [schedule] num_cycles"),
    ('\n[schedule]\nname = "factories.py:nope"', "nope"),
])
def test_bad_recipe_values_are_one_line_exit_2(tmp_path, extra, message):
    path = write(tmp_path, config_text(extra, steps=3))
    result = CliRunner().invoke(app, ["diagnose", str(path), "--no-plots", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_recipe_in_resolved_config_reruns_the_same(tmp_path):
    body = config_text('precision = "bf16"\naccumulate = 2\n\n[schedule]\nname = "cosine"\nwarmup_steps = 3',
                       steps=8)
    first, frame = run(tmp_path, body)
    again = train(load_config(tmp_path / "run" / "resolved_config.toml"), tmp_path / "again", write_plots=False)
    np.testing.assert_array_equal(frame["loss"], again.trace.to_frame()["loss"])
    np.testing.assert_array_equal(frame["lr"], again.trace.to_frame()["lr"])


def test_a_data_error_under_accumulation_names_the_optimizer_step(tmp_path):
    factories_text = FACTORIES + '''

def build_failing(n=10):
    for i in range(n):
        if i == 5:
            raise ValueError("bad record 5")
        yield torch.randn(16, 4), torch.randn(16, 1)
'''
    (tmp_path / "factories.py").write_text(factories_text)
    path = tmp_path / "gradscope.toml"
    path.write_text(config_text("accumulate = 2", steps=6, data="build_failing"))
    result = CliRunner().invoke(app, ["diagnose", str(path), "--no-plots", "--out", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "the data at step 2 raised ValueError: bad record 5" in result.output  # micro-batch 5 is step 2's
    assert (tmp_path / "out" / "diagnosis.json").is_file()


@pytest.mark.parametrize(("schedule", "warmed", "changes"), [
    (ScheduleConfig(), ScheduleConfig("constant", 20), 'schedule.name="constant";schedule.warmup_steps=20'),
    (ScheduleConfig("cosine"), ScheduleConfig("cosine", 20), "schedule.warmup_steps=20"),
    (ScheduleConfig("linear", 5), None, None),  # its own warm-up: lengthening it is the user's call
    (ScheduleConfig("StepLR", options={"step_size": 5}), None, None),
])
def test_a_warmup_goes_in_front_of_the_schedule_the_run_has(schedule, warmed, changes):
    assert schedule.warmed_up(20) == ((warmed, changes) if warmed else None)


def test_an_unstable_start_names_the_warmup_compare_of_the_run_as_given(tmp_path):
    """An MLP at Adam lr 1.0 with a cosine given by --set: its first updates throw the loss 1500x. The advice's
    warm-up (at most half the run; the lr is where the cosine stood at step 1) is a `compare --try` on that same
    run, and the printed command loads the config it means: the cosine with a warm-up in front."""
    (tmp_path / "factories.py").write_text(MLP_FACTORIES)
    (tmp_path / "mlp.toml").write_text(MLP_CONFIG)
    given = ["--set", 'optimizer.name="Adam"', "--set", "optimizer.lr=1.0", "--set", 'schedule.name="cosine"']
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "mlp.toml"), "--no-plots", *given,
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output  # critical: it also diverges
    assert "warm up the learning rate from 0 over the first 15 steps, or lower it (lr 0.9973)" in result.stdout
    [line] = [ln.strip() for ln in result.stdout.splitlines() if ln.strip().startswith("side by side: ")]
    printed = shlex.split(line.removeprefix("side by side: "))
    assert printed == ["gradscope", "compare", str(tmp_path / "mlp.toml"), *given,
                       "--try", "schedule.warmup_steps=15"]
    config = load_config(tmp_path / "mlp.toml", ['optimizer.name="Adam"', "optimizer.lr=1.0", 'schedule.name="cosine"',
                                                 "schedule.warmup_steps=15"])
    assert config.schedule == ScheduleConfig("cosine", 15)
