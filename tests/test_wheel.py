"""The installed package, not the source tree: the wheel carries the bundled samples, and
`gradscope diagnose --sample NAME` runs from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, subprocess_env


def test_sample_runs_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, text=True)
    [wheel] = wheels.glob("torch_gradscope-*.whl")  # the distribution torch-gradscope
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, text=True)
    env = subprocess_env() | {"PYTHONPATH": str(site)}  # ahead of the editable checkout on sys.path
    where = subprocess.run([sys.executable, "-c", "import gradscope, gradscope.build.samples as s; "
                            "print(gradscope.__file__); print(s.samples_dir())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where)
    result = subprocess.run([sys.executable, "-m", "gradscope", "diagnose", "--sample", "exploding_rnn",
                             "--steps", "5", "--json", "--no-plots", "--out", str(tmp_path / "run")],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["verdict"] == "critical"
