"""Property: every bundled sample, with hypothesis-drawn `--set` mutations of its own keys (and of keys it does
not have), ends with a documented exit code, no traceback of gradscope's own, and strict JSON or nothing."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gradscope.cli import app
from tests.conftest import SAMPLES
from tests.test_fuzz import KEYS, TOML_VALUES, _check

NAMES = sorted(p.name for p in SAMPLES.iterdir() if (p / "gradscope.toml").is_file())


def _keys(table: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in table.items():
        keys += _keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return keys


def _own(name: str) -> dict:
    return tomllib.loads((SAMPLES / name / "gradscope.toml").read_text())


def _own_keys(name: str) -> list[str]:
    return _keys(_own(name))


def _value_of(name: str, key: str):
    value = _own(name)
    for part in key.split("."):
        value = value[part]
    return value


def _near(key: str, value) -> list[str]:
    """Mutations close to a sample's own value, so that many runs get past validation and train. A factory's
    kwargs are not scaled up: a model or data set 1000 times larger is slow, not a fault."""
    if isinstance(value, bool):
        return ["true", "false", "1"]
    if isinstance(value, int | float):
        up = 2 if ".kwargs." in key else 1000
        return [repr(v) for v in (0, -value, value * up, value / 1000, value + 1, float(value), int(value))]
    if isinstance(value, str):
        return ['""', f'"{value}x"', f'"{value.upper()}"', f'"{value}"']
    return ["[]", "{}", "0"]


def test_every_sample_is_fuzzed():
    assert len(NAMES) >= 8 and all(_own_keys(name) for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_samples_end_with_a_documented_exit_code(tmp_path, name, data):
    own = st.sampled_from(_own_keys(name)).flatmap(
        lambda key: st.tuples(st.just(key), st.sampled_from(_near(key, _value_of(name, key)))))
    plain = [key for key in _own_keys(name) if ".kwargs." not in key]  # huge kwargs: slow, not a fault
    anything = st.tuples(st.sampled_from(plain + KEYS), TOML_VALUES)
    overrides = data.draw(st.lists(st.one_of(own, own, anything), min_size=1, max_size=3), label="overrides")
    args = ["diagnose", "--sample", name, "--json", "--no-plots", "--steps", "2", "--out", str(tmp_path / "out")]
    for key, value in overrides:
        args += ["--set", f"{key}={value}"]
    _check(CliRunner().invoke(app, args), (name, overrides))
