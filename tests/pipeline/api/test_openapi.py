"""The OpenAPI document tells the truth: a bounded schemathesis run (every check, the
coverage and fuzzing phases) against a real API process finds nothing, and 405 names
every method a path serves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.api import create_app
from pipeline.workspaces import create_workspace
from tests.pipeline.api.server import api_server

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_schemathesis_finds_no_failure(engine: Engine, es_home: Path) -> None:
    key = create_workspace(engine, "schemathesis").api_key
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
            timeout=600,
            cwd=es_home,
        )
    out = run.stdout + run.stderr
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    print("\nschemathesis:", counts.group(0) if counts else out[-3000:])
    assert run.returncode == 0, out[-6000:]
    assert counts and int(counts.group(1)) >= 300 and counts.group(1) == counts.group(2)


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
