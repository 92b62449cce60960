"""The bundled sample models: each a folder with gradscope.toml and the factories it names.

Read without importing torch: the folder's model.py docstring gives the description and the expected verdict.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from gradscope.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Sample:
    name: str
    config: Path
    summary: str
    expected_verdict: str


def samples_dir() -> Path:
    """Inside an installed wheel the samples sit in the package; in a source checkout, beside it."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "sample_models", package.parent / "sample_models"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("the bundled samples are missing from this installation (fix: reinstall gradscope)")


def list_samples() -> list[Sample]:
    out = []
    for folder in sorted(samples_dir().iterdir()):
        config = folder / "gradscope.toml"
        if not config.is_file():
            continue
        doc = ""
        module = folder / "model.py"
        if module.is_file():
            doc = ast.get_docstring(ast.parse(module.read_text())) or ""
        verdict = re.search(r"Expected verdict:\s*(\w+)", doc)
        summary = " ".join(doc.strip().split("\n\n")[0].split())  # the first paragraph, which may wrap
        out.append(Sample(folder.name, config, summary, verdict.group(1) if verdict else "?"))
    return out


def sample_config(name: str) -> Path:
    """The config path of sample `name`; an unknown name is a usage error with the list."""
    samples = {s.name: s for s in list_samples()}
    if name not in samples:
        raise ConfigError(f"--sample {name!r}: no such sample{did_you_mean(name, samples)} "
                          f"(fix: one of {', '.join(samples)}; see gradscope samples)")
    return samples[name].config
