"""One error, one status: the domain errors map to 401/403/404/409/422/429 with a body
naming the problem, and a 422 leads with its first problem in one line."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from eventsync.api import error_handlers
from eventsync.api.error_handlers import (
    InvalidTransition,  # the privacy state machine's, wherever it lives
    MissingScope,
    Unauthorized,
    validation_message,
)
from eventsync.api.ratelimit import RateLimited
from eventsync.errors import ConfigError, NotFound


def _raising(exc: Exception) -> TestClient:
    app = FastAPI()
    error_handlers.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app)


def test_each_domain_error_gets_its_status_and_a_one_line_detail() -> None:
    cases = [
        (Unauthorized("unknown API key"), 401),
        (MissingScope("privacy:write"), 403),
        (NotFound("sync 'sync_x' not found"), 404),
        (InvalidTransition("completed -> running"), 409),
    ]
    for exc, status in cases:
        r = _raising(exc).get("/boom")
        assert (r.status_code, r.json()) == (status, {"detail": str(exc)})


def test_401_asks_for_a_bearer_key_and_429_says_when_to_retry() -> None:
    assert _raising(Unauthorized("no key")).get("/boom").headers["WWW-Authenticate"] == "Bearer"
    r = _raising(RateLimited("requests per key", 2.5)).get("/boom")
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")


def test_a_config_error_is_a_422_naming_the_field() -> None:
    r = _raising(ConfigError("retention_days", "must be 1..3650")).get("/boom")
    assert r.status_code == 422
    assert r.json() == {
        "message": "retention_days: must be 1..3650",
        "detail": [{"loc": ["retention_days"], "msg": "must be 1..3650", "type": "value_error"}],
    }


def test_the_validation_message_names_the_first_problem_and_counts_the_rest() -> None:
    errors = [
        {"loc": ("body", "events", 0, "user_id"), "msg": "Value error, empty user_id"},
        {"loc": ("body", "events", 3), "msg": "missing"},
    ]
    assert validation_message(errors) == "body.events.0.user_id: empty user_id (and 1 more)"
    assert validation_message([]) == "invalid request"
