"""The guard in front of the routers: body limits counted over every chunk, whatever
the content type, and answered before authentication when the length is declared."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventsync.api import create_app
from eventsync.workspaces import create_workspace


def chunks(n: int, size: int) -> Iterator[bytes]:
    for _ in range(n):
        yield b"x" * size


def test_declared_length_over_the_limit_is_413_before_authentication(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    r = client.post("/v1/privacy/erasures", content=b"x" * (300 * 1024))
    assert r.status_code == 413
    assert r.json()["detail"] == "request body larger than 262144 bytes; send smaller batches"


def test_streamed_body_of_any_type_is_counted_over_all_chunks(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    key = create_workspace(engine, "acme").api_key
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "text/plain"}
    r = client.post("/v1/privacy/erasures", content=chunks(4, 100_000), headers=headers)
    assert r.status_code == 413
    small = client.post("/v1/privacy/erasures", content=chunks(2, 100), headers=headers)
    assert small.status_code == 422  # under the limit: read, then refused as not JSON
