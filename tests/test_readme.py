"""README.md cannot drift: each console example is what its command prints now, each shown file is the file in
examples/, each generated table is the code's. After a change to what a command prints: `make readme`
(tools/readme.py --write), then review the diff."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("readme_tool", REPO / "tools" / "readme.py")
tool = sys.modules["readme_tool"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
spec.loader.exec_module(tool)

TEXT = (REPO / "README.md").read_text()


def test_every_console_block_is_made_by_a_command():
    marked = {b.start for b in tool.blocks(TEXT) if b.kind == "example"}
    consoles = [m.end() for m in re.finditer(r"^```console\n", TEXT, re.M)]
    unmarked = [TEXT.count("\n", 0, at) + 1 for at in consoles if at not in marked]
    assert not unmarked, f"README.md lines {unmarked}: a console block without <!-- example: COMMAND -->"


def test_shown_files_and_generated_tables_are_current():
    stale = [f"{b.kind}: {b.what}" for b in tool.blocks(TEXT) if b.kind != "example" and tool.fresh(b) != b.current]
    assert not stale, f"README.md is stale ({', '.join(stale)}): run `make readme`"


EXAMPLES = tool.slowest_first([b for b in tool.blocks(TEXT) if b.kind == "example"])  # no worker ends on one alone


@pytest.mark.parametrize("block", EXAMPLES, ids=[f"line{TEXT.count(chr(10), 0, b.start)}" for b in EXAMPLES])
def test_every_command_prints_what_the_readme_shows(block):
    """Each example, run as shown (as tools/readme.py --check runs it): one test per block, so that the test
    workers share them out."""
    now = tool.run_example(block.what)
    if now != block.current:
        diff = "".join(difflib.unified_diff(block.current.splitlines(keepends=True), now.splitlines(keepends=True),
                                            "README.md", "now"))
        pytest.fail(f"README.md is stale: run `make readme` (or tools/readme.py --write --only ...)\n{diff[-6000:]}")
