"""Every third-party module gradscope imports is a declared dependency of the distribution.

A plain `pip install torch-gradscope` gets the core dependencies only: a module imported at a module's top
level must be one of them. A framework imported only inside an integration (through `_extras.require`) must be
in the extra that `require` names. The test extra brings many packages in (click among them), so without this
check a missing declaration passes every other test and breaks only a user's plain install.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "gradscope"
# Where an import name differs from the distribution that provides it (and the distribution is not installed
# here to say so).
DISTRIBUTION_OF = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow",
                   "pytorch_lightning": "pytorch-lightning"}


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalised(re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0])


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project["dependencies"]}
    extras = {extra: {requirement_name(r) for r in reqs}
              for extra, reqs in project.get("optional-dependencies", {}).items()}
    return core, extras


@functools.cache
def installed_modules() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # reads every installed distribution's file list: once


def distributions(module: str) -> set[str]:
    """The distributions that provide a top-level import name (installed ones say; else the usual mapping)."""
    installed = installed_modules().get(module)
    names = {normalised(d) for d in installed} if installed else set()
    return names | {normalised(DISTRIBUTION_OF.get(module, module))}


def third_party(name: str) -> str | None:
    top = name.split(".")[0]
    return None if top in sys.stdlib_module_names or top in ("gradscope", "__future__") else top


def imports() -> list[tuple[Path, int, str, bool]]:
    """(file, line, top-level module, imported when the module loads) for every import statement in gradscope/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        eager = {id(node) for node in tree.body}
        eager |= {id(n) for node in tree.body if isinstance(node, (ast.If, ast.Try)) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if (top := third_party(name)) is not None:
                    found.append((path, node.lineno, top, id(node) in eager))
    return found


def required_frameworks() -> list[tuple[Path, tuple[str, ...], str]]:
    """Every `require(("lightning", ...), "extra", ...)` call: the modules an integration imports by name."""
    calls = []
    for path in sorted((PACKAGE / "integrations").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Tuple)):
                try:
                    modules = tuple(ast.literal_eval(node.args[0]))
                except ValueError:  # a name built at run time: its literal call sits beside it
                    continue
                calls.append((path, tuple(m.split(".")[0] for m in modules), ast.literal_eval(node.args[1])))
    return calls


def test_every_imported_module_is_a_declared_dependency() -> None:
    core, extras = declared()
    every_extra = set().union(*(reqs for extra, reqs in extras.items() if extra != "test"))  # test's: not a user's
    missing = []
    for path, line, module, eager in imports():
        provided_by = distributions(module)
        allowed = core if eager else core | every_extra
        if not provided_by & allowed:
            where = "core dependencies" if eager else "core dependencies or an extra"
            missing.append(f"{path.relative_to(REPO)}:{line}: imports {module}, not in pyproject's {where}")
    assert not missing, "\n".join(missing)


def test_click_is_not_imported() -> None:
    # typer >= 0.29 vendors click and no longer depends on it: importing click breaks a plain install.
    assert not [(path, line) for path, line, module, _ in imports() if module == "click"]


def test_each_integration_names_the_extra_that_brings_its_framework() -> None:
    _, extras = declared()
    calls = required_frameworks()
    assert {extra for _, _, extra in calls} == {"lightning", "transformers"}
    for path, modules, extra in calls:
        assert extra in extras, f"{path}: pip install 'torch-gradscope[{extra}]' names an extra pyproject lacks"
        assert any(distributions(m) & extras[extra] for m in modules), (path, modules, extras[extra])
