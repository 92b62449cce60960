"""The house's one import rule, read from the code: nothing below imports anything above it, and no cycles.

Every module's imports are parsed with `ast`: those at module level and those inside functions (a lazy import is
still an arrow). Imports under `if TYPE_CHECKING:` are not arrows: they never run (plain data typed by a class
from above may flow down as a value). Each package has a layer (docs/architecture.md):

    ground < core < record < drivers < services < faces

An import from a lower layer to a higher one fails the test with the arrow named, unless `ALLOWED` names it with
its reason; so does an import cycle between modules. The core, the detectors and the trace, must also stay pure
at import: nothing they import at module level, however indirectly, imports torch, matplotlib, rich or typer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "gradscope"
LAYERS = ("ground", "core", "record", "drivers", "services", "faces")

# The layer of each package (and of the few modules that sit apart from their package), by longest prefix.
LAYER_OF = {
    "gradscope.errors": "ground", "gradscope.levels": "ground", "gradscope.numbers": "ground",
    "gradscope.interrupts": "ground", "gradscope.trace": "ground", "gradscope.sources": "ground",
    "gradscope.config": "ground", "gradscope.build": "ground",
    "gradscope.clip.setting": "ground",  # a plain value (mode, threshold) the config and the trace speak
    "gradscope.ranks": "ground", "gradscope.stats": "ground", "gradscope.strict_json": "ground",
    "gradscope.monitor": "core", "gradscope.diagnose": "core", "gradscope.clip": "core",
    "gradscope.record": "record",
    "gradscope.drivers": "drivers", "gradscope.attach": "drivers",
    "gradscope.trials": "services", "gradscope.report": "services",
    # load_run reads a run folder and diagnoses it again when diagnosis.json is missing: it uses the core.
    "gradscope.sources.runs": "services",
    "gradscope.cli": "faces", "gradscope.commands": "faces", "gradscope.integrations": "faces",
    "gradscope.__main__": "faces", "gradscope": "faces",  # the package root re-exports the public API
}
# Arrows up that are part of the design, each with its reason.
ALLOWED = {
    ("gradscope.monitor.monitor", "gradscope.record.plots"):
        "Monitor.save, the public one-call save, writes the run folder with its plots, as the recorder does",
}
PURE = ("gradscope.trace", "gradscope.diagnose")  # the core that must import no heavy library at module level
HEAVY = ("torch", "matplotlib", "rich", "typer")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> str:
    prefix = max((p for p in LAYER_OF if module == p or module.startswith(p + ".")), key=len)
    return LAYER_OF[prefix]


def resolve(name: str) -> str | None:
    """The gradscope module `name` refers to (a module, or the package holding a name imported from it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class Imports(ast.NodeVisitor):
    """(target module, line, where) of every gradscope import: where is "module", "function" or "type"."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, int, str]] = []
        self.heavy: list[tuple[str, int]] = []  # heavy libraries imported at module level
        self._depth = 0
        self._typing = 0

    def _where(self) -> str:
        return "type" if self._typing else ("function" if self._depth else "module")

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            self._typing += 1
            for child in node.body:
                self.visit(child)
            self._typing -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, name: str, line: int) -> None:
        if not self._depth and not self._typing and name.split(".")[0] in HEAVY:
            self.heavy.append((name, line))
        target = resolve(name) if name.split(".")[0] == "gradscope" else None
        if target is not None:
            self.found.append((target, line, self._where()))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            up = self.package.split(".")
            up = up[: len(up) - node.level + 1]
            base = ".".join(up + ([base] if base else []))
        for alias in node.names:  # `from gradscope.trace import run_folder` imports the module run_folder
            self._add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, node.lineno)


def imports_of(module: str) -> Imports:
    path = MODULES[module]
    visitor = Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    return visitor


IMPORTS = {m: imports_of(m) for m in MODULES}


def test_every_package_has_a_layer():
    assert all(layer(m) in LAYERS for m in MODULES)


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{m} ({layer(m)}) imports {target} ({layer(target)}) at line {line}, {where} level"
              for m, imports in IMPORTS.items() for target, line, where in imports.found
              if where != "type" and LAYERS.index(layer(target)) > LAYERS.index(layer(m))
              and (m, target) not in ALLOWED]
    assert upward == [], "arrows up the layers:\n" + "\n".join(upward)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `edges`: one per strongly connected group of modules, as a path that closes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


@pytest.mark.parametrize("levels", [("module",), ("module", "function")], ids=["module-level", "with-functions"])
def test_no_import_cycles(levels):
    # A package importing its own modules (an __init__ re-exporting them) is not a cycle of the design.
    edges = {m: {t for t, _, where in IMPORTS[m].found if where in levels and t != m
                 and not (MODULES[m].name == "__init__.py" and t.startswith(m + "."))} for m in MODULES}
    found = cycles(edges)
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(group) for group in found)


def test_the_core_imports_no_heavy_library_at_module_level():
    """Neither the core's modules nor anything they import at module level, however indirectly."""
    pure = [m for m in MODULES if any(m == p or m.startswith(p + ".") for p in PURE)]
    reached, todo = set(pure), list(pure)
    while todo:
        for target, _, where in IMPORTS[todo.pop()].found:
            if where == "module" and target not in reached:
                reached.add(target)
                todo.append(target)
    heavy = [f"{m} imports {name} at line {line}" for m in sorted(reached) for name, line in IMPORTS[m].heavy]
    assert heavy == [], "the core reaches heavy libraries:\n" + "\n".join(heavy)


def test_every_allowed_arrow_is_still_there():
    """An allowance whose import is gone must go too, or it would excuse the next one silently."""
    arrows = {(m, t) for m, imports in IMPORTS.items() for t, _, where in imports.found if where != "type"}
    assert set(ALLOWED) <= arrows


def test_the_rule_catches_an_arrow_up_and_a_cycle():
    """The checks themselves: a core module importing a driver is named, and so is a two-module cycle."""
    assert LAYERS.index(layer("gradscope.drivers.loop")) > LAYERS.index(layer("gradscope.diagnose.diagnosis"))
    assert layer("gradscope.clip.setting") == "ground" and layer("gradscope.clip.guard") == "core"
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
