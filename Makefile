# optevo: `make run` sets up and runs the main job; `make test` sets up and runs the tests;
# `make test-fast` runs lint and the quick tier (no slow, subprocess, browser or cuda tests);
# `make docs` builds the docs site strictly (mkdocs.yml; CI builds it as part of `make test`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: setup data run test test-fast lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,ray]"
	touch $(TEST_STAMP)

setup: $(STAMP)

data:
	bash scripts/ensure-data.sh

run: setup data
	$(BIN)/optevo search

lint: setup
	$(BIN)/ruff check src tests benchmarks tools examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(TEST_STAMP) data lint docs
	$(BIN)/python -m pytest

test-fast: data lint
	$(BIN)/python -m pytest -m "not slow and not subprocess and not browser and not cuda"

docs: $(STAMP)
	$(BIN)/python scripts/docs-index.py
	$(BIN)/mkdocs build --strict --quiet

bench: $(TEST_STAMP) data
	$(BIN)/python benchmarks/optimizer_step.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf site $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
