# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On these machines pip finds a CPU build of torch on local disk; a bare `pip install torch`
# could pull a multi-GB CUDA build, so the venv gets this pin first. pyproject.toml keeps torch>=2.4 for users.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test bench clean

$(BIN)/gradscope: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" || $(BIN)/pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	@touch $@

demo: $(BIN)/gradscope
	$(BIN)/gradscope diagnose --sample linear_high_lr --fail-on never --out gradscope-runs/demo

test: $(BIN)/gradscope
	$(BIN)/python -m pytest -q

bench: $(BIN)/gradscope
	$(BIN)/python benchmarks/monitor_overhead.py

clean:
	rm -rf $(VENV) gradscope-runs .pytest_cache
