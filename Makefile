# Two commands: `make run` (demo data into the embedded warehouse, then the KPI summary)
# and `make test` (ruff, mypy, pytest). Both set up .venv on first use and are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WAREHOUSE ?= revlens.duckdb
CONTACTS ?= 20000
SEED ?= 42

.PHONY: setup run test lint typecheck pytest bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/revlens --warehouse $(WAREHOUSE) demo --replace --contacts $(CONTACTS) --seed $(SEED)

test: setup lint typecheck pytest

lint: setup
	$(BIN)/ruff check src tests $(wildcard benchmarks)

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WAREHOUSE) $(WAREHOUSE).wal
