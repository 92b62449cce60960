"""The PNG plots and the console report: NaN steps are marked, never dropped; every finding is printed."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent / "symptoms"))
from symptom_traces import MLP_PARAMS, MLP_SHAPES, make_trace, mlp_info  # noqa: E402

from gradscope.build.samples import list_samples  # noqa: E402
from gradscope.config.load import load_config  # noqa: E402
from gradscope.diagnose.diagnosis import diagnose_trace  # noqa: E402
from gradscope.drivers.loop import train  # noqa: E402
from gradscope.record.plots import figure, layer_heatmap, loss_and_grad_norm, mark_nonfinite, write_run_plots  # noqa: E402
from gradscope.report.console import print_diagnosis  # noqa: E402
from gradscope.trace.run_folder import HEATMAP_PLOT, LOSS_PLOT, finish_run_folder  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N = 80
BAD = [40, 41, 42]  # steps with a NaN loss and Inf gradients (an AMP-style skip: the run went on)


@pytest.fixture
def nan_trace():
    """80 steps, NaN loss and Inf gradients (in 2.weight) at steps 40-42, then finite again; a spike at 60."""
    loss = np.linspace(2, 1, N)
    norms = np.ones(N)
    layer = np.ones((N, len(MLP_PARAMS))) / math.sqrt(len(MLP_PARAMS))
    loss[BAD] = math.nan
    norms[BAD] = math.inf
    layer[BAD, MLP_PARAMS.index("2.weight")] = math.inf
    norms[60] = 100.0
    layer[60, MLP_PARAMS.index("4.weight")] = 100.0
    return make_trace(loss, norms, layer_grads=layer)


def assert_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.is_file() and path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # not a blank canvas


def nonfinite_markers(ax) -> list[Line2D]:
    return [line for line in ax.get_lines() if line.get_label().endswith("NaN/Inf")]


def shaded_steps(ax) -> list[int]:
    """The steps the vertical bands axvspan drew cover (a band spans step - 0.5 .. step + 0.5 of each step in it;
    a Rectangle in matplotlib >= 3.9, a Polygon before)."""
    spans = []
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            spans.append((patch.get_x(), patch.get_x() + patch.get_width()))
        elif isinstance(patch, Polygon):
            xs = patch.get_xy()[:, 0]
            spans.append((xs.min(), xs.max()))
    for collection in ax.collections:
        if isinstance(collection, PolyCollection):
            for path in collection.get_paths():
                spans.append((path.vertices[:, 0].min(), path.vertices[:, 0].max()))
    return sorted(step for lo, hi in spans for step in range(round(lo + 0.5), round(hi - 0.5) + 1))


def test_nan_steps_are_marked_on_both_panels_and_kept_on_the_x_axis(nan_trace):
    diagnosis = diagnose_trace(nan_trace)
    fig = loss_and_grad_norm(nan_trace, diagnosis)
    ax_loss, ax_norm = fig.axes[:2]
    for ax, label in ((ax_loss, "loss NaN/Inf"), (ax_norm, "grad NaN/Inf")):
        [marker] = nonfinite_markers(ax)
        assert marker.get_label() == label
        assert list(marker.get_xdata()) == BAD
        assert shaded_steps(ax) == BAD
        assert len(ax.patches) == 1  # the three steps in a row are one band
        assert label in [t.get_text() for t in ax.get_legend().get_texts()]
    # The series keeps every step: a gap (NaN) where the value was not finite, not a shorter line.
    [loss_line] = [line for line in ax_loss.get_lines() if line.get_label() == "loss"]
    assert len(loss_line.get_xdata()) == N
    assert np.isnan(np.asarray(loss_line.get_ydata())[BAD]).all()


def test_each_run_of_nonfinite_steps_is_one_band():
    """A run stuck at NaN for hundreds of steps is one band, not one per step (each band is a patch to draw);
    steps apart get bands apart."""
    steps = np.arange(20)
    values = np.where(np.isin(steps, [5, 6, 7, 12]), np.nan, 1.0)
    ax = figure(4.0).subplots()
    mark_nonfinite(ax, steps, values, "loss")
    assert shaded_steps(ax) == [5, 6, 7, 12]
    assert len(ax.patches) == 2


def test_heatmap_names_too_long_for_the_margin_keep_their_end(tmp_path):
    """A deep model's names (a 120-character one here) are shortened from the front to fit the margin: the plot
    still draws, and each label ends as the name does."""
    names = ["model." + "block." * 19 + f"{i}.weight" for i in range(len(MLP_PARAMS))]
    trace = make_trace(np.linspace(2, 1, N), info=mlp_info(names, MLP_SHAPES))
    fig = layer_heatmap(trace)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [label[-9:] for label in labels] == [name[-9:] for name in names]
    assert all(label.startswith("...") and len(label) < len(name) for label, name in zip(labels, names, strict=True))
    fig.savefig(tmp_path / "heat.png")
    assert_png(tmp_path / "heat.png")


def test_each_symptom_is_marked_at_its_step(nan_trace):
    diagnosis = diagnose_trace(nan_trace)
    assert {s.kind.value for s in diagnosis.symptoms} >= {"nonfinite_loss", "gradient_spike"}
    ax_loss = loss_and_grad_norm(nan_trace, diagnosis).axes[0]
    labels = {t.get_text(): t.xy[0] for t in ax_loss.texts}
    for symptom in diagnosis.symptoms:
        assert labels[symptom.kind.value] == symptom.step
    vertical = {line.get_xdata()[0] for line in ax_loss.get_lines() if line.get_linestyle() == ":"}
    assert {s.step for s in diagnosis.symptoms} <= vertical


def test_heatmap_marks_nonfinite_gradients_per_parameter(nan_trace):
    fig = layer_heatmap(nan_trace)
    ax = fig.axes[0]
    images = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 2  # the log-norm map and the red overlay of NaN/Inf cells
    overlay = np.ma.getdata(images[1].get_array())
    red = np.argwhere(np.isfinite(overlay))
    assert {tuple(cell) for cell in red} == {(MLP_PARAMS.index("2.weight"), s) for s in BAD}
    assert [t.get_text() for t in ax.get_yticklabels()] == MLP_PARAMS


def test_a_finite_run_has_no_nan_markers():
    trace = make_trace(np.linspace(2, 1, N), np.linspace(1, 0.5, N))
    fig = loss_and_grad_norm(trace, diagnose_trace(trace))
    assert all(nonfinite_markers(ax) == [] and shaded_steps(ax) == [] for ax in fig.axes[:2])
    assert len([a for a in layer_heatmap(trace).axes[0].get_children() if isinstance(a, AxesImage)]) == 1


def test_artifacts_write_valid_pngs_for_a_trace_with_nan_steps(nan_trace, tmp_path):
    finish_run_folder(tmp_path, nan_trace, diagnose_trace(nan_trace), plots=write_run_plots)
    assert_png(tmp_path / LOSS_PLOT)
    assert_png(tmp_path / HEATMAP_PLOT)


def test_a_real_run_that_overflows_writes_valid_pngs(tmp_path):
    """linear_high_lr, run until its loss overflows: the plots are written with the NaN steps in them."""
    sample = {s.name: s for s in list_samples()}["linear_high_lr"]
    result = train(load_config(sample.config, ['run.device="cpu"']), tmp_path / "run")
    assert not np.isfinite(result.trace.loss).all()
    assert_png(tmp_path / "run" / LOSS_PLOT)
    assert_png(tmp_path / "run" / HEATMAP_PLOT)


def report_text(diagnosis) -> str:
    console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
    print_diagnosis(diagnosis, console=console)
    return console.export_text()


def test_console_report_shows_the_verdict_and_each_symptom_with_its_step(nan_trace):
    diagnosis = diagnose_trace(nan_trace)
    text = report_text(diagnosis)
    assert f"verdict: {diagnosis.verdict.upper()}" in text
    rows = [line for line in text.splitlines() if "│" in line]
    for symptom in diagnosis.symptoms:
        [row] = [r for r in rows if f" {symptom.kind.value} " in r]
        cells = [c.strip() for c in row.split("│")]
        assert cells[:3] == [symptom.severity.value, symptom.kind.value, str(symptom.step)]
        assert f"{symptom.kind.value}: {symptom.message}"[:60] in text.replace("\n", " ")


def test_console_report_of_a_healthy_run_says_so():
    trace = make_trace(np.linspace(2, 1, N), np.linspace(1, 0.5, N))
    text = report_text(diagnose_trace(trace))
    assert "verdict: HEALTHY" in text
    assert "No symptoms" in text
