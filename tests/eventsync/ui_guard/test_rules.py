"""The UI guard's three refusals, on ASGI scopes (the browser test, tests/e2e/
test_ui_guard.py, runs them against a real webserver)."""

from __future__ import annotations

import pytest

from eventsync.ui_guard import GuardRules

RULES = GuardRules.for_listen("127.0.0.1", 3000, ["dagster.example.com"])


def scope(method: str = "POST", path: str = "/graphql", query: bytes = b"", **headers: str):
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


@pytest.mark.parametrize(
    ("request_scope", "status"),
    [
        (scope(host="127.0.0.1:3000"), None),
        (scope(host="localhost:3000", origin="http://localhost:3000"), None),
        (scope(host="dagster.example.com", origin="https://dagster.example.com"), None),
        (scope("GET", "/graphql", b"", host="127.0.0.1:3000"), None),
        (scope("GET", "/assets", b"query=x", host="127.0.0.1:3000"), None),
        (scope(host="rebind.attacker.example"), 421),
        (scope(host="127.0.0.1:3000", origin="http://evil.test"), 403),
        (scope(host="127.0.0.1:3000", origin="null"), 403),
        (scope("GET", "/graphql", b"query=mutation%7B%7D", host="127.0.0.1:3000"), 405),
        (scope("GET", "/graphql/", b"query=%7Bversion%7D", host="127.0.0.1:3000"), 405),
    ],
)
def test_refusals(request_scope: dict, status: int | None) -> None:
    refused = RULES.refusal(request_scope)
    assert (refused[0] if refused else None) == status


def test_a_websocket_handshake_from_another_origin_is_refused() -> None:
    ws = {**scope(host="127.0.0.1:3000", origin="http://evil.test"), "type": "websocket"}
    assert RULES.refusal(ws) == (403, "requests from another site's pages are refused")
