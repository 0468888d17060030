# The two commands of README.md: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install ceph clean-demo workers interop FORCE

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

# Ceph radosgw, the second real S3 server of the tests (tests/fixtures/ceph.py starts it):
# installed from Debian's packages when missing and we are root; otherwise `make test`
# stops, saying what to install.
CEPH_PACKAGES := ceph-mon ceph-osd radosgw
CEPH_BINARIES := ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool
ceph:
	@missing=$$(for b in $(CEPH_BINARIES); do command -v $$b >/dev/null || printf ' %s' $$b; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(CEPH_PACKAGES) (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $(CEPH_PACKAGES) >/dev/null || exit 1; \
	    missing=$$(for b in $(CEPH_BINARIES); do command -v $$b >/dev/null || printf ' %s' $$b; done); \
	  fi; \
	  if [ -n "$$missing" ]; then \
	    echo "the tests need Ceph radosgw (missing:$$missing): install the Debian packages" \
	      "$(CEPH_PACKAGES) (apt-get install $(CEPH_PACKAGES), as root)" >&2; \
	    exit 1; \
	  fi; \
	fi

# The suite runs on a non-UTC clock (tests/conftest.py sets the same): exports must not
# depend on the worker's time zone.
test: install ceph
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
