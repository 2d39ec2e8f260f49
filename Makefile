# The few commands a newcomer needs. Everything installs into .venv in this folder.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# `dg` compares the active virtual environment with the project's: make runs .venv's own tools.
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg

.PHONY: demo test test-fast dev bench lint clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,deploy]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: shelfcast/configs/dagster/local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

## demo: install, generate demo data, run 2 markets x 2 months, print a summary
demo: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/shelfcast demo

## browser: Debian's Chromium for the browser test (Playwright drives it; nothing is downloaded)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

## test: install the dev extras and run the whole test suite
test: $(VENV)/.installed-dev browser
	$(BIN)/python -m pytest

## test-fast: unit, platform and single-asset tests; no S3 server, UI or whole pipelines
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow and not s3 and not ui and not deploy"

## dev: the Dagster UI on http://127.0.0.1:3000 with the demo's instance (dg dev: [tool.dg])
dev: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml
	$(DG) dev --host 127.0.0.1 --port 3000

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[dev,deploy,bench]'
	touch $@

## bench: run the benchmarks and record their results under benchmarks/results
bench: $(VENV)/.installed-bench
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## lint: ruff (lint and format) and mypy, as CI runs them
lint: $(VENV)/.installed-dev $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/ruff check shelfcast shelfcast_tests benchmarks
	$(BIN)/ruff format --check shelfcast shelfcast_tests benchmarks
	$(BIN)/mypy shelfcast
	$(DG) check defs

clean:
	rm -rf data .dagster_home
