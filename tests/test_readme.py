"""README.md cannot drift: each console example is what its command prints now, each shown file is the file in
examples/, each generated table is the code's. After a change to what a command prints: `make readme`
(tools/readme.py --write), then review the diff."""

from __future__ import annotations

import difflib
import re

import pytest
from conftest import REPO
from conftest import readme_tool as tool

TEXT = (REPO / "README.md").read_text()


def test_every_console_block_is_made_by_a_command():
    marked = {b.start for b in tool.blocks(TEXT) if b.kind == "example"}
    consoles = [m.end() for m in re.finditer(r"^```console\n", TEXT, re.M)]
    unmarked = [TEXT.count("\n", 0, at) + 1 for at in consoles if at not in marked]
    assert not unmarked, f"README.md lines {unmarked}: a console block without <!-- example: COMMAND -->"


def test_shown_files_and_generated_tables_are_current():
    stale = [f"{b.kind}: {b.what}" for b in tool.blocks(TEXT) if b.kind != "example" and tool.fresh(b) != b.current]
    assert not stale, f"README.md is stale ({', '.join(stale)}): run `make readme`"


def test_a_last_digit_is_the_same_output_and_another_path_is_not():
    """Another CPU rounds a last digit otherwise (and a column or a wrapped line moves with it); a run that takes
    another path (another step, another winner) prints something else."""
    shown = "weight norm 3.36 -> 8.267e+08\n━━━━━━╇━━━\n0.8529 │ 19 steps"
    assert tool.same(shown, "weight norm 3.36 -> 8.268e+08\n━━━━━━━╇━━━\n0.85312 │ 19\nsteps")
    assert not tool.same(shown, shown.replace("19", "18"))  # another step
    assert not tool.same("step 100", "step 101") and tool.same("loss 1.001", "loss 1.002")
    assert not tool.same(shown, shown.replace("8.267e+08", "9.1e+08"))
    assert not tool.same(shown, shown.replace("steps", "step"))
    assert not tool.same(shown, shown + " 1")


EXAMPLES = tool.slowest_first([b for b in tool.blocks(TEXT) if b.kind == "example"])  # no worker ends on one alone


@pytest.mark.parametrize("block", EXAMPLES, ids=[f"line{TEXT.count(chr(10), 0, b.start)}" for b in EXAMPLES])
def test_every_command_prints_what_the_readme_shows(block):
    """Each example, run as shown (as tools/readme.py --check runs it): one test per block, so that the test
    workers share them out."""
    now = tool.run_example(block.what)
    if not tool.same(block.current, now):
        diff = "".join(difflib.unified_diff(block.current.splitlines(keepends=True), now.splitlines(keepends=True),
                                            "README.md", "now"))
        pytest.fail(f"README.md is stale: run `make readme` (or tools/readme.py --write --only ...)\n{diff[-6000:]}")
