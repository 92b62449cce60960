"""`gradscope diagnose LOG` and `compare LOG LOG` on logs written by the real writers: a `Trainer.train`'s
trainer_state.json (logging_steps 1 and 10), a `SummaryWriter`'s events, Lightning's `CSVLogger` under a real
`Trainer.fit`, CSV and JSONL from a plain loop; NaN/Inf as each writes them.

Every expected step comes from the plain loop or the file itself, never from gradscope.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from gradscope.cli import app
from gradscope.diagnose.logs import diagnose_log
from gradscope.sources.registry import SOURCES, read_log

BLOWUP_LR = 0.04  # SGD on the regression below: the loss overflows at 0-based step 8 (a plain loop's count)
BLOWUP_STEP = 8


class Regression(nn.Module):
    """A linear model (no tanh): at a too-high SGD learning rate it overflows, as an unclipped model does."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 1))

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": nn.functional.mse_loss(out, labels)} if labels is not None else out


def regression_data(n: int = 32, scale: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g) * scale
    return x, x.sum(1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)


def plain_loop(steps: int, lr: float, *, amp_skips: bool = False) -> list[dict]:
    """One dict per step (1-based, as the Trainer counts): loss, the pre-clip grad norm, lr. With `amp_skips`, a
    real GradScaler whose first scale overflows: its skipped steps log an inf/NaN norm, as a Trainer does."""
    model = Regression()
    x, y = regression_data(scale=10.0 if amp_skips else 3.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**127, growth_interval=10**6) if amp_skips else None
    rows = []
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = model(x, y)["loss"]
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e30)  # measured, never clipped
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        rows.append({"step": step, "loss": float(loss.detach()), "grad_norm": float(norm), "lr": lr})
    return rows


def first_bad(rows: list[dict], key: str = "loss") -> int:
    return next(r["step"] for r in rows if not math.isfinite(r[key]))


# -- Hugging Face Trainer -----------------------------------------------------------------------------------
def trainer_run(tmp, logging_steps: int, steps: int = 20):
    from transformers import Trainer, TrainingArguments

    model = Regression()
    x, y = regression_data()
    args = TrainingArguments(output_dir=str(tmp / "hf"), logging_steps=logging_steps, report_to=[],
                             save_strategy="steps", save_steps=steps, max_steps=steps, use_cpu=True,
                             disable_tqdm=True, per_device_train_batch_size=32, max_grad_norm=1e30,
                             train_sampling_strategy="sequential", dataloader_num_workers=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=BLOWUP_LR)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    trainer = Trainer(model=model, args=args, train_dataset=[{"x": a, "labels": b} for a, b in zip(x, y, strict=True)],
                      optimizers=(optimizer, scheduler))
    trainer.train()
    return tmp / "hf"


@pytest.mark.parametrize("logging_steps", [1, 10])
def test_trainer_state_blowup_is_critical_at_the_trainers_own_logged_step(tmp_path, logging_steps):
    out = trainer_run(tmp_path, logging_steps)
    state = json.loads((out / "checkpoint-20" / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "loss" in e]
    reading = read_log(out)  # the output folder: its latest checkpoint's trainer_state.json
    assert reading.format == "trainer_state.json"
    assert reading.trace.steps.tolist() == [e["step"] for e in logged] == list(range(logging_steps, 21,
                                                                                         logging_steps))
    # The first logged step at or after the plain loop's first non-finite step (the loop counts from 0, the
    # Trainer from 1); the Trainer's nan filter keeps the logged loss finite, its grad_norm shows it.
    expected = next(s for s in reading.trace.steps.tolist() if s >= BLOWUP_STEP + 1)
    diagnosis = diagnose_log(out)
    assert diagnosis.verdict == "critical"
    assert diagnosis.summary.first_nonfinite_step == expected
    assert min(s.step for s in diagnosis.symptoms if s.kind.value.startswith("nonfinite")) == expected
    assert {u.kind for u in diagnosis.unchecked} >= {"vanishing_gradient", "weight_growth"}


def test_trainer_state_file_and_cli_json_say_what_is_unchecked(tmp_path):
    out = trainer_run(tmp_path, 1, steps=6)  # stops before it blows up
    result = CliRunner().invoke(app, ["diagnose", str(out / "checkpoint-6" / "trainer_state.json"), "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert doc["log"]["format"] == "trainer_state.json" and doc["log"]["rows"] == 6
    unchecked = {u["kind"]: u["why"] for u in doc["unchecked"]}
    assert "per-parameter gradient norms" in unchecked["vanishing_gradient"]
    assert "exploding_gradient" not in unchecked  # the Trainer logs grad_norm: growth is checked


# -- TensorBoard --------------------------------------------------------------------------------------------
def write_tensorboard(folder, rows: list[dict]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    for row in rows:
        writer.add_scalar("train/loss", row["loss"], row["step"])
        writer.add_scalar("train/grad_norm", row["grad_norm"], row["step"])
        writer.add_scalar("train/learning_rate", row["lr"], row["step"])
    writer.close()


def test_tensorboard_folder_blowup_and_gradscaler_skips(tmp_path):
    blowup = plain_loop(20, BLOWUP_LR)
    write_tensorboard(tmp_path / "runs" / "blowup", blowup)
    diagnosis = diagnose_log(tmp_path / "runs" / "blowup")
    assert diagnosis.verdict == "critical"
    assert diagnosis.summary.first_nonfinite_step == min(first_bad(blowup), first_bad(blowup, "grad_norm"))

    amp = plain_loop(40, 0.001, amp_skips=True)
    skipped = [r["step"] for r in amp if not math.isfinite(r["grad_norm"])]
    assert skipped and all(math.isfinite(r["loss"]) for r in amp)  # the real GradScaler skipped, loss finite
    write_tensorboard(tmp_path / "runs" / "amp", amp)
    diagnosis = diagnose_log(tmp_path / "runs" / "amp")
    assert diagnosis.summary.first_nonfinite_step is None
    assert diagnosis.summary.amp_skipped_steps == len(skipped)
    assert not any(s.kind.value.startswith("nonfinite") for s in diagnosis.symptoms)
    # A folder holding two runs is one line naming them (exit 2), and compare reads them side by side.
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "2 runs" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "runs" / "amp"), str(tmp_path / "runs" / "blowup"),
                                      "--json", "--out", str(tmp_path / "cmp"), "--no-plots"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and [r["verdict"] for r in doc["runs"]][1] == "critical"


# -- Lightning CSVLogger ------------------------------------------------------------------------------------
def test_lightning_csvlogger_folder_from_a_real_fit(tmp_path):
    import lightning.pytorch as L
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.utilities import grad_norm

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = Regression()

        def training_step(self, batch, batch_idx):
            loss = self.model(*batch)["loss"]
            self.log("train_loss", loss)
            return loss

        def on_before_optimizer_step(self, optimizer):
            self.log_dict(grad_norm(self, norm_type=2))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=BLOWUP_LR)

    x, y = regression_data()
    trainer = L.Trainer(max_steps=14, logger=CSVLogger(tmp_path / "logs"), callbacks=[LearningRateMonitor()],
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        log_every_n_steps=1, accelerator="cpu", devices=1)
    trainer.fit(Module(), torch.utils.data.DataLoader([(x, y)] * 14, batch_size=None))
    metrics = pd.read_csv(tmp_path / "logs" / "lightning_logs" / "version_0" / "metrics.csv")
    assert "grad_2.0_norm_total" in metrics
    bad = metrics[~np.isfinite(metrics["train_loss"].astype(float)) & metrics["train_loss"].notna()]
    reading = read_log(tmp_path / "logs")
    assert reading.format == "Lightning CSVLogger"
    assert reading.columns["grad_norm"] == "grad_2.0_norm_total" and reading.columns["lr"] == "lr-SGD"
    diagnosis = diagnose_log(tmp_path / "logs")
    assert diagnosis.verdict == "critical"
    first_loss = int(bad["step"].iloc[0])
    assert diagnosis.summary.first_nonfinite_step <= first_loss  # the grad norm may go first
    assert diagnosis.summary.first_nonfinite_step in metrics["step"].tolist()


# -- CSV and JSONL from a plain loop ------------------------------------------------------------------------
def test_csv_and_jsonl_read_nan_and_inf_as_each_writer_spells_them(tmp_path):
    rows = plain_loop(20, BLOWUP_LR)
    with (tmp_path / "csv_module.csv").open("w", newline="") as handle:  # csv.writer: nan, inf
        writer = csv.DictWriter(handle, ["step", "loss", "grad_norm", "lr"])
        writer.writeheader()
        writer.writerows(rows)
    pd.DataFrame(rows).to_csv(tmp_path / "pandas.csv", index=False)  # pandas: NaN as an empty cell, inf
    (tmp_path / "tokens.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))  # NaN, Infinity
    strict = [{k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in r.items()} for r in rows]
    (tmp_path / "null.jsonl").write_text("".join(json.dumps(r) + "\n" for r in strict))  # null
    expected = np.array([r["loss"] for r in rows])
    for name in ("csv_module.csv", "pandas.csv", "tokens.jsonl"):
        got = read_log(tmp_path / name).trace.loss
        # written with repr (csv, json) or 17 digits (pandas): the same floats back
        np.testing.assert_array_equal(got, expected, err_msg=name)
    got = read_log(tmp_path / "null.jsonl").trace.loss
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))
    first = min(first_bad(rows), first_bad(rows, "grad_norm"))
    for name in ("csv_module.csv", "pandas.csv", "tokens.jsonl", "null.jsonl"):
        assert diagnose_log(tmp_path / name).summary.first_nonfinite_step == first, name


def test_every_tenth_row_and_a_sparse_grad_column(tmp_path):
    rows = plain_loop(60, 0.002)  # healthy
    with (tmp_path / "every10.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iteration", "train/loss", "grad_norm", "val_loss"])
        for r in rows:
            if r["step"] % 10 == 0:
                writer.writerow([r["step"], r["loss"], r["grad_norm"] if r["step"] % 20 == 0 else "", ""])
        writer.writerow([60, "", "", 0.5])  # an eval row: nothing tracked, skipped
    reading = read_log(tmp_path / "every10.csv")
    assert reading.trace.steps.tolist() == [10, 20, 30, 40, 50, 60]
    assert reading.columns == {"step": "iteration", "loss": "train/loss", "grad_norm": "grad_norm"}
    diagnosis = diagnose_log(tmp_path / "every10.csv")
    assert diagnosis.verdict == "healthy" and diagnosis.summary.first_nonfinite_step is None
    assert diagnosis.extra["log"]["every"] == 10


# -- bad input ----------------------------------------------------------------------------------------------
def test_unreadable_logs_are_one_line_naming_the_file_exit_2(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,objective,gn\n0,1.5,2.0\n1,1.2,1.0\n")
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "metrics.csv")])
    assert result.exit_code == 2
    assert "metrics.csv" in result.output and "epoch, objective, gn" in result.output
    assert "--map loss=objective" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "metrics.csv"), "--map", "loss=objective",
                                      "--map", "grad_norm=gn", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["log"]["columns"]["grad_norm"] == "gn"
    (tmp_path / "notes.txt").write_text("hello")
    for path, says in ((tmp_path / "notes.txt", "not a log gradscope reads"),
                       (tmp_path / "metrics.csv", "--map loss=nope: no such column")):
        extra = ["--map", "loss=nope"] if path.suffix == ".csv" else []
        result = CliRunner().invoke(app, ["diagnose", str(path), *extra])
        assert result.exit_code == 2 and says in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "metrics.csv"), "--steps", "5"])
    assert result.exit_code == 2 and "--steps" in result.output
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "gone.jsonl")])
    assert result.exit_code == 2 and "gone.jsonl: no such file or folder" in result.output


@pytest.mark.parametrize("option", [["--seed", "0"], ["--steps", "0"], ["--steps", "5"], ["--out", "OUT"],
                                    ["--set", "optimizer.lr=0.1"], ["--sample", "rnn"], ["--plots"]])
def test_an_option_that_cannot_apply_to_a_log_is_refused_in_one_line(tmp_path, option):
    """A log is a run already done: an option that shapes a run (even --seed 0, a falsy value) is exit 2 in one
    line naming it, never silently ignored. --no-plots (what a log gets anyway), --json, --fail-on, --junit and
    --map apply."""
    (tmp_path / "run.jsonl").write_text("".join(json.dumps(r) + "\n" for r in plain_loop(5, 0.002)))
    option = [str(tmp_path / "out") if word == "OUT" else word for word in option]
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run.jsonl"), *option])
    assert result.exit_code == 2, result.output
    line, = result.output.strip().splitlines()
    assert line.startswith(f"Error: {' '.join(option)}: ") and "a log of a run already done" in line
    assert f"fix: drop {option[0]}" in line
    if option[0] in ("--seed", "--steps", "--set", "--sample"):  # compare LOG LOG refuses them too
        result = CliRunner().invoke(app, ["compare", str(tmp_path / "run.jsonl"), str(tmp_path / "run.jsonl"),
                                          *option])
        assert result.exit_code == 2 and option[0] in result.output, result.output
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run.jsonl"), "--no-plots", "--json",
                                      "--fail-on", "never"])
    assert result.exit_code == 0 and json.loads(result.stdout)["verdict"] == "healthy"


def test_junit_and_fail_on_as_for_a_config(tmp_path):
    rows = plain_loop(20, BLOWUP_LR)
    (tmp_path / "run.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    junit = tmp_path / "out.xml"
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run.jsonl"), "--junit", str(junit)])
    assert result.exit_code == 1 and "<failure" in junit.read_text()
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run.jsonl"), "--fail-on", "never"])
    assert result.exit_code == 0 and "unchecked vanishing_gradient" in result.output


def test_every_source_says_what_its_format_cannot_hold():
    names = [s.name for s in SOURCES]
    assert names[0] == "gradscope run folder" and len(set(names)) == len(names)
    assert all(s.cannot_hold for s in SOURCES[1:]) and not SOURCES[0].cannot_hold


def accumulated(folder) -> dict[str, tuple[list[int], list[float]]]:
    """The scalars tensorboard's own `EventAccumulator` reads from `folder`, every event kept."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
    accumulator.Reload()
    return {tag: ([e.step for e in accumulator.Scalars(tag)], [e.value for e in accumulator.Scalars(tag)])
            for tag in accumulator.Tags()["scalars"]}


def test_tensorboard_reader_reads_what_event_accumulator_reads(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from gradscope.sources.tensorboard import event_files, read_scalars

    rows = plain_loop(20, BLOWUP_LR)  # overflows: NaN and inf in the loss and the grad norm
    rows[3]["grad_norm"], rows[4]["loss"] = math.inf, -math.inf
    write_tensorboard(tmp_path / "run", rows)
    writer = SummaryWriter(log_dir=str(tmp_path / "run"))  # a second file: the run resumed, steps 5.. again
    for row in rows[4:]:
        writer.add_scalar("train/loss", row["loss"] * 2, row["step"])
    writer.close()
    assert len(event_files(tmp_path / "run")) == 2
    ours, notes = read_scalars(event_files(tmp_path / "run"))
    theirs = accumulated(tmp_path / "run")
    assert not notes and set(ours) == set(theirs) == {"train/loss", "train/grad_norm", "train/learning_rate"}
    for tag in theirs:  # both are the float32 simple_value: equal, NaN where NaN
        assert ours[tag][0] == theirs[tag][0]
        np.testing.assert_array_equal(np.array(ours[tag][1]), np.array(theirs[tag][1]))
    assert any(not math.isfinite(v) for v in ours["train/loss"][1]) and math.inf in ours["train/grad_norm"][1]
    # The later file's loss replaces the earlier one at the same step, as TensorBoard shows it.
    reading = read_log(tmp_path / "run")
    loss = reading.trace.column("loss")
    expected = [r["loss"] for r in rows[:4]] + [r["loss"] * 2 for r in rows[4:]]
    # float32 on disk: a relative 1e-6 covers the rounding of the written value
    np.testing.assert_allclose(np.asarray(loss, np.float64), np.float32(expected).astype(np.float64), rtol=1e-6)


def test_tensorboard_new_style_scalars_are_read(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from gradscope.sources.tensorboard import event_files, read_scalars

    writer = SummaryWriter(log_dir=str(tmp_path))
    for step in range(1, 6):
        writer.add_scalar("loss", 1.0 / step, step, new_style=True)  # a float_val tensor
        writer.add_scalar("lr", 1e-3 * step, step, new_style=True, double_precision=True)  # double_val
    writer.close()
    ours, notes = read_scalars(event_files(tmp_path))
    assert not notes and ours["loss"][0] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(ours["loss"][1], [1.0 / s for s in range(1, 6)], rtol=1e-6)  # float32 rounding
    np.testing.assert_allclose(ours["lr"][1], [1e-3 * s for s in range(1, 6)], rtol=1e-12)  # float64


def test_truncated_tensorboard_file_keeps_what_came_before(tmp_path):
    rows = plain_loop(20, 0.001)
    write_tensorboard(tmp_path / "run", rows)
    path = next((tmp_path / "run").glob("*tfevents*"))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3 + 5])  # cut inside a record, as a killed writer leaves it
    reading = read_log(tmp_path / "run")
    kept = len(reading.trace)
    assert 5 < kept < 20
    assert any("truncated" in note and path.name in note for note in reading.notes)
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run")])
    assert result.exit_code in (0, 1) and "truncated" in result.stderr
    path.write_bytes(data[:30])  # nothing but a cut first record: one line, exit 2
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "run")])
    assert result.exit_code == 2 and "cannot be read" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
