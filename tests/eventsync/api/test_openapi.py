"""The OpenAPI document tells the truth: a bounded schemathesis run (every check, the
coverage and fuzzing phases, fixed seed) against a real API process finds nothing, with
a real sync, erasure and access export seeded so that every handler is reached past
its 404; every limit is in the document; 405 names every method a path serves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventsync.access import KEY_SCOPES
from eventsync.api import create_app
from eventsync.privacy import request_store
from eventsync.privacy.states import RequestKind
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_key, create_workspace
from tests.eventsync.api.server import api_server

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def _seeded_config(engine: Engine, es_home: Path, workspace_id: str) -> tuple[str, list[str]]:
    """schemathesis.toml: the path ids of a real sync, erasure and access export."""
    sync = create_sync(engine, workspace_id, str(es_home / "exports"))
    erasure = request_store.create_request(
        engine, workspace_id, RequestKind.ERASURE, ["u-seed"], [], actor="test"
    )
    export = request_store.create_request(
        engine, workspace_id, RequestKind.ACCESS_EXPORT, ["u-seed"], [], actor="test"
    )
    ops = [
        ("/v1/syncs/{sync_id}/days", "sync_id", sync.id),
        ("/v1/privacy/erasures/{request_id}", "request_id", erasure.id),
        ("/v1/privacy/erasures/{request_id}/retry", "request_id", erasure.id),
        ("/v1/privacy/access-exports/{request_id}", "request_id", export.id),
        ("/v1/privacy/access-exports/{request_id}/retry", "request_id", export.id),
    ]
    text = ""
    for path, name, value in ops:
        text += f'[[operations]]\ninclude-path = "{path}"\n'
        text += f'parameters = {{ "path.{name}" = "{value}" }}\n'
        if path.endswith("/days"):
            # `from` after `to` is 422: a rule across two parameters that JSON Schema
            # cannot state (the description does); every other case is checked.
            text += (
                "[operations.checks.positive_data_acceptance]\nexpected-statuses = "
                '["2xx", "401", "403", "404", "409", "422", "429"]\n'
            )
        text += "\n"
    # A sync's settings have rules across fields (a compression each format supports)
    # and in a bucket's name that JSON Schema does not state (the descriptions do).
    for path in ("/v1/syncs", "/v1/syncs/{sync_id}"):
        # One filter each (schemathesis ORs several): the name is "METHOD path".
        name = f"PATCH {path}" if path.endswith("}") else f"POST {path}"
        text += f'[[operations]]\ninclude-name = "{name}"\n'
        if path.endswith("}"):
            text += f'parameters = {{ "path.sync_id" = "{sync.id}" }}\n'
        text += (
            "[operations.checks.positive_data_acceptance]\nexpected-statuses = "
            '["2xx", "401", "403", "404", "422", "429"]\n\n'
        )
    # DELETE gets a sync of its own (the others stay usable); deleting it again is 409.
    doomed = create_sync(engine, workspace_id, str(es_home / "doomed"))
    text += (
        '[[operations]]\ninclude-name = "DELETE /v1/syncs/{sync_id}"\n'
        f'parameters = {{ "path.sync_id" = "{doomed.id}" }}\n'
        "[operations.checks.positive_data_acceptance]\nexpected-statuses = "
        '["2xx", "401", "403", "404", "409", "422", "429"]\n\n'
    )
    paths = [path.replace("{" + name + "}", value) for path, name, value in ops]
    return text, [*paths, f"/v1/syncs/{sync.id}", f"/v1/syncs/{doomed.id}"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # 190-220 s alone; 300 s beside a loaded make test on 2 cores
def test_schemathesis_finds_no_failure(engine: Engine, es_home: Path) -> None:
    workspace = create_workspace(engine, "schemathesis")
    # Every scope, syncs:write too (not a default one): POST and PATCH /v1/syncs reached.
    key = create_key(engine, workspace.workspace_id, scopes=[str(s) for s in KEY_SCOPES])
    config, paths = _seeded_config(engine, es_home, workspace.workspace_id)
    (es_home / "schemathesis.toml").write_text(config)  # found in the run's cwd
    unlimited = {
        f"EVENTSYNC_{name}": "1000000"
        for name in ("INGEST_RATE", "INGEST_BURST", "PRIVACY_RATE", "PRIVACY_BURST")
    }
    with api_server(es_home, **unlimited) as server:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{server.base}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "coverage,fuzzing",
                "--max-examples",
                "25",
                "--seed",
                "13",
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--no-color",
                "--header",
                f"Authorization: Bearer {key}",
            ],
            capture_output=True,
            text=True,
            timeout=840,
            cwd=es_home,
        )
    out = run.stdout + run.stderr
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    print("\nschemathesis:", counts.group(0) if counts else out[-3000:])
    assert run.returncode == 0, out[-6000:]
    assert counts and int(counts.group(1)) >= 300 and counts.group(1) == counts.group(2)
    # Every handler was reached past its 404: the server's log has its 2xx (or 409).
    lines = server.log().splitlines()
    for path in paths:
        answered = [line for line in lines if f"{path} HTTP/1.1" in line or f"{path}?" in line]
        assert any(re.search(r'" (200|202|409)\b', line) for line in answered), (
            path,
            sorted({line.rsplit(" ", 1)[-1] for line in answered}),
            len(answered),
        )


def test_405_names_every_method_of_the_path(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    key = create_workspace(engine, "acme").api_key
    r = client.delete("/v1/privacy/erasures", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    r = client.get("/v1/events", headers={"Authorization": f"Bearer {key}"})
    assert (r.status_code, r.headers["allow"]) == (405, "POST")


def test_the_event_object_is_fully_typed(engine: Engine) -> None:
    spec = TestClient(create_app(engine)).get("/openapi.json").json()
    event = spec["components"]["schemas"]["Event"]
    assert event["additionalProperties"] is False
    assert event["properties"]["pathname"]["anyOf"][0]["maxLength"] == 2048
    assert event["properties"]["user_agent"]["anyOf"][0]["maxLength"] == 1024
    assert event["properties"]["event_type"]["enum"][0] == "track"
    batch = spec["components"]["schemas"]["EventBatch"]["properties"]["events"]
    assert batch["maxItems"] == 1000
    assert batch["items"]["anyOf"][0] == {"$ref": "#/components/schemas/Event"}
    body_422 = spec["paths"]["/v1/events"]["post"]["responses"]["422"]
    assert body_422["content"]["application/json"]["schema"]["$ref"].endswith("ValidationErrorOut")


def test_every_limit_is_in_the_document(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSYNC_API_MAX_BODY_BYTES", "300000")
    spec = TestClient(create_app(engine)).get("/openapi.json").json()
    paths = spec["paths"]
    days = {p["name"]: p["schema"] for p in paths["/v1/syncs/{sync_id}/days"]["get"]["parameters"]}
    assert days["sync_id"]["maxLength"] == 64
    assert re.fullmatch(days["from"]["pattern"], "2000-01-01")
    assert not re.fullmatch(days["from"]["pattern"], "1999-12-31")
    assert not re.fullmatch(days["to"]["pattern"], "9999-12-31")
    for path in ("/v1/privacy/erasures/{request_id}", "/v1/privacy/access-exports/{request_id}"):
        (param,) = paths[path]["get"]["parameters"]
        assert param["schema"]["maxLength"] == 64
    events = paths["/v1/events"]["post"]
    assert events["requestBody"]["x-max-body-bytes"] == 5 * 1024 * 1024
    assert events["x-rate-limit-per-minute"] == 600
    assert events["x-workspace-bytes-per-minute"] == 30 * 1024 * 1024
    assert events["x-workspace-bytes-burst"] == 10 * 1024 * 1024
    assert events["x-workspace-batches-in-progress"] == 1
    erasure = paths["/v1/privacy/erasures"]["post"]
    assert erasure["requestBody"]["x-max-body-bytes"] == 300000
    assert "x-rate-limit-per-minute" in erasure
    limit = paths["/v1/privacy/erasures"]["get"]["parameters"][0]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 500)
