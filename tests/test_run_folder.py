"""The run folder's one writer: JSON written all or nothing, a reused folder cleared of what gradscope left there
(and of nothing else), and folders written before the writer moved here read as they did."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import MLP_CONFIG
from torch import nn
from typer.testing import CliRunner

import gradscope
from gradscope.cli import app
from gradscope.clip.setting import Clip
from gradscope.config.load import load_config
from gradscope.diagnose.diagnosis import diagnose_trace
from gradscope.drivers.loop import train
from gradscope.monitor.monitor import Monitor
from gradscope.sources.run_reader import read_trace
from gradscope.trace.run_folder import (
    COMPARISON_FILE,
    DIAGNOSIS_FILE,
    GRAD_NORMS_FILE,
    LOSS_PLOT,
    MARKER_FILE,
    RESOLVED_CONFIG_FILE,
    RUN_FILE,
    TRACE_FILE,
    WEIGHT_NORMS_FILE,
    finish_run_folder,
    prepare_run_folder,
    write_json_atomic,
)
from gradscope.trials.compare import ConfigChange, compare_config

BEFORE = Path(__file__).parent / "data" / "run_0_1_0"  # written by gradscope 0.1.0's Monitor.save (plots left out)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- atomic writes ---------------------------------------------------------------------------------------------


def test_a_json_write_that_fails_midway_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / DIAGNOSIS_FILE
    write_json_atomic(path, {"verdict": "healthy", "summary": {"final_loss": math.nan}})
    before = path.read_bytes()
    assert json.loads(before) == {"verdict": "healthy", "summary": {"final_loss": None, "final_loss_text": "nan"}}
    # Thousands of values are encoded (and written) before the one that cannot be.
    document = {"verdict": "critical", "steps": list(range(20_000)), "zz": object()}
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json_atomic(path, document)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_finishing_a_folder_with_a_bad_diagnosis_keeps_the_finished_one(tmp_path: Path) -> None:
    model = nn.Linear(3, 1)
    monitor = Monitor(model)
    for step in range(4):
        model.zero_grad()
        loss = model(torch.full((2, 3), float(step))).pow(2).mean()
        loss.backward()
        monitor.record(loss)
    run_dir = monitor.save(tmp_path / "run")
    written = (run_dir / DIAGNOSIS_FILE).read_text()
    good = monitor.diagnose()
    bad = dataclasses.replace(good, extra={"note": {1, 2}})  # a set: not JSON
    with pytest.raises(TypeError):
        finish_run_folder(run_dir, monitor.trace, bad)
    assert (run_dir / DIAGNOSIS_FILE).read_text() == written
    assert json.loads(written)["run_dir"] == str(run_dir)
    assert leftovers(run_dir) == []
    assert gradscope.load_run(run_dir).diagnosis.steps_completed == 4


def test_the_diagnosis_given_is_not_changed(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    monitor = Monitor(model)
    model(torch.ones(1, 2)).sum().backward()
    monitor.record(1.0)
    given = diagnose_trace(monitor.trace)
    written = finish_run_folder(tmp_path / "out", monitor.trace, given)
    assert given.run_dir is None and written.run_dir == str(tmp_path / "out")
    document = json.loads((tmp_path / "out" / DIAGNOSIS_FILE).read_text())
    assert document["run_dir"] == str(tmp_path / "out") and document["verdict"] == given.verdict


# -- stale artifacts -------------------------------------------------------------------------------------------


@pytest.fixture
def config(write_config):
    return load_config(write_config(MLP_CONFIG), ["run.steps=12"])


def test_a_reused_folder_keeps_no_earlier_run_and_every_user_file(config, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = compare_config(config, out, [Clip("norm", 0.5)])
    assert {p.name for p in out.iterdir()} >= {"baseline", "clip-norm-0.5", COMPARISON_FILE}
    (out / "notes.txt").write_text("mine")
    (out / "data").mkdir()
    (out / "data" / TRACE_FILE).write_text("step\n0\n")  # a user's folder, whatever it holds
    (out / "baseline" / "my_plot.svg").write_text("<svg/>")  # a user's file inside gradscope's folder
    assert len(first.runs) == 2

    compare_config(config, out, [Clip("norm", 2.0)])  # another threshold: the old clip folder goes
    assert not (out / "clip-norm-0.5").exists() and (out / "clip-norm-2").is_dir()

    result = train(config, out, steps=5, write_plots=False)  # now a plain diagnose run in the same folder
    names = {p.name for p in out.iterdir()}
    assert names == {TRACE_FILE, GRAD_NORMS_FILE, WEIGHT_NORMS_FILE, RUN_FILE, DIAGNOSIS_FILE,
                     RESOLVED_CONFIG_FILE, MARKER_FILE, "notes.txt", "data", "baseline"}
    assert {p.name for p in (out / "baseline").iterdir()} == {"my_plot.svg"}  # only the user's file is left
    assert (out / "data" / TRACE_FILE).read_text() == "step\n0\n" and (out / "notes.txt").read_text() == "mine"
    assert len(result.trace) == 5 and len(gradscope.load_run(out).trace) == 5


def test_folders_of_every_name_gradscope_gives_are_cleared_on_reuse(config, tmp_path: Path) -> None:
    """`compare --clip-adaptive --try ... --out D`, then `compare --clip-norm 1 --out D`: the adaptive and --try runs
    of the first comparison are gone (a clean-up that went by names missed them), a user's folder is not."""
    out = tmp_path / "out"
    tried = ConfigChange(("optimizer.lr=0.01",), load_config(config.path, ["run.steps=12", "optimizer.lr=0.01"]))
    compare_config(config, out, [Clip("adaptive")], tries=[tried], plots=False)
    assert {"baseline", "adaptive", tried.folder} <= {p.name for p in out.iterdir()}
    (out / "adaptive-notes").mkdir()  # a user's folder named like one of gradscope's
    (out / "adaptive-notes" / TRACE_FILE).write_text("step\n0\n")
    compare_config(config, out, [Clip("norm", 1.0)], plots=False)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["adaptive-notes", "baseline", "clip-norm-1"]


def test_monitor_save_over_a_cli_run_leaves_none_of_its_files(config, tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(config, out)  # resolved_config.toml, 12 steps, plots
    assert (out / LOSS_PLOT).is_file() and (out / RESOLVED_CONFIG_FILE).is_file()
    model = nn.Linear(3, 1)
    monitor = Monitor(model)
    model(torch.ones(2, 3)).sum().backward()
    monitor.record(1.0)
    monitor.save(out)
    run = gradscope.load_run(out)
    assert run.config is None  # the CLI run's config no longer claims this trace
    assert list(run.trace["step"]) == [0] and list(run.grad_norms.columns) == ["weight", "bias"]


def test_save_into_the_folder_the_trace_streams_to_keeps_every_streamed_row(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    monitor = Monitor(model, recent=2, history=2)  # memory holds a few per-parameter rows only
    monitor.trace.stream_to(tmp_path / "run")
    for step in range(20):
        model.zero_grad()
        model(torch.full((1, 2), float(step))).sum().backward()
        monitor.record(float(step))
    monitor.save(tmp_path / "run")
    run = gradscope.load_run(tmp_path / "run")
    assert list(run.grad_norms.index) == list(range(20))  # the stream's rows, not just those still held
    assert list(run.trace["step"]) == list(range(20))


def test_prepare_leaves_a_folder_of_user_files_alone(tmp_path: Path) -> None:
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "readme.md").write_text("not gradscope's")
    (tmp_path / "clip-norm-1").mkdir()  # empty, named like gradscope's: not made by it
    (tmp_path / "model.py").write_text("x = 1")
    prepare_run_folder(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER_FILE, "baseline", "clip-norm-1", "model.py"]
    assert (tmp_path / "baseline" / "readme.md").read_text() == "not gradscope's"


# -- folders written before ------------------------------------------------------------------------------------


def test_a_folder_written_before_the_writer_moved_reads_the_same(tmp_path: Path) -> None:
    run = gradscope.load_run(BEFORE)
    assert run.diagnosis.verdict == "critical" and run.diagnosis.kinds()[0] == "nonfinite_gradient"
    assert list(run.trace["step"]) == [0, 1, 2, 3, 4] and list(run.grad_norms.columns) == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    trace = read_trace(BEFORE)
    assert trace.info.label == "before-the-split" and len(trace) == 5
    assert trace.info.events[0].kind == "nonfinite_gradient"


def test_the_same_loop_writes_the_same_files_as_before(tmp_path: Path) -> None:
    """The loop that wrote tests/data/run_0_1_0 with gradscope 0.1.0, run again: the same numbers, byte for byte
    in the per-parameter CSVs and the trace (but its wall-clock seconds), the same run.json and diagnosis."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(model, weight_every=1, label="before-the-split")
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        x, y = torch.randn(4, 3, generator=g), torch.randn(4, 1, generator=g)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        if step == 4:
            model[2].weight.grad[0, 0] = math.nan
        monitor.record(loss, lr=0.1)
        monitor.clip_norm_(0.5)
        optimizer.step()
    out = monitor.save(tmp_path / "again")
    # Numbers, not text: the stored files were written on one CPU, and another's kernels (AVX-512 against AVX2
    # sums, in another order) round the 7th significant digit differently. Same columns, NaN where it was NaN.
    for name in (GRAD_NORMS_FILE, WEIGHT_NORMS_FILE):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(BEFORE / name), rtol=1e-5, obj=name)

    def without_seconds(path: Path) -> pd.DataFrame:
        return pd.read_csv(path).drop(columns="seconds")

    # Columns added since 0.1.0 (norm_overflow) are new; every column 0.1.0 wrote holds the same numbers.
    old = without_seconds(BEFORE / TRACE_FILE)
    new = without_seconds(out / TRACE_FILE)
    assert set(new.columns) - set(old.columns) == {"norm_overflow"} and (new["norm_overflow"] == 0).all()
    pd.testing.assert_frame_equal(new[old.columns], old, rtol=1e-5)
    assert json.loads((out / RUN_FILE).read_text()) == approx_tree(json.loads((BEFORE / RUN_FILE).read_text()))
    ours, theirs = (json.loads((folder / DIAGNOSIS_FILE).read_text()) for folder in (out, BEFORE))
    for document in (ours, theirs):
        document.pop("run_dir")
        document["summary"].pop("seconds", None)
    assert ours.pop("unchecked") == []  # added since 0.1.0: a run folder's trace leaves no detector unchecked
    assert ours == approx_tree(theirs)


def approx_tree(document):
    """A JSON document whose floats compare to 1e-5 relative (float rounding differs across CPUs)."""
    if isinstance(document, dict):
        return {key: approx_tree(value) for key, value in document.items()}
    if isinstance(document, list):
        return [approx_tree(value) for value in document]
    if isinstance(document, float):
        return pytest.approx(document, rel=1e-5, nan_ok=True)
    return document


def test_the_folder_from_before_is_copied_not_changed(tmp_path: Path) -> None:
    """Reading never writes: load_run and read_trace leave the folder as it was."""
    copy = shutil.copytree(BEFORE, tmp_path / "copy")
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    gradscope.load_run(copy)
    read_trace(copy)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_every_folder_recommend_makes_is_cleared_on_reuse(tmp_path: Path) -> None:
    """recommend's trial folders (unclipped, clip-norm-..., standardized, lr-x...) are all known as gradscope's."""
    from gradscope.build.samples import list_samples
    from gradscope.trials.recommend import recommend

    sample = {s.name: s for s in list_samples()}["csv_unscaled"]  # it also tries standardised inputs and a lower lr
    # budget 4: room for every alternative (the default 2 races only standardised inputs at 40 steps)
    recommend(load_config(sample.config, ["run.steps=40", 'run.device="cpu"']), tmp_path / "rec", budget=4.0)
    made = {p.name for p in (tmp_path / "rec").iterdir()}
    assert {"unclipped", "standardized", "lr-x0.1"} <= made and any(n.startswith("clip-norm-") for n in made)
    (tmp_path / "rec" / "mine.txt").write_text("kept")
    prepare_run_folder(tmp_path / "rec")
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == [MARKER_FILE, "mine.txt"]


def test_the_config_being_run_is_kept_even_when_it_is_an_earlier_runs_resolved_config(config, tmp_path: Path) -> None:
    out = tmp_path / "out"
    train(config, out, steps=3, write_plots=False)
    resolved = load_config(out / RESOLVED_CONFIG_FILE)  # "rerunnable from anywhere"
    compare_config(resolved, out, [Clip("norm", 0.5)], plots=False)
    assert (out / RESOLVED_CONFIG_FILE).is_file()  # the config compared, still there
    assert not (out / TRACE_FILE).exists() and (out / "baseline" / TRACE_FILE).is_file()  # the old run is gone


def test_diagnose_of_a_run_folder_reports_its_gradient_norms(tmp_path):
    """A run folder read back is a log that names no columns: its report still gives the norms it holds, and a run
    without findings is not pointed at a list of unchecked kinds that is not there (a run folder checks every kind)."""
    runner = CliRunner()
    first = runner.invoke(app, ["diagnose", "--sample", "healthy_mlp", "--steps", "20", "--no-plots",
                                "--out", str(tmp_path / "run")])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["diagnose", str(tmp_path / "run"), "--no-plots"])
    assert again.exit_code == 0, again.output
    summary = json.loads((tmp_path / "run" / "diagnosis.json").read_text())["summary"]
    assert f"grad norm median {summary['median_grad_norm']:.4g}" in again.stdout and "not logged" not in again.stdout
    assert "No symptoms in what the log holds." in again.stdout and "below" not in again.stdout
