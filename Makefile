# Tailor: the two commands are `make run` and `make test`; everything else is a step they use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)
DB ?= sample_data/bank.duckdb
PORT ?= 8501
CHROMIUM := /usr/bin/chromium

# Deliberate thread counts: on these shared 2-core machines OpenMP's default can run
# 10-100x slower (shared/MEASURED.md). DuckDB's threads are set in analytics/db.py.
export OMP_NUM_THREADS ?= 1
export TAILOR_DUCKDB_THREADS ?= 2

.PHONY: run test install data models demo-users browser bench lint clean

run: install data models demo-users ## serve the app on http://localhost:$(PORT)
	TAILOR_DB=$(DB) $(BIN)/python -m streamlit run app/main.py --server.port $(PORT) --server.address localhost

test: install browser ## the import contracts, then every test: unit, AppTest and headless-browser
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

data: install ## build the sample bank if it is missing
	$(BIN)/python -m analytics sample-data --if-missing --db $(DB)

models: data ## fit the batch models the pages read (predictive CLV, churn and take-up) if this data has none
	$(BIN)/python -m analytics clv --if-missing --db $(DB)
	$(BIN)/python -m analytics train --target all --if-missing --db $(DB)

demo-users: data ## one demo user per role on first run (passwords printed once)
	$(BIN)/python -m analytics users demo --db $(DB)

browser: ## Debian's Chromium for the browser tests (never a downloaded browser)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need Debian's chromium: run 'sudo apt-get install chromium'." >&2; exit 1; \
	  fi; \
	fi

bench: install ## build tiers S and M and the A/B test bank (1M customers), audit 1M predictions against fairlearn, write BENCHMARKS.md
	$(BIN)/python -m bench.run

lint: install ## ruff, the import contracts (pyproject.toml), and no Python callbacks inside polars expressions
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m tools.polars_callbacks

clean:
	rm -rf .cache .pytest_cache test-artifacts bench/data
