"""The glue that lets `log_accuracy.py` score the logs `log_cases_blind.py` wrote, as they are, against its
labels.json unchanged:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/log_cases_blind.py /tmp/log_cases_blind
    BLIND_LOGS=/tmp/log_cases_blind .venv/bin/python benchmarks/log_accuracy.py --cases log_files_blind

`FILES`: one entry per (case, format), with the label's verdict, first non-finite step and cadence. The label's
kind is kept as its text, except that the GradScaler case is kind "amp", the name `log_accuracy.py` scores "no
alarm on a skip" under.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(os.environ.get("BLIND_LOGS", "/tmp/log_cases_blind"))
# format -> the file log_cases_blind.py writes under OUT/<case>/ (files, not their folders, as log_writers.py
# returns them: losslint reads only files; gradscope reads either)
LAYOUT = {"trainer_state": "trainer_state.json", "tensorboard": "tb/*tfevents*",
          "lightning": "lightning/version_0/metrics.csv", "csv": "log.csv", "jsonl": "log.jsonl"}


def _files() -> list[SimpleNamespace]:
    labels = json.loads((ROOT / "labels.json").read_text())
    return [SimpleNamespace(case=case, path=sorted((ROOT / case).glob(where))[0], format=fmt, every=label["log_every"],
                            expected=label["verdict"], first_nonfinite_step=label["first_nonfinite_step"],
                            kind="amp" if "GradScaler" in label["kind"] else label["kind"])
            for case, label in labels.items() for fmt, where in LAYOUT.items()]


FILES = _files()
