"""Every appearance of each event limit derives from `LIMITS` (eventsync/event_limits.py):
ingestion accepts the limit and refuses one more, naming the field; the export's
pandera schema and its Arrow screen quarantine one more; the store's columns are as
wide as the limits (SQLite and PostgreSQL); the OpenAPI document and README.md's table
state the same numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from eventsync.api import create_app
from eventsync.clock import day_bounds_us
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.engine.extract import RAW_SCHEMA
from eventsync.engine.validate import DayValidator, screen
from eventsync.event_limits import LIMITS, STRING_FIELDS, SUBJECT_FIELDS
from eventsync.ingest import ingest_events
from eventsync.store.connection import engine_for
from eventsync.store.schema import events
from eventsync.workspaces import create_workspace

README = Path(__file__).parents[2] / "README.md"
DAY = "2025-03-09"
START, _ = day_bounds_us(DAY)
# 2-byte UTF-8: widths count characters, not bytes.
CHAR = "é"


def _nested(depth: int) -> dict[str, Any]:
    """A JSON object nesting `depth` levels (the object itself is level 1)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _sized(size: int) -> dict[str, Any]:
    """A JSON object of exactly `size` bytes of compact UTF-8 JSON."""
    room = size - len('{"b":""}')
    return {"b": CHAR * (room // 2) + "x" * (room % 2)}


def _text(width: int) -> str:
    """A legal value of `width` characters (2 bytes each but the first)."""
    return "t" + CHAR * (width - 1)


def _event(**over: Any) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "event_type": "track",
        "event_name": "Report Created",
        "user_id": "u1",
        "occurred_at": "2025-03-09T10:00:00Z",
        **over,
    }


# (name, {field: value at the limit}, {field: value one over}, field named by the reason)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    *(
        (f, {f: _text(LIMITS.width(f))}, {f: _text(LIMITS.width(f) + 1)}, f)
        for f in STRING_FIELDS
        if f != "event_type"
    ),
    # event_type: one of EVENT_TYPES, all narrower than its width.
    (
        "event_type",
        {"event_type": max(EVENT_TYPES, key=len)},
        {"event_type": "t" * (LIMITS.width("event_type") + 1)},
        "event_type",
    ),
    (
        "properties_bytes",
        {"properties": _sized(LIMITS.properties_bytes)},
        {"properties": _sized(LIMITS.properties_bytes + 1)},
        "properties",
    ),
    (
        "properties_depth",
        {"properties": _nested(LIMITS.properties_depth)},
        {"properties": _nested(LIMITS.properties_depth + 1)},
        "properties",
    ),
    (
        "nps_max",
        {"event_type": "nps_response", "nps_score": LIMITS.nps_max},
        {"event_type": "nps_response", "nps_score": LIMITS.nps_max + 1},
        "nps_score",
    ),
    (
        "nps_min",
        {"event_type": "nps_response", "nps_score": LIMITS.nps_min},
        {"event_type": "nps_response", "nps_score": LIMITS.nps_min - 1},
        "nps_score",
    ),
]
IDS = [c[0] for c in CASES]


def test_every_limit_has_a_case() -> None:
    covered = {c[0] for c in CASES}
    assert covered == {*STRING_FIELDS, "properties_bytes", "properties_depth", "nps_min", "nps_max"}


@pytest.mark.parametrize(("name", "at", "over", "field"), CASES, ids=IDS)
def test_ingestion_stores_the_limit_and_refuses_one_more(
    store_url: str, name: str, at: dict, over: dict, field: str
) -> None:
    engine = engine_for(store_url)
    ws = create_workspace(engine, "limits").workspace_id
    now = START + 86_400_000_000
    batch = [{**_event(event_id="at"), **at}, {**_event(event_id="over"), **over}]
    result = ingest_events(engine, ws, batch, now)
    assert result.accepted == 1
    [refused] = result.rejections
    assert refused.index == 1
    assert field in refused.reason, refused.reason
    with engine.connect() as conn:
        stored = conn.execute(select(events).where(events.c.workspace_id == ws)).one()
    for key, value in at.items():
        got = stored._mapping[key]
        assert (json.loads(got) if key == "properties" else got) == value


def _raw_row(event_id: str, over: dict[str, Any]) -> dict[str, Any]:
    """A store row as the export reads it, with `over` (properties as JSON text)."""
    row = {
        "event_id": event_id,
        "workspace_id": "ws_1",
        "event_type": "track",
        "event_name": "Report Created",
        "user_id": "u1",
        "occurred_at": START,
        "received_at": START,
        "schema_version": 1,
    }
    for key, value in over.items():
        if key == "properties":
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        row[key] = value
    return row


@pytest.mark.parametrize("use_screen", [True, False], ids=["screen+pandera", "pandera"])
@pytest.mark.parametrize(("name", "at", "over", "field"), CASES, ids=IDS)
def test_export_quarantines_one_more(
    name: str, at: dict, over: dict, field: str, use_screen: bool
) -> None:
    rows = [_raw_row("at", at), _raw_row("over", over)]
    batch = pa.RecordBatch.from_pylist(rows, schema=RAW_SCHEMA)
    valid, quarantine = DayValidator("ws_1", DAY, use_screen=use_screen).validate(batch)
    assert valid.column("event_id").to_pylist() == [rows[0]["event_id"]]
    assert quarantine.column("event_id").to_pylist() == [rows[1]["event_id"]]
    [reason] = quarantine.column("reason").to_pylist()
    assert reason.startswith(field) or f" {field}" in reason, reason
    marked = screen(batch, "ws_1", DAY)
    assert marked is not None and marked.tolist() == [False, True]


def test_store_columns_are_as_wide_as_the_limits(store_url: str) -> None:
    inspector = inspect(engine_for(store_url))
    widths = {
        c["name"]: getattr(c["type"], "length", None) for c in inspector.get_columns("events")
    }
    assert {f: widths[f] for f in STRING_FIELDS} == LIMITS.widths()
    subject_columns = {
        "user_profiles": ("user_id", "company_id"),
        "company_profiles": ("company_id",),
        "export_subjects": ("subject_id",),
    }
    for table, names in subject_columns.items():
        lengths = {
            c["name"]: getattr(c["type"], "length", None) for c in inspector.get_columns(table)
        }
        assert {n: lengths[n] for n in names} == dict.fromkeys(names, LIMITS.subject_id), table


def _branch(schema: dict[str, Any], kind: str = "string") -> dict[str, Any]:
    """The `kind` branch of a property that may be null."""
    if "anyOf" not in schema:
        return schema
    return next(s for s in schema["anyOf"] if s.get("type") == kind)


def test_openapi_states_the_limits(engine) -> None:  # type: ignore[no-untyped-def]
    doc = create_app(engine).openapi()
    schemas = doc["components"]["schemas"]
    props = schemas["Event"]["properties"]
    stated = {f: _branch(props[f])["maxLength"] for f in STRING_FIELDS if f != "event_type"}
    assert stated == {f: w for f, w in LIMITS.widths().items() if f != "event_type"}
    assert set(props["event_type"]["enum"]) == set(EVENT_TYPES)
    nps = _branch(props["nps_score"], "integer")
    assert (nps["minimum"], nps["maximum"]) == (LIMITS.nps_min, LIMITS.nps_max)
    assert f"at most {LIMITS.properties_bytes} bytes" in props["properties"]["description"]
    assert f"{LIMITS.properties_depth} levels" in props["properties"]["description"]
    assert f"at most {LIMITS.profile_bytes} bytes of JSON" in props["properties"]["description"]
    assert schemas["EventBatch"]["properties"]["events"]["maxItems"] == LIMITS.events_per_batch
    erasure = schemas["ErasureBody"]["properties"]
    for name in ("user_ids", "company_ids"):
        assert erasure[name]["items"]["maxLength"] == LIMITS.subject_id


def test_api_takes_a_full_batch_and_refuses_one_more(engine) -> None:  # type: ignore[no-untyped-def]
    key = create_workspace(engine, "batch").api_key
    client = TestClient(create_app(engine))
    headers = {"Authorization": f"Bearer {key}"}
    full = [_event(event_id=f"e{i}") for i in range(LIMITS.events_per_batch)]
    r = client.post("/v1/events", json={"events": full}, headers=headers)
    assert (r.status_code, r.json()["accepted"]) == (200, LIMITS.events_per_batch)
    r = client.post("/v1/events", json={"events": [*full, _event()]}, headers=headers)
    assert r.status_code == 422
    assert r.json()["message"].startswith("body.events: at most")


def _readme_limits() -> dict[str, str]:
    """{name: stated value} from README.md's table of limits: rows naming several fields
    (`a` / `b`) give each its own value (x / y)."""
    text = README.read_text()
    section = text[text.index("## API keys and limits") :]
    section = section[: section.index("\n## ", 1)]
    out: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("limit", "---"):
            continue
        names = [n.strip().strip("`") for n in cells[0].split(" / ")]
        head = cells[1].split(";")[0].removesuffix(" characters")
        values = head.split(" / ") if len(names) > 1 else [cells[1]]
        assert len(values) == len(names), line
        out.update(zip(names, values, strict=True))
    return out


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_readme_states_the_limits() -> None:
    stated = _readme_limits()
    for field in STRING_FIELDS:
        if field == "event_type":
            assert stated[field] == f"one of the {len(EVENT_TYPES)} types"
        else:
            assert _number(stated[field]) == LIMITS.width(field), field
    assert _number(stated["events per batch"]) == LIMITS.events_per_batch
    props = re.fullmatch(
        r"a JSON object of at most (\d+) KiB \(compact UTF-8 JSON\), (\d+) levels deep",
        stated["properties"],
    )
    assert props is not None, stated["properties"]
    assert int(props[1]) * 1024 == LIMITS.properties_bytes
    assert int(props[2]) == LIMITS.properties_depth
    nps = re.match(r"(\d+) to (\d+)", stated["nps_score"])
    assert nps is not None and (int(nps[1]), int(nps[2])) == (LIMITS.nps_min, LIMITS.nps_max)
    profile = re.match(r"at most (\d+) KiB", stated["subject profile"])
    assert profile is not None and int(profile[1]) * 1024 == LIMITS.profile_bytes


def test_subject_ids_have_one_width() -> None:
    assert {LIMITS.width(f) for f in SUBJECT_FIELDS} == {LIMITS.subject_id}
