# The targets are exactly what CI runs (.ci/run calls `make test`).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export B2BREC_HOME ?= $(CURDIR)/.b2brec
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: install demo test lint bench-etl clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The product's main job end to end on the embedded default.
demo: install
	$(BIN)/b2brec demo

## The whole test suite (real PostgreSQL/MariaDB where present; CI requires them).
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-etl: install
	$(BIN)/python benchmarks/etl.py

clean:
	rm -rf $(VENV) .b2brec .pytest_cache
