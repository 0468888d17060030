# The two commands of README.md: `make demo` and `make test` (and `make test-fast` while
# developing).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Python keeps its bytecode (__pycache__, ignored by git) even where the shell says not
# to: every pytest worker, daemon, code server and API of the tests then loads eventsync
# and the rewritten test modules from cache instead of compiling them again (about 6 s
# of each pytest process's start on a 2-core machine).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast screenshots lint bench install ceph chromium libreoffice nginx clean-demo workers interop FORCE

# The virtualenv, and .env: the project's DAGSTER_HOME for every entry point. eventsync
# reads .env (eventsync/settings.py) and Dagster's CLI reads .env from the folder it runs
# in, so `eventsync ...` and `dagster ...` run from here need nothing exported. Lines are
# NAME=${NAME:-value}: a value exported in the shell still wins.
install: $(VENV)/.installed .env

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Rewritten on every install (the checkout may have moved); other lines are kept.
# DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR: a backfill waits for a code server
# that is restarting instead of failing (docs/deploy.md, "Environment").
.env: FORCE
	@touch $@
	@grep -v -e '^DAGSTER_HOME=' -e '^DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR=' $@ > $@.tmp || true
	@printf 'DAGSTER_HOME=$${DAGSTER_HOME:-%s}\n' "$(CURDIR)/dagster_home" >> $@.tmp
	@printf 'DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR=1\n' >> $@.tmp
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

# Debian's chromium, the browser of the console's Playwright tests (never a browser that
# Playwright would download): installed when missing and we are root, else `make test`
# stops, naming the package.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (the console's browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium >/dev/null || exit 1; \
	  fi; \
	  if [ ! -x /usr/bin/chromium ]; then \
	    echo "the tests need /usr/bin/chromium: install the Debian package chromium" \
	      "(apt-get install chromium, as root)" >&2; \
	    exit 1; \
	  fi; \
	fi

# Debian's nginx, the reverse proxy of the tests of docs/nginx-*.conf: installed when
# missing and we are root, else `make test` stops, naming the package.
nginx:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing nginx (the reverse-proxy tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends nginx >/dev/null || exit 1; \
	  fi; \
	  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	    echo "the tests need nginx: install the Debian package nginx" \
	      "(apt-get install nginx, as root)" >&2; \
	    exit 1; \
	  fi; \
	fi

# Debian's libreoffice-calc, the spreadsheet that opens the access-export CSV in
# tests/eventsync/privacy/test_access_export_spreadsheet.py (formula cells neutralised,
# text exact): installed when missing and we are root, else `make test` stops, naming it.
libreoffice:
	@if ! command -v libreoffice >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing libreoffice-calc (the access-export spreadsheet test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends libreoffice-calc >/dev/null || exit 1; \
	  fi; \
	  if ! command -v libreoffice >/dev/null; then \
	    echo "the tests need LibreOffice: install the Debian package libreoffice-calc" \
	      "(apt-get install libreoffice-calc, as root)" >&2; \
	    exit 1; \
	  fi; \
	fi

# The suite runs on a non-UTC clock (tests/conftest.py sets the same): exports must not
# depend on the worker's time zone. `make test` runs everything (CI: .ci/run) and prints
# the slowest tests (--durations in pyproject.toml): TEST_WORKERS pytest workers (default
# 4, twice the cores CI has: most of the suite waits on servers and daemons, which each
# worker starts on its own free ports; the parallel lane took 16 min at 2 workers, 11-13
# at 4, 15 at 6 with timeouts), given one module at a time (loadscope: a module's
# fixtures are made once), the modules of the longest tests first (tests/conftest.py:
# the lane took 12.5 min when the longest test started at 6 min, 10.5 min since), then
# the few tests marked `serial` alone, as they measure time against other processes'
# load.
TEST_WORKERS ?= 4
test: install ceph chromium libreoffice nginx
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	TZ=America/New_York $(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
	  -m 'not interop and not serial'
	TZ=America/New_York $(BIN)/pytest -m 'serial and not interop'

# The development lane: units and contracts, no daemons, Ceph, `dagster dev` or Celery
# (the tests marked `slow` are left out, the PostgreSQL half of a test on both store
# backends among them: its SQLite half runs), hypothesis with its small `fast` profile,
# one pytest worker per core (pytest-xdist).
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	HYPOTHESIS_PROFILE=fast TZ=America/New_York $(BIN)/pytest -m 'not interop and not slow' -n auto

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
	$(BIN)/python -m eventsync.demo.run

# A Dagster Celery worker for EVENTSYNC_EXECUTOR=celery runs (docs/deploy.md). Broker and
# result backend from EVENTSYNC_CELERY_BROKER / EVENTSYNC_CELERY_BACKEND; WORKER_CONCURRENCY
# steps at once (default: one per core).
WORKER_CONCURRENCY ?= $(shell nproc)
workers: install
	$(BIN)/celery -A pipeline.celery_app worker \
	  -Q "$$($(BIN)/python -c 'from eventsync.settings import load; print(load().celery_queue)')" \
	  --prefetch-multiplier=1 --concurrency=$(WORKER_CONCURRENCY) --loglevel=INFO -n eventsync@%h

# The console's screenshots in docs/console/ (docs/console.md), taken by its browser tests.
screenshots: install chromium
	EVENTSYNC_TEST_SCREENSHOTS=1 TZ=America/New_York $(BIN)/pytest -q tests/eventsync/console

bench: install
	$(BIN)/python -m bench.run

# Everything `make demo` created under dagster_home/ (dagster.yaml stays), and the demo's
# first partition day in .env.
clean-demo:
	cd dagster_home && find . -mindepth 1 -maxdepth 1 ! -name 'dagster*.yaml' -exec rm -rf {} +
	@if [ -f .env ]; then grep -v '^EVENTSYNC_PARTITIONS_START=' .env > .env.tmp || true; mv .env.tmp .env; fi
