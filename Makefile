# The two commands of README.md: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install clean-demo workers FORCE

# The virtualenv, and .env: the project's DAGSTER_HOME for every entry point. eventsync
# reads .env (resources/settings.py) and Dagster's CLI reads .env from the folder it runs
# in, so `eventsync ...` and `dagster ...` run from here need nothing exported. Lines are
# NAME=${NAME:-value}: a value exported in the shell still wins.
install: $(VENV)/.installed .env

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Rewritten on every install (the checkout may have moved); other lines are kept.
.env: FORCE
	@touch $@
	@grep -v '^DAGSTER_HOME=' $@ > $@.tmp || true
	@printf 'DAGSTER_HOME=$${DAGSTER_HOME:-%s}\n' "$(CURDIR)/dagster_home" >> $@.tmp
	@mv $@.tmp $@

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

# Ctrl-C stops it; `make demo` again restarts it with the same data and a new API key.
demo: install
	$(BIN)/python -m pipeline.demo.run

# A Dagster Celery worker for EVENTSYNC_EXECUTOR=celery runs (docs/deploy.md). Broker and
# result backend from EVENTSYNC_CELERY_BROKER / EVENTSYNC_CELERY_BACKEND; WORKER_CONCURRENCY
# steps at once (default: one per core).
WORKER_CONCURRENCY ?= $(shell nproc)
workers: install
	$(BIN)/celery -A pipeline.celery_app worker -Q dagster --prefetch-multiplier=1 \
	  --concurrency=$(WORKER_CONCURRENCY) --loglevel=INFO -n eventsync-$$$$@%h

bench: install
	$(BIN)/python -m bench.run

# Everything `make demo` created under dagster_home/ (dagster.yaml stays), and the demo's
# first partition day in .env.
clean-demo:
	cd dagster_home && find . -mindepth 1 -maxdepth 1 ! -name 'dagster*.yaml' -exec rm -rf {} +
	@if [ -f .env ]; then grep -v '^EVENTSYNC_PARTITIONS_START=' .env > .env.tmp || true; mv .env.tmp .env; fi
