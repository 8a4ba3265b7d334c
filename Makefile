# The targets are exactly what CI runs (.ci/run calls `make test`).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export B2BREC_HOME ?= $(CURDIR)/.b2brec
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20
# checkov lives in its own virtualenv (its pins clash with the app's); bump the version here.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# bqemulator (a local BigQuery REST API, for tests/core/test_bigquery_emulator.py) likewise: it pins
# sqlglot<30.12. DuckDB's spatial extension, which it needs at start, comes from PyPI (no download at run time).
BQEMU_VERSION := 1.4.0
BQEMU_VENV := .venv-bqemulator
BQEMU_STAMP := $(BQEMU_VENV)/.installed-$(BQEMU_VERSION)

.PHONY: install browser demo test lint typecheck bench-etl checkov clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

## Debian chromium for the Playwright browser tests (idempotent; needs root to install).
browser:
	bash scripts/install-browser.sh

## The product's main job end to end on the embedded default.
demo: install
	$(BIN)/b2brec demo

## The whole test suite (real PostgreSQL/MariaDB where present; CI requires them).
test: install browser typecheck checkov $(BQEMU_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/lint_imports.py
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/lint_imports.py

## mypy over the application packages (tests excluded); settings in pyproject.toml [tool.mypy].
typecheck: install
	$(BIN)/mypy b2brec serving trainer stacks modules cli provisioning client_app control_plane

bench-etl: install
	$(BIN)/python benchmarks/etl.py

$(CHECKOV_STAMP): constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -c constraints-checkov.txt checkov==$(CHECKOV_VERSION)
	touch $@

$(BQEMU_STAMP): constraints-bqemulator.txt
	$(PYTHON) -m venv $(BQEMU_VENV)
	$(BQEMU_VENV)/bin/python -m pip install --quiet -c constraints-bqemulator.txt \
	  bqemulator==$(BQEMU_VERSION) duckdb duckdb-extension-spatial numpy
	touch $@

## checkov over every synthesized stack: 0 failed checks (each skip has its reason in .checkov.yaml).
checkov: install $(CHECKOV_STAMP)
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	$(BIN)/b2brec synth --all --out "$$out" && \
	for stack in "$$out"/*/; do \
	  echo "checkov: $$stack"; \
	  $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d "$$stack" || exit 1; \
	done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(BQEMU_VENV) .b2brec .pytest_cache
