# AutoFlow: `make run` brings up the whole product, `make test` runs the whole suite.
SHELL := /bin/bash
BIN := .venv/bin
PYTEST_ARGS ?=
# Two test processes, each with its own test database and Redis database (autoflow/settings_test.py);
# a file's tests stay together, so its live stack is started once.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: help install install-test run test chaos lint format services lock clean

help:
	@echo "make run      install what is missing, start PostgreSQL, Redis, web and worker (Ctrl-C stops)"
	@echo "make test     install what is missing, run linter and the whole test suite on throw-away servers"
	@echo "make chaos    the chaos suite at full length: every fault on real processes (about 9 min)"
	@echo "make lint     ruff, and the one-way import contracts (import-linter, pyproject.toml)"
	@echo "make services start only the local PostgreSQL and Redis of .run/ and print their URLs"
	@echo "make lock     re-resolve requirements.lock and requirements-dev.lock from pyproject.toml"
	@echo "make clean    remove .venv and .run (local server data)"

install:
	@bash scripts/bootstrap.sh

run: install
	$(BIN)/python -m scripts.run

test: install-test lint
	$(BIN)/python -m scripts.services throwaway -- $(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

chaos: install
	$(BIN)/python -m chaos

install-test:
	@AUTOFLOW_WITH_BROWSER=1 bash scripts/bootstrap.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

services: install
	$(BIN)/python -m scripts.services up

LOCK_FLAGS := --quiet --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host
lock: install
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev -o requirements-dev.lock pyproject.toml

clean:
	rm -rf .venv .run
