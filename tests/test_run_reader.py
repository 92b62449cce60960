"""Damaged run folders read back: what is left is read (with a note naming the damage), and a folder with no
usable trace is one line and exit 2, never a traceback (issue 14: `compare RUN_DIR` and `load_run` crashed on a
diagnosis.json or trace.csv cut short)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gradscope
from gradscope.cli import app
from gradscope.errors import GradscopeError
from tests.conftest import MLP_CONFIG, MLP_FACTORIES

runner = CliRunner()
STEPS = 6


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "factories.py").write_text(MLP_FACTORIES)
    (folder / "gradscope.toml").write_text(MLP_CONFIG)
    result = runner.invoke(app, ["diagnose", str(folder / "gradscope.toml"), "--steps", str(STEPS), "--no-plots",
                                 "--out", str(folder / "run"), "--set", "clip.norm=0.5"])
    assert result.exit_code == 0, result.output
    return folder / "run"


def _cut(path: Path, chars: int) -> None:
    path.write_text(path.read_text()[:-chars])


def _lines(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")


# (damage, file named in the note, steps left)
DAMAGES = {
    "diagnosis cut short": (lambda d: _cut(d / "diagnosis.json", 40), "diagnosis.json", STEPS),
    "diagnosis not json": (lambda d: (d / "diagnosis.json").write_bytes(b"\x00\xffnot json"), "diagnosis.json",
                           STEPS),
    "diagnosis a list": (lambda d: (d / "diagnosis.json").write_text("[1, 2]"), "diagnosis.json", STEPS),
    "diagnosis bad verdict": (lambda d: (d / "diagnosis.json").write_text(json.dumps(
        {"verdict": "fine", "steps_completed": 6, "symptoms": [], "summary": {}})), "diagnosis.json", STEPS),
    "run.json cut short": (lambda d: _cut(d / "run.json", 30), "run.json", STEPS),
    "run.json wrong types": (lambda d: (d / "run.json").write_text(json.dumps(
        {"param_names": 5, "param_shapes": []})), "run.json", STEPS),
    "run.json odd clip and events": (lambda d: (d / "run.json").write_text(json.dumps(
        {**json.loads((d / "run.json").read_text()), "clip_threshold": "x",
         "events": [{"kind": 3, "step": "a"}]})), "run.json", STEPS),
    "run.json odd guard decisions": (lambda d: (d / "run.json").write_text(json.dumps(
        {**json.loads((d / "run.json").read_text()), "clip_mode": "adaptive", "clip_threshold": 0.5,
         "guard_events": [{"step": "a"}, 7, {"step": 2, "threshold": 0.5, "why": "w", "action": "engage"}]})),
        "run.json", STEPS),
    "trace cut mid-line": (lambda d: _cut(d / "trace.csv", 7), "trace.csv", STEPS - 1),
    "trace ragged row": (lambda d: _lines(d / "trace.csv", lambda x: x.__setitem__(2, x[2] + ",9")),
                         "trace.csv", STEPS - 1),
    "trace garbage row": (lambda d: _lines(d / "trace.csv", lambda x: x.insert(3, ",".join(["zz"] * 10))),
                          "trace.csv", STEPS),
    "trace without a column": (lambda d: _lines(d / "trace.csv", lambda x: x.__setitem__(
        slice(None), [",".join(r.split(",")[:-1]) for r in x])), "trace.csv", STEPS),
    "grad norms missing": (lambda d: (d / "grad_norms.csv").unlink(), "grad_norms.csv", STEPS),
    "grad norms ragged": (lambda d: _lines(d / "grad_norms.csv", lambda x: x.__setitem__(1, "0,1")),
                          "grad_norms.csv", STEPS),
    "weight norms cut": (lambda d: _cut(d / "weight_norms.csv", 5), "weight_norms.csv", STEPS),
    "grad norms header gone": (lambda d: (d / "grad_norms.csv").write_text(""), "grad_norms.csv", STEPS),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_folder_is_read_from_what_is_left(recorded, tmp_path, damage):
    spoil, named, steps = DAMAGES[damage]
    folder = tmp_path / "damaged"
    shutil.copytree(recorded, folder)
    spoil(folder)
    run = gradscope.load_run(folder)
    assert len(run.trace) == steps
    assert any(named in note for note in run.notes), run.notes
    assert run.diagnosis.steps_completed == STEPS  # as written, or recomputed from the whole trace
    assert run.diagnosis.verdict in ("healthy", "warning", "critical")
    result = runner.invoke(app, ["compare", str(recorded), str(folder), "--json", "--no-plots",
                                 "--out", str(tmp_path / "cmp")])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.stderr
    assert f"Note: {folder / named}" in result.stderr
    document = json.loads(result.stdout)
    assert document["runs"][1]["steps_completed"] == steps


def test_a_diagnosis_recomputed_is_the_one_written(recorded, tmp_path):
    folder = tmp_path / "damaged"
    shutil.copytree(recorded, folder)
    _cut(folder / "diagnosis.json", 10)
    original = gradscope.load_run(recorded).diagnosis
    again = gradscope.load_run(folder).diagnosis
    assert again.verdict == original.verdict and again.kinds() == original.kinds()
    assert again.summary.final_loss == pytest.approx(original.summary.final_loss, rel=1e-8)


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda d: (d / "trace.csv").write_text(""), r"trace\.csv: is empty"),
    (lambda d: (d / "trace.csv").write_text("step,seconds\n0,1\n"), r"trace\.csv: has no loss or grad_norm column"),
    (lambda d: (d / "trace.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), r"trace\.csv: has no loss"),
])
def test_a_trace_with_nothing_usable_is_one_line_and_exit_2(recorded, tmp_path, spoil, message):
    folder = tmp_path / "damaged"
    shutil.copytree(recorded, folder)
    spoil(folder)
    with pytest.raises(GradscopeError, match=message):
        gradscope.load_run(folder)
    result = runner.invoke(app, ["compare", str(recorded), str(folder), "--no-plots", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), result.stderr


def test_a_header_only_trace_is_a_run_of_zero_steps(recorded, tmp_path):
    folder = tmp_path / "empty"
    shutil.copytree(recorded, folder)
    _lines(folder / "trace.csv", lambda x: x.__delitem__(slice(1, None)))
    (folder / "diagnosis.json").unlink()
    run = gradscope.load_run(folder)
    assert len(run.trace) == 0 and run.diagnosis.steps_completed == 0
