# Two commands on a fresh machine: `make run` and `make test`.
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.yaml

.PHONY: run test test-unit services lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU build on this machine; anything else pulls CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# BoTorch's fused LogEI kernel, compiled once here (about 40 s) so that no campaign compiles
	# it: a driver killed mid-compile would leave the compiler running.
	$(BIN)/python -c "from optloop.optimiser.kernel import ensure_fused_kernel as k; print('BoTorch fused kernel:', k())"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/optloop run $(CONFIG)

# The system services the tests need (Chromium, PostgreSQL), installed only if missing.
services:
	bash tests/setup-services.sh

# Unit and integration tests (`slow` ones are deselected by default; run them with -m slow).
test: $(STAMP) services
	$(BIN)/pytest

# Quick loop: unit tests only (no servers, browser, Dask, pip installs or subprocess CLIs).
test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not slow"

lint: $(STAMP)
	$(BIN)/ruff check optloop tests experiments
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
