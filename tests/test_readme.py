"""README.md cannot drift: each console example is what its command prints now, each shown file is the file in
examples/, each generated table is the code's. After a change to what a command prints: `make readme`
(tools/readme.py --write), then review the diff."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from conftest import REPO, subprocess_env

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


def test_every_command_prints_what_the_readme_shows():
    """Every example, run as shown (tools/readme.py --check; its commands run two at a time)."""
    done = subprocess.run([sys.executable, str(REPO / "tools" / "readme.py"), "--check"], cwd=REPO,
                          env=subprocess_env() | {"README_JOBS": "2"}, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"README.md is stale: run `make readme`\n{done.stderr[-6000:]}"
