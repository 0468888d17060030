# The two commands of README.md: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: demo test lint bench install clean-demo workers interop

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The suite runs on a non-UTC clock (tests/conftest.py sets the same): exports must not
# depend on the worker's time zone.
test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	TZ=America/New_York $(BIN)/pytest

# Spark (pyspark, Java 17) reads every format x codec of a real export and runs the
# generated Spark and Athena (Hive) table definitions: docs/destinations.md.
interop: install
	$(BIN)/pip install --quiet -e '.[dev,interop]'
	TZ=America/New_York $(BIN)/pytest -m interop tests/interop -v

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

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

clean-demo:
	rm -rf $(DAGSTER_HOME)/eventsync $(DAGSTER_HOME)/eventsync.db* $(DAGSTER_HOME)/storage \
	  $(DAGSTER_HOME)/history $(DAGSTER_HOME)/schedules $(DAGSTER_HOME)/logs $(DAGSTER_HOME)/.logs_queue
