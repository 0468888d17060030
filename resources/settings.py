"""Every setting eventsync reads from the environment, in one place.

Values are read when asked for (not cached at import), so a test or a process that
changes its environment sees the change. A bad value fails with a ConfigError naming
the variable. Secrets (the store URL may hold a password, the Celery broker URL too)
are handed to Dagster as ``EnvVar``/``{"env": ...}`` by the wiring that uses them, so
they never land in run config.

Each variable is read from the environment, else from the project's ``.env`` file
(written by ``make install``), which Dagster's own CLI (``dagster dev``, ``dagster
asset materialize``...) also reads from the directory it runs in: so with nothing
exported, the ``eventsync`` CLI, ``make demo`` and ``dagster`` commands run from the
project all use the project's ``dagster_home/`` and event store. ``.env`` lines are
written as ``NAME=${NAME:-value}``, so the environment wins for Dagster too.

| variable | default | read by |
|---|---|---|
| DAGSTER_HOME | the project's ``dagster_home/`` | every entry point |
| EVENTSYNC_DEBUG | - | the CLI shows tracebacks of unexpected errors |
| EVENTSYNC_ENV_FILE | the project's ``.env`` | this module (environment only) |
| EVENTSYNC_DATABASE_URL | SQLite ``$DAGSTER_HOME/eventsync.db`` | event store |
| EVENTSYNC_DATA_DIR | ``$DAGSTER_HOME/eventsync`` | staging, quarantine, locks |
| EVENTSYNC_PARTITIONS_START | the first of this month, a year ago | partitions |
| EVENTSYNC_EXECUTOR | in_process | Definitions |
| EVENTSYNC_MAX_CONCURRENT_STEPS | (executor default) | multiprocess executor |
| EVENTSYNC_SYNCS_PER_RUN | 50 | daily schedule (syncs per daily run) |
| EVENTSYNC_CELERY_BROKER / _BACKEND | amqp://guest:guest@127.0.0.1:5672// / rpc:// | celery |
| EVENTSYNC_PAUSE_AFTER_FAILURES | 3 | sync health |
| EVENTSYNC_PRIVACY_RATE / _BURST | 60 per minute / 20 | API |
| EVENTSYNC_INGEST_RATE / _BURST | 600 per minute / 120 | API (per key) |
| EVENTSYNC_AUTH_FAILURE_RATE / _BURST | 30 per minute / 10 | API (per client address) |
| EVENTSYNC_EVENTS_MAX_BODY_BYTES | 5 MiB | API (`POST /v1/events`) |
| EVENTSYNC_API_MAX_BODY_BYTES | 256 KiB | API (every other request) |
| EVENTSYNC_KEY_CACHE_SECONDS | 5 | API (revocation delay across processes) |
| EVENTSYNC_PRIVACY_LEASE_SECONDS | 120 | privacy runner (a silent owner's lease expires) |
| EVENTSYNC_SUBJECT_KEY | ``<data dir>/keys/subject.key`` | keyed hashes of erased subject ids |
| EVENTSYNC_S3_ENDPOINT_URL, EVENTSYNC_STS_ENDPOINT_URL | AWS | destinations |
| AWS_REGION / AWS_DEFAULT_REGION | - | destinations |
| EVENTSYNC_GCS_PROJECT | - | destinations |
| EVENTSYNC_DEST_MAX_ATTEMPTS | 6 | destinations |
| EVENTSYNC_MULTIPART_THRESHOLD_MB / _PART_MB | 64 / 16 | S3 |
| EVENTSYNC_UI_PORT / EVENTSYNC_API_PORT | 3000 / 8000 | ``make demo`` |
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resources.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = PROJECT_ROOT / ".env"

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"


_env_file_cache: tuple[Path, float, dict[str, str]] | None = None


def env_file_path() -> Path:
    """The project's .env; EVENTSYNC_ENV_FILE (environment only) names another one, e.g.
    a missing path to ignore it (the test suite does, to be independent of a demo's)."""
    return Path(os.environ.get("EVENTSYNC_ENV_FILE") or DEFAULT_ENV_FILE)


def env_file() -> dict[str, str]:
    """The .env values (interpolated against the environment, as Dagster does)."""
    global _env_file_cache
    path = env_file_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    if _env_file_cache is None or _env_file_cache[:2] != (path, mtime):
        from dotenv import dotenv_values

        values = {k: (v or "").strip() for k, v in dotenv_values(path).items()}
        _env_file_cache = (path, mtime, {k: v for k, v in values.items() if v})
    return _env_file_cache[2]


def raw(name: str) -> str | None:
    """The variable's value (environment, else the project's .env), or None."""
    value = os.environ.get(name, "").strip()
    return value or env_file().get(name) or None


def source(name: str) -> str:
    """Where a variable's value comes from, for error messages."""
    if os.environ.get(name, "").strip():
        return f"${name}"
    return f"{name} in {env_file_path()}" if env_file().get(name) else f"{name} (unset)"


def is_set(name: str) -> bool:
    return raw(name) is not None


def _parsed(name: str, default: float, cast: type, minimum: float | None) -> Any:
    value = raw(name)
    if value is None:
        return default
    try:
        out = cast(value)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise ConfigError(name, f"must be {kind}, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {out}")
    return out


def integer(name: str, default: int, minimum: int | None = None) -> int:
    return int(_parsed(name, default, int, minimum))


def number(name: str, default: float, minimum: float | None = None) -> float:
    return float(_parsed(name, default, float, minimum))


# --- where things live -----------------------------------------------------------------
def dagster_home() -> Path:
    """$DAGSTER_HOME, else the project's dagster_home/ folder."""
    home = raw("DAGSTER_HOME")
    return Path(home).expanduser().resolve() if home else PROJECT_ROOT / "dagster_home"


def checked_dagster_home() -> Path:
    """DAGSTER_HOME, checked: an existing folder (with dagster.yaml for the project's
    settings). A ConfigError naming the variable and the fix otherwise."""
    home = dagster_home()
    default = PROJECT_ROOT / "dagster_home"
    fix = f"unset it to use the project's {default}, or point it at a folder with a dagster.yaml"
    if not home.is_dir():
        raise ConfigError(
            "DAGSTER_HOME", f"{home} ({source('DAGSTER_HOME')}) is not a folder: {fix}"
        )
    return home


def ensure_dagster_home() -> Path:
    """Set DAGSTER_HOME for this process (and its children) when unset, so the CLI and
    `make demo` use the same instance as `dagster` commands run from the project."""
    home = checked_dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def debug() -> bool:
    return is_set("EVENTSYNC_DEBUG")


def data_root() -> Path:
    """Where eventsync keeps its own files (staging, quarantine, locks, privacy files)."""
    root = raw("EVENTSYNC_DATA_DIR")
    return Path(root).resolve() if root else dagster_home() / "eventsync"


def database_url() -> str:
    return raw("EVENTSYNC_DATABASE_URL") or f"sqlite:///{dagster_home() / 'eventsync.db'}"


def partitions_start() -> str | None:
    """EVENTSYNC_PARTITIONS_START (YYYY-MM-DD), or None for the default."""
    return raw("EVENTSYNC_PARTITIONS_START")


# --- orchestration ---------------------------------------------------------------------
def executor() -> str:
    return raw("EVENTSYNC_EXECUTOR") or "in_process"


def max_concurrent_steps() -> int | None:
    if not is_set("EVENTSYNC_MAX_CONCURRENT_STEPS"):
        return None
    return integer("EVENTSYNC_MAX_CONCURRENT_STEPS", 0, minimum=1)


def syncs_per_run() -> int:
    """How many syncs one daily run exports the day of (pipeline/defs/exports/schedules.py)."""
    return integer("EVENTSYNC_SYNCS_PER_RUN", 50, minimum=1)


def celery_broker() -> str:
    return raw("EVENTSYNC_CELERY_BROKER") or DEFAULT_BROKER


def celery_backend() -> str:
    return raw("EVENTSYNC_CELERY_BACKEND") or DEFAULT_BACKEND


def pause_after_failures() -> int:
    return integer("EVENTSYNC_PAUSE_AFTER_FAILURES", 3, minimum=1)


# --- API -------------------------------------------------------------------------------
def privacy_rate_per_minute() -> float:
    return number("EVENTSYNC_PRIVACY_RATE", 60.0, minimum=0)


def privacy_burst() -> int:
    return integer("EVENTSYNC_PRIVACY_BURST", 20, minimum=1)


def ingest_rate_per_minute() -> float:
    """Requests of `POST /v1/events` per minute and API key (token bucket)."""
    return number("EVENTSYNC_INGEST_RATE", 600.0, minimum=0)


def ingest_burst() -> int:
    return integer("EVENTSYNC_INGEST_BURST", 120, minimum=1)


def auth_failure_rate_per_minute() -> float:
    """Failed authentications per minute and client address before 429."""
    return number("EVENTSYNC_AUTH_FAILURE_RATE", 30.0, minimum=0)


def auth_failure_burst() -> int:
    return integer("EVENTSYNC_AUTH_FAILURE_BURST", 10, minimum=1)


def events_max_body_bytes() -> int:
    """Largest request body of `POST /v1/events` (413 beyond, before it is read)."""
    return integer("EVENTSYNC_EVENTS_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)


def api_max_body_bytes() -> int:
    """Largest request body of every other API request (privacy requests ...)."""
    return integer("EVENTSYNC_API_MAX_BODY_BYTES", 256 * 1024, minimum=1024)


def key_cache_seconds() -> float:
    """How long a verified API key is trusted without reading its row again: the most
    a revocation made by another process takes to reach this one."""
    return number("EVENTSYNC_KEY_CACHE_SECONDS", 5.0, minimum=0)


# --- privacy ---------------------------------------------------------------------------
def privacy_lease_seconds() -> float:
    """How long a running privacy request stays owned without a heartbeat."""
    return number("EVENTSYNC_PRIVACY_LEASE_SECONDS", 120.0, minimum=1)


def subject_key() -> str | None:
    """The installation's secret for keyed hashes of subject ids (None: use the key file)."""
    value = raw("EVENTSYNC_SUBJECT_KEY")
    if value is not None and len(value) < 32:
        raise ConfigError(
            "EVENTSYNC_SUBJECT_KEY", f"must be at least 32 characters, got {len(value)}"
        )
    return value


# --- destinations ----------------------------------------------------------------------
def s3_endpoint_url() -> str | None:
    return raw("EVENTSYNC_S3_ENDPOINT_URL")


def sts_endpoint_url() -> str | None:
    return raw("EVENTSYNC_STS_ENDPOINT_URL") or s3_endpoint_url()


def aws_region() -> str | None:
    return raw("AWS_REGION") or raw("AWS_DEFAULT_REGION")


def gcs_project() -> str | None:
    return raw("EVENTSYNC_GCS_PROJECT")


def dest_max_attempts() -> int:
    return integer("EVENTSYNC_DEST_MAX_ATTEMPTS", 6, minimum=1)


def multipart_threshold_mb() -> float:
    return number("EVENTSYNC_MULTIPART_THRESHOLD_MB", 64, minimum=0)


def multipart_part_mb() -> float:
    return number("EVENTSYNC_MULTIPART_PART_MB", 16, minimum=0)


# --- demo ------------------------------------------------------------------------------
def ui_port() -> int:
    return integer("EVENTSYNC_UI_PORT", 3000, minimum=1)


def api_port() -> int:
    return integer("EVENTSYNC_API_PORT", 8000, minimum=1)
