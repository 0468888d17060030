"""The log format of eventsync's own processes (EVENTSYNC_LOG_FORMAT): `text` plain
lines without colour codes, or `json` (python-json-logger), one object per line with
time, level, logger and message, for a log shipper. Messages never carry subject ids
or payloads (the privacy rule), so JSON adds fields, not personal data."""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from eventsync.settings import load

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message"]
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


def formatter(kind: str | None = None) -> logging.Formatter:
    kind = kind or load().log_format
    if kind == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields=RENAMED, timestamp=False)
    return logging.Formatter(TEXT)


def uvicorn_log_config(kind: str | None = None) -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers (access log included) in the chosen format,
    never coloured."""
    kind = kind or load().log_format
    fmt: dict[str, Any] = (
        {"()": JsonFormatter, "fmt": JSON_FIELDS, "rename_fields": RENAMED}
        if kind == "json"
        else {"format": TEXT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": fmt},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "": {"handlers": ["default"], "level": "INFO"},
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
        },
    }


def configure(kind: str | None = None, level: int = logging.INFO) -> None:
    """Root logger to stderr in the configured format (CLI servers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
