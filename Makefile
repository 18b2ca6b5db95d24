# Volta: `make run` installs the runtime dependencies and runs the CSMS on
# SQLite; `make test` adds the development tools and runs the whole test suite
# (what CI runs). One venv, two stamps: `make run` never installs the `dev`
# extra, `make test` adds it to whatever is there, in either order.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# pytest-xdist workers: the tests wait on sockets and the database as much as
# they compute, so one more worker than cores keeps both cores busy.
PYTEST_WORKERS ?= 3

.PHONY: install install-dev run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The runtime only: what `pip install .` gives a user.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# The runtime and the development tools (tests, linters, type checks).
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(RUNTIME_STAMP) $(DEV_STAMP)

install: $(RUNTIME_STAMP)

install-dev: $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	$(BIN)/volta serve --demo 3

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(DEV_STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/bench_validation.py
	$(BIN)/python bench/bench_ws_echo.py
	$(BIN)/python bench/bench_v21_rpc.py
	$(BIN)/python bench/bench_console.py --json bench/results/console.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
