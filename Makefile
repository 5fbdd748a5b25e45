# Two commands: `make run` (demo data into the embedded warehouse, then the dashboard on
# http://127.0.0.1:8000) and `make test` (ruff, mypy, pytest with the browser tests).
# Both set up .venv on first use and are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WAREHOUSE ?= revlens.duckdb
CONTACTS ?= 20000
SEED ?= 42
PORT ?= 8000

.PHONY: setup run test test-spark lint typecheck pytest bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/revlens --warehouse $(WAREHOUSE) demo --replace --contacts $(CONTACTS) --seed $(SEED) --port $(PORT)

test: setup browser lint typecheck pytest

# The browser tests drive Debian's Chromium headless; install it when missing (as root, or
# with sudo). Without it they are skipped with the reason printed.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else \
	    echo "chromium missing and no root: browser tests will be skipped"; exit 0; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	    || echo "could not install chromium: browser tests will be skipped"; }

lint: setup
	$(BIN)/ruff check src tests $(wildcard benchmarks)

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -m "not spark"

# The same KPI, funnel and attribution tests on local Spark (needs Java 17+): the Spark extra
# into .venv, then the tests marked spark, i.e. the spark parameter of the engine-parametrised
# suites and the DuckDB-vs-Spark parity checks (docs/spark.md, "Testing on both engines").
test-spark: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	$(BIN)/pytest -m spark

# The benchmark (benchmarks/README.md): KPIs, funnel and attribution at 1M, 3M and 10M
# contacts on DuckDB, at 1M on Spark local, against hand-written SQL, pandas and
# ChannelAttribution (installed into its own venv, benchmarks/.peers); writes
# benchmarks/RESULTS.md. Extra options: make bench BENCH_ARGS="--quiet-wait 60 --retries 0".
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[spark]' || echo "no Spark extra: the Spark tasks will be skipped"
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(WAREHOUSE) $(WAREHOUSE).wal
