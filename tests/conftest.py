"""Shared fixtures: one torch thread per test process (two processes with two threads each on a 2-core
machine run 13x slower), and small real configs written into tmp folders."""

from __future__ import annotations

import importlib.util
import itertools
import os
import signal
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
# The README tool, loaded before anything imports torch: its examples' numbers need torch's AVX2 kernels in every test
# process and child (tools/readme.py, KERNELS); tests/test_readme.py uses the same module.
_spec = importlib.util.spec_from_file_location("readme_tool", REPO / "tools" / "readme.py")
readme_tool = sys.modules["readme_tool"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(readme_tool)
readme_tool.pin_kernels()
SAMPLES = REPO / "sample_models"


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m gradscope` subprocesses: one thread, no colour, wide terminal."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NO_COLOR="1", COLUMNS="200", TERM="dumb")
    env.pop("FORCE_COLOR", None)
    return env


def sample_setup(name: str) -> tuple[torch.nn.Module, Iterator[Any], torch.optim.Optimizer]:
    """A bundled (SGD) sample built the way a user's script builds it from its config: seeded, then the model,
    its batches cycled without end, and its optimizer."""
    import torch

    folder = SAMPLES / name
    config = tomllib.loads((folder / "gradscope.toml").read_text())
    spec = importlib.util.spec_from_file_location(f"{name}_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(config["run"]["seed"])
    model = module.build_model(**config["model"]["kwargs"])
    batches = itertools.cycle(module.build_data(**config["data"]["kwargs"]))
    return model, batches, torch.optim.SGD(model.parameters(), lr=config["optimizer"]["lr"])


def gradscope_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gradscope", *args]


MLP_FACTORIES = '''
import torch
from torch import nn


def build_model(width=16, depth=2, activation="relu", init_std=None):
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[activation]
    layers, fan_in = [], 4
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        if init_std is not None:
            nn.init.normal_(linear.weight, std=init_std)
        layers += [linear, act()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1))
    return nn.Sequential(*layers)


def build_data(n=256, batch_size=32, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g) * scale
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=g)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
'''


@pytest.fixture
def write_config(tmp_path: Path):
    """Write factories.py and a gradscope.toml (body given as TOML text) into tmp_path; return the toml path."""

    def write(body: str, factories: str = MLP_FACTORIES, name: str = "gradscope.toml") -> Path:
        (tmp_path / "factories.py").write_text(factories)
        path = tmp_path / name
        path.write_text(textwrap.dedent(body))
        return path

    return write


MLP_CONFIG = """
[model]
factory = "factories.py:build_model"

[data]
factory = "factories.py:build_data"

[loss]
name = "MSELoss"

[optimizer]
name = "SGD"
lr = 0.01

[run]
steps = 30
seed = 0
"""


GOLDEN = REPO / "tests" / "golden"


def pytest_configure(config: pytest.Config) -> None:
    """A suite started with SIGINT ignored (a background job of a non-interactive shell, as some CI runners start
    it) passes that on to every child process, and a Python started so cannot be interrupted: the Ctrl-C tests
    would time out. Python's own handler is put back, in the main process and in each test worker. Where tests
    run, torch gets one thread before any test module imports it."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        import torch  # not in xdist's controller, which runs no test: it would only wait 2 s for it

        torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite the rendered reports under tests/golden/ instead of comparing with them.")


# Modules whose tests are long (child processes, trials, torchrun), run first so that the workers end together
# rather than one finishing a long test alone; the order changes nothing else.
LONG_FIRST = ("test_readme", "test_attach_trials", "test_attach", "test_attach_scripts", "test_distributed",
              "test_streams", "test_exit_codes", "test_faults")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under `pytest -n N --dist loadgroup` (make test) each test goes to whichever worker is free, except that the
    tests using a module-scoped fixture (a torchrun launch, recommend's trials, a Trainer.fit) stay together on one
    worker, so that the fixture runs once. Marked as each test is collected: xdist reads the marks in its own
    `pytest_collection_modifyitems`."""
    definitions = getattr(item, "_fixtureinfo", None)
    if definitions and any(d.scope == "module" for defs in definitions.name2fixturedefs.values() for d in defs):
        item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long modules first (stable: each module's own order kept)."""
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rpartition(".")[2], len(rank)))


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """`golden(name, text)`: assert `text` equals tests/golden/<name>.txt (trailing spaces aside); with
    `pytest --update-golden` the file is rewritten instead (review the diff before committing it)."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
        path = GOLDEN / f"{name}.txt"
        if update:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(text)
            return
        assert path.is_file(), f"{path} is missing: run pytest --update-golden and review it"
        assert text == path.read_text(), f"{name}: the rendered report differs from {path} (pytest --update-golden)"

    return check
