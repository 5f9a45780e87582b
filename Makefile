# optevo: `make run` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup data run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

data:
	bash scripts/ensure-data.sh

run: setup data
	mkdir -p runs
	$(BIN)/optevo evaluate Adam SGD QHM Opt6 Opt10 --random 3 --preset quick --out runs/quick-evaluate.jsonl

lint: setup
	$(BIN)/ruff check src tests benchmarks tools

test: setup data lint
	$(BIN)/python -m pytest

bench: setup data
	$(BIN)/python benchmarks/optimizer_step.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
