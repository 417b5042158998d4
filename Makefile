# The two commands of the README are the contract: `make run` and `make test` set up
# everything they need on a fresh machine, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER_DEPS := tests/browser/node_modules/.installed
EDITOR_DEPS := static/editor/node_modules/.installed
DEMO_DB := sqlite:///$(CURDIR)/var/arobase.db

.PHONY: run setup test lint format services browser-deps bench clean assets

run: setup
	AROBASE_DATABASE_URL=$${AROBASE_DATABASE_URL:-$(DEMO_DB)} $(BIN)/arobase db upgrade
	AROBASE_DATABASE_URL=$${AROBASE_DATABASE_URL:-$(DEMO_DB)} $(BIN)/arobase demo
	@echo "Arobase : http://127.0.0.1:8000 (Ctrl+C pour arrêter)"
	AROBASE_DATABASE_URL=$${AROBASE_DATABASE_URL:-$(DEMO_DB)} $(BIN)/arobase serve --host 127.0.0.1 --port 8000

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

services:
	bash .ci/services

$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --silent
	touch $@

browser-deps: $(BROWSER_DEPS)
	bash .ci/chromium

$(EDITOR_DEPS): static/editor/package.json static/editor/package-lock.json
	cd static/editor && npm ci --no-audit --no-fund --silent
	touch $@

test: setup services browser-deps $(EDITOR_DEPS)
	cd static/editor && npm test --silent
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var tests/browser/node_modules static/editor/node_modules tests/artefacts

bench: setup services
	$(BIN)/python tests/perf/bench.py --repeats $${REPEATS:-2}
	$(BIN)/python tests/perf/history_bench.py
	$(BIN)/python tests/perf/scale_bench.py

# Rebuild the editor island from its sources and lock file (the built bundle is committed, so
# running Arobase needs no Node).
assets: $(EDITOR_DEPS)
	cd static/editor && npm run build
