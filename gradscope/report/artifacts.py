"""What a run folder holds besides the streamed CSVs: resolved config, diagnosis.json and the plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gradscope.report.export import dumps

if TYPE_CHECKING:
    from gradscope.config import Config
    from gradscope.diagnosis import Diagnosis
    from gradscope.trace import Trace

DIAGNOSIS_FILE = "diagnosis.json"
RESOLVED_CONFIG_FILE = "resolved_config.toml"
LOSS_PLOT = "loss_grad_norm.png"
HEATMAP_PLOT = "layer_grad_norms.png"


def write_resolved_config(run_dir: Path, config: Config) -> None:
    """The config after overrides and defaults, with absolute paths: rerunnable from anywhere."""
    import tomlkit

    header = f"# gradscope: resolved from {config.source}\n"
    (run_dir / RESOLVED_CONFIG_FILE).write_text(header + tomlkit.dumps(config.to_toml_dict()))


def write_artifacts(run_dir: Path, trace: Trace, diagnosis: Diagnosis, *, plots: bool = True) -> None:
    """diagnosis.json and, unless `plots` is False, the PNG plots."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / DIAGNOSIS_FILE).write_text(dumps(diagnosis.to_dict()) + "\n")
    if plots and len(trace):
        from gradscope.report.plots import layer_heatmap, loss_and_grad_norm

        loss_and_grad_norm(trace, diagnosis).savefig(run_dir / LOSS_PLOT, dpi=110)
        heatmap = layer_heatmap(trace)
        if heatmap is not None:
            heatmap.savefig(run_dir / HEATMAP_PLOT, dpi=110)
