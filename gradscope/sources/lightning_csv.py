"""A Lightning `CSVLogger` folder: `lightning_logs/version_N/metrics.csv` (the latest version of a
`lightning_logs` folder, or the version folder itself, or its metrics.csv).

Lightning writes one row per logging call with the metrics logged then: training rows (every
`log_every_n_steps`), validation rows, epoch rows; an empty cell is a metric not logged in that row. The loss is
the key the LightningModule logged (`train_loss`, `loss`, `train_loss_step`...), the gradient norm Lightning's
`grad_norm` utility's `grad_2.0_norm_total`, the lr `LearningRateMonitor`'s `lr-<Optimizer>`; `step` is the
trainer's `global_step`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from gradscope.errors import GradscopeError
from gradscope.sources.log_columns import needs_file, non_empty, table_reading
from gradscope.sources.source import Reading
from gradscope.trace.measures import Measure

NAME = "Lightning CSVLogger"
FILE = "metrics.csv"
CANNOT_HOLD = {
    Measure.PARAM_GRAD_NORMS: "a Lightning metrics.csv holds them only as grad_2.0_norm/<parameter> keys, without "
                              "the parameter shapes that tell weight matrices from the rest",
    **{m: "a Lightning metrics.csv does not hold them"
       for m in (Measure.WEIGHT_NORMS, Measure.EXACT_NORM, Measure.OP_REPLAY)},
}
_VERSION = re.compile(r"version_(\d+)")


def metrics_file(path: Path) -> Path | None:
    """The metrics.csv `path` names (a version folder with hparams.yaml beside it, or the latest version of a
    lightning_logs folder), else None."""
    if path.is_file():
        return path if path.name == FILE and (path.parent / "hparams.yaml").is_file() else None
    if not path.is_dir():
        return None
    if (path / FILE).is_file():
        return path / FILE
    versions = [(int(m.group(1)), p) for p in path.glob(f"version_*/{FILE}")
                if (m := _VERSION.fullmatch(p.parent.name))]
    versions += [(int(m.group(1)), p) for p in path.glob(f"lightning_logs/version_*/{FILE}")
                 if (m := _VERSION.fullmatch(p.parent.name))]
    return max(versions)[1] if versions else None


class LightningCsvSource:
    name = NAME
    cannot_hold: Mapping[Measure, str] = CANNOT_HOLD

    def can_read(self, path: Path) -> bool:
        return metrics_file(path) is not None

    def read(self, path: Path, mapping: Mapping[str, str]) -> Reading:
        import pandas as pd

        file = metrics_file(path)
        assert file is not None
        needs_file(file, NAME)
        try:
            frame = pd.read_csv(file, keep_default_na=False, na_values=[""], on_bad_lines="skip",
                                encoding_errors="replace")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
            raise GradscopeError(f"{file}: not a readable CSV ({str(exc).splitlines()[0][:120]})") from None
        notes = [f"{path}: read {file}"] if file != path else []
        return table_reading(file, NAME, frame, mapping, CANNOT_HOLD, non_empty, notes)
