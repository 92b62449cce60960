# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On these machines pip finds a CPU build of torch on local disk; a bare `pip install torch`
# could pull a multi-GB CUDA build, so the venv gets this pin first. pyproject.toml keeps torch>=2.4 for users.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test bench clean wheel-check readme

# pip compiles every module it installs, used or not (transformers' hundreds of model files): torch and the test
# extra took 89 s to install here, 41 s with --no-compile. The set-up then compiles what a gradscope run imports, by
# importing it once (15 s), so that the test processes do not all compile the same modules at once; the rest is
# compiled by the first process that imports it.
# RUN lets Python write its bytecode cache even where PYTHONDONTWRITEBYTECODE is set (some images set it), which
# would otherwise compile gradscope's and torch's modules again in every process.
PIP := $(BIN)/pip install --quiet --no-compile
RUN := PYTHONDONTWRITEBYTECODE=
IMPORTED := gradscope.cli, gradscope.drivers.loop, gradscope.attach.child, torch._dynamo, pandas, \
	matplotlib.pyplot, rich.table

$(BIN)/gradscope: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP) "$(TORCH_SPEC)" || $(PIP) --index-url https://download.pytorch.org/whl/cpu torch
	$(PIP) -c constraints.txt -e ".[test]"
	$(RUN) $(BIN)/python -c "import $(IMPORTED)"
	@touch $@

demo: $(BIN)/gradscope
	$(RUN) $(BIN)/gradscope diagnose --sample linear_high_lr --fail-on never --out gradscope-runs/demo

# Test processes: one per core, at most 4 (each may start a 2-rank torchrun). --dist loadgroup hands the tests out
# one at a time, and keeps a module with a module-scoped fixture (a torchrun launch, recommend's trials) on one
# worker so that the fixture runs once (tests/conftest.py marks them).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; [ $$n -lt 2 ] && n=2; echo $$n)
test: $(BIN)/gradscope
	$(RUN) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The wheel alone, as a user's `pip install torch-gradscope` gets it: a fresh venv, no test extra (whose packages
# would bring in anything the core forgot to declare), the CLI's help and a bundled sample, run from a folder with
# no source tree, so that the sample is the one the wheel carries. It must exit 1, the blow-up found; 0 would mean
# it did not run the sample that blows up, anything else is a traceback or exit 4.
WHEEL_TMP ?= $(or $(TMPDIR),/tmp)/gradscope-wheel-check
WHEEL_PIP := $(WHEEL_TMP)/venv/bin/pip install --quiet --no-compile
wheel-check:
	rm -rf $(WHEEL_TMP) && mkdir -p $(WHEEL_TMP)
	$(PYTHON) -m pip wheel --quiet --no-deps -w $(WHEEL_TMP)/dist .
	$(PYTHON) -m venv $(WHEEL_TMP)/venv
	$(WHEEL_TMP)/venv/bin/pip install --quiet --upgrade pip
	$(WHEEL_PIP) "$(TORCH_SPEC)" || $(WHEEL_PIP) --index-url https://download.pytorch.org/whl/cpu torch
	$(WHEEL_PIP) -c constraints.txt $(WHEEL_TMP)/dist/*.whl
	cd $(WHEEL_TMP) && $(RUN) venv/bin/gradscope --help > help.txt
	cd $(WHEEL_TMP) && $(RUN) OMP_NUM_THREADS=1 venv/bin/gradscope diagnose --sample linear_high_lr --steps 20 --no-plots \
		--out run > report.txt 2> stderr.txt; code=$$?; cat report.txt; \
		if [ $$code -ne 1 ]; then cat stderr.txt; echo "wheel-check: diagnose exited $$code" >&2; exit 1; fi
	rm -rf $(WHEEL_TMP)
	@echo "wheel-check: the wheel alone installs and runs"

# README.md's console examples, shown files and generated tables, made again from the code (tools/readme.py):
# run it after any change to what a command prints; tests/test_readme.py fails while a block is stale.
readme: $(BIN)/gradscope
	$(RUN) $(BIN)/python tools/readme.py --write

bench: $(BIN)/gradscope
	$(RUN) $(BIN)/python benchmarks/monitor_overhead.py

clean:
	rm -rf $(VENV) gradscope-runs .pytest_cache
