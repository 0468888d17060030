"""The audit log: the CSV export is safe for spreadsheets; filters select; every API
request that changed something is recorded by key id, without its body."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventsync import audit
from eventsync.api import create_app
from eventsync.workspaces import create_workspace


def test_csv_neutralises_formulas_and_starts_with_a_bom(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    for label in ('=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain"):
        audit.record(engine, ws, "console", "acct_1", "team.invited", target=label)
    data = b"".join(audit.export_csv(audit.iter_all(engine, ws, audit.Filter())))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    targets = [r["target"] for r in rows]
    assert targets == [
        "plain",
        "'\rx",
        "'\tx",
        "'@SUM(A1)",
        "'-2",
        "'+1",
        '\'=HYPERLINK("http://x")',
    ]


def test_filters(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    other = create_workspace(engine, "other").workspace_id
    audit.record(engine, ws, "console", "acct_1", "team.invited", actor_label="ann@acme.test")
    audit.record(engine, ws, "api", "key:abc", "api.POST /v1/events")
    audit.record(engine, ws, "console", "acct_2", "console.sign_in", outcome="refused")
    audit.record(engine, other, "console", "acct_9", "team.invited")
    q = lambda **f: [e.action for e in audit.query(engine, ws, audit.Filter(**f))]  # noqa: E731
    assert q(action="team.") == ["team.invited"]
    assert q(actor="ann@") == ["team.invited"]
    assert q(source="api") == ["api.POST /v1/events"]
    assert q(outcome="refused") == ["console.sign_in"]
    assert len(q()) == 3  # never another workspace's


def test_api_changes_are_audited_by_key_without_the_body(engine: Engine) -> None:
    created = create_workspace(engine, "acme")
    client = TestClient(create_app(engine))
    auth = {"Authorization": f"Bearer {created.api_key}"}
    made = client.post(
        "/v1/privacy/erasures", json={"user_ids": ["subject-canary-42"]}, headers=auth
    )
    assert made.status_code == 202
    client.get("/v1/syncs", headers=auth)  # a read: not recorded
    client.post("/v1/privacy/erasures", json={"user_ids": []}, headers=auth)  # 422: not either
    (entry,) = audit.query(engine, created.workspace_id, audit.Filter(source="api"))
    key_id = created.api_key.split("_")[1]
    assert (entry.actor, entry.action, entry.target) == (
        f"key:{key_id}",
        "api.POST /v1/privacy/erasures",
        made.json()["id"],
    )
    assert "subject-canary-42" not in repr(entry)
