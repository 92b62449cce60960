# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On these machines pip finds a CPU build of torch on local disk; a bare `pip install torch`
# could pull a multi-GB CUDA build, so the venv gets this pin first. pyproject.toml keeps torch>=2.4 for users.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test bench clean wheel-check readme

$(BIN)/gradscope: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" || $(BIN)/pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	@touch $@

demo: $(BIN)/gradscope
	$(BIN)/gradscope diagnose --sample linear_high_lr --fail-on never --out gradscope-runs/demo

# Test processes: one per core, at most 4 (each may start a 2-rank torchrun). --dist loadgroup hands the tests out
# one at a time, and keeps a module with a module-scoped fixture (a torchrun launch, recommend's trials) on one
# worker so that the fixture runs once (tests/conftest.py marks them).
# The suite starts a Python process for each CLI run, attached script and torchrun rank: with bytecode caching off
# (PYTHONDONTWRITEBYTECODE, set on some images) each compiled gradscope's modules again (0.07 s for the CLI's).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; [ $$n -lt 2 ] && n=2; echo $$n)
test: $(BIN)/gradscope
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The wheel alone, as a user's `pip install torch-gradscope` gets it: a fresh venv, no test extra (whose packages
# would bring in anything the core forgot to declare), the CLI's help and a bundled sample. Exit 1 is the
# sample's findings; anything else (a traceback, exit 4) fails.
WHEEL_TMP ?= $(or $(TMPDIR),/tmp)/gradscope-wheel-check
wheel-check:
	rm -rf $(WHEEL_TMP) && mkdir -p $(WHEEL_TMP)
	$(PYTHON) -m pip wheel --quiet --no-deps -w $(WHEEL_TMP)/dist .
	$(PYTHON) -m venv $(WHEEL_TMP)/venv
	$(WHEEL_TMP)/venv/bin/pip install --quiet --upgrade pip
	$(WHEEL_TMP)/venv/bin/pip install --quiet "$(TORCH_SPEC)" || $(WHEEL_TMP)/venv/bin/pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch
	$(WHEEL_TMP)/venv/bin/pip install --quiet -c constraints.txt $(WHEEL_TMP)/dist/*.whl
	cd $(WHEEL_TMP) && venv/bin/gradscope --help > help.txt
	cd $(WHEEL_TMP) && OMP_NUM_THREADS=1 venv/bin/gradscope diagnose --sample linear_high_lr --steps 20 --no-plots \
		--out run > report.txt 2> stderr.txt; code=$$?; cat report.txt; \
		if [ $$code -gt 1 ]; then cat stderr.txt; echo "wheel-check: diagnose exited $$code" >&2; exit 1; fi
	rm -rf $(WHEEL_TMP)
	@echo "wheel-check: the wheel alone installs and runs"

# README.md's console examples, shown files and generated tables, made again from the code (tools/readme.py):
# run it after any change to what a command prints; tests/test_readme.py fails while a block is stale.
readme: $(BIN)/gradscope
	$(BIN)/python tools/readme.py --write

bench: $(BIN)/gradscope
	$(BIN)/python benchmarks/monitor_overhead.py

clean:
	rm -rf $(VENV) gradscope-runs .pytest_cache
