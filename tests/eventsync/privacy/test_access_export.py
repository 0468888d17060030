"""The access-export CSV: one row per stored valid event of the subject, the export
CSV dialect (NULL apart from "", UTC timestamps, JSON text properties), readable."""

from __future__ import annotations

import json
import os
import stat

from sqlalchemy import insert

from eventsync.clock import day_bounds_us
from eventsync.privacy import request_store, runner
from eventsync.store.schema import user_profiles
from eventsync.workspaces import create_workspace
from tests.factories import insert_day
from tests.readers import csv_rows

DAY = "2025-03-01"


def test_access_export_holds_the_valid_events_in_the_export_dialect(engine, es_home):
    ws = create_workspace(engine, "acme").workspace_id
    start, end = day_bounds_us(DAY)
    # user-0 holds rows 0, 13 (and 26 is none): row 0 at midnight, row 13 with "" and
    # NULL, and an invalid row 26 -> insert 40 rows: user-0 = rows 0, 13, 26, 39
    insert_day(
        engine,
        ws,
        DAY,
        40,
        i0={"occurred_at": start},
        i13={"hostname": "", "pathname": None, "properties": None},
        i26={"properties": "not json"},
        i39={"occurred_at": end - 1},
    )
    with engine.begin() as conn:
        conn.execute(
            insert(user_profiles).values(
                workspace_id=ws, user_id="user-0", company_id=None,
                properties='{"plan": "pro"}', first_seen_at=start, last_seen_at=end - 1,
            )
        )  # fmt: skip
    req = request_store.create_request(engine, ws, "access_export", ["user-0"], [], actor="test")
    old = os.umask(0o022)
    try:
        runner.claim(engine, req.id, "test")
        runner.start(engine, req.id, "owner", "test")
        step = runner.run_step(engine, req.id, runner.ACCESS_EXPORT_STEP, "t", owner="owner")
        result = step.result
    finally:
        os.umask(old)
    path = es_home / "eventsync/privacy" / ws / f"_privacy/access/{req.id}.csv"
    assert result["local_path"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert (result["events"], result["events_invalid_excluded"]) == (3, 1)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfrecord,event_id,workspace_id,")
    profile, *rows = csv_rows(path)
    # the profile once, in its own row first; the events after it without it
    assert (profile["record"], profile["user_id"], profile["event_id"]) == (
        "profile",
        "user-0",
        None,
    )
    assert profile["profile_properties"] == '{"plan": "pro"}'
    assert profile["profile_last_seen_at"] == f"{DAY}T23:59:59.999999Z"
    assert profile["profile_company_id"] is None
    assert {r["record"] for r in rows} == {"event"}
    assert {r["profile_properties"] for r in rows} == {None}
    assert [r["event_id"][-6:] for r in rows] == ["000000", "000013", "000039"]
    assert rows[0]["occurred_at"] == f"{DAY}T00:00:00.000000Z"
    assert rows[2]["occurred_at"] == f"{DAY}T23:59:59.999999Z"
    assert (rows[1]["hostname"], rows[1]["pathname"], rows[1]["properties"]) == ("", None, None)
    assert all(isinstance(json.loads(r["properties"]), dict) for r in (rows[0], rows[2]))
    assert path.read_bytes().split(b"\r\n")[0].startswith(b"\xef\xbb\xbfrecord,event_id,")
