"""The privacy portal in process: erasures from a typed list and a CSV file with every
refused id named, an access export downloaded, un-suppression for admins only, and
another workspace's requests as 404."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from eventsync.privacy import request_store, runner, suppressions
from eventsync.workspaces import create_workspace
from tests.eventsync.console.inprocess import Browser, console_env, member  # noqa: F401


@pytest.fixture
def ws(engine: Engine, console_env) -> str:  # noqa: F811
    ws = create_workspace(engine, "Acme").workspace_id
    member(engine, ws, "owner@acme.test", "owner")
    member(engine, ws, "privacy@acme.test", "privacy_officer")
    return ws


def test_erasure_names_every_refused_id_and_files_nothing(engine: Engine, ws: str) -> None:
    b = Browser(engine)
    b.sign_in("privacy@acme.test")
    r = b.get(f"/w/{ws}/privacy")
    assert r.status_code == 200 and "Erase users or companies" in r.text
    assert "Un-suppress" not in r.text  # not a privacy officer's
    assert ">Team<" not in r.text  # the portal only
    r = b.post(
        f"/w/{ws}/privacy/erasures",
        {"kind": "user", "ids": "u-1\n u-2\nu-3"},
        files={"file": ("ids.csv", b'user_id\r\nu-4\r\n"bad\tid"\r\n', "text/csv")},
    )
    assert r.status_code == 422
    assert "2 of 5 ids are refused" in r.text
    assert "leading or trailing whitespace" in r.text and "control character" in r.text
    assert request_store.list_requests(engine, ws) == []

    r = b.post(
        f"/w/{ws}/privacy/erasures",
        {"kind": "user", "ids": "u-1\nu-3"},
        files={"file": ("ids.csv", b"user_id\r\nu-4\r\nu-1\r\n", "text/csv")},
    )
    assert r.status_code == 200, r.text
    (req,) = request_store.list_requests(engine, ws)
    assert req.user_ids == ["u-1", "u-3", "u-4"] and str(req.status) == "received"
    assert "Audit trail" in r.text and "console:" in r.text
    runner.run_all(engine, req.id, "test")
    r = b.get(f"/w/{ws}/privacy/requests/{req.id}")
    assert 'id="request-status" class="status-completed">completed' in r.text
    # The workspace's audit export names the request, never a subject id.
    export = b.get(f"/w/{ws}/audit.csv")
    assert export.status_code == 403  # a privacy officer has no audit:read
    owner = Browser(engine)
    owner.sign_in("owner@acme.test")
    export = owner.get(f"/w/{ws}/audit.csv").text
    assert f"request:{req.id}" in export and "privacy.erasure_refused" in export
    assert not any(subject in export for subject in ("u-1", "u-3", "u-4", "bad\tid"))


def test_access_export_download_and_unsuppress(engine: Engine, ws: str) -> None:
    b = Browser(engine)
    b.sign_in("owner@acme.test")
    r = b.post(f"/w/{ws}/privacy/access-exports", {"kind": "user", "subject_id": "u-9"})
    assert r.status_code == 200
    (req,) = request_store.list_requests(engine, ws)
    assert b.get(f"/w/{ws}/privacy/requests/{req.id}/download").status_code == 404
    runner.run_all(engine, req.id, "test")
    r = b.get(f"/w/{ws}/privacy/requests/{req.id}")
    assert "Download the CSV" in r.text
    r = b.get(f"/w/{ws}/privacy/requests/{req.id}/download")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith(f'{req.id}.csv"')
    assert r.content.startswith(b"\xef\xbb\xbfrecord,event_id,workspace_id,")  # BOM, header

    # Unsuppress: a reason is required; then the subject is off the list.
    b.post(f"/w/{ws}/privacy/erasures", {"kind": "user", "ids": "u-9"})
    era = request_store.list_requests(engine, ws, kind="erasure")[0]
    runner.run_all(engine, era.id, "test")
    assert suppressions.is_suppressed(engine, ws, "user", "u-9")
    b.get(f"/w/{ws}/privacy")
    r = b.post(f"/w/{ws}/privacy/unsuppress", {"kind": "user", "subject_id": "u-9", "reason": ""})
    assert r.status_code == 422 and "say why" in r.text
    r = b.post(
        f"/w/{ws}/privacy/unsuppress",
        {"kind": "user", "subject_id": "u-9", "reason": "came back with consent"},
    )
    assert r.status_code == 200 and "Taken off the suppression list" in r.text
    assert not suppressions.is_suppressed(engine, ws, "user", "u-9")
    trail = request_store.audit_log(engine, era.id)
    assert trail[-1]["action"] == "unsuppressed"

    officer = Browser(engine)
    officer.sign_in("privacy@acme.test")
    officer.get(f"/w/{ws}/privacy")
    r = officer.post(
        f"/w/{ws}/privacy/unsuppress", {"kind": "user", "subject_id": "u-9", "reason": "x"}
    )
    assert r.status_code == 403 and "does not allow this (privacy:unsuppress)" in r.text


def test_another_workspaces_request_is_not_found(engine: Engine, ws: str) -> None:
    other = create_workspace(engine, "Other").workspace_id
    member(engine, other, "them@other.test", "owner")
    theirs = request_store.create_request(engine, other, "erasure", ["x"], [], "test")
    b = Browser(engine)
    b.sign_in("owner@acme.test")
    for path in (
        f"/w/{ws}/privacy/requests/{theirs.id}",
        f"/w/{ws}/privacy/requests/{theirs.id}/download",
        f"/w/{other}/privacy/requests/{theirs.id}",
        f"/w/{other}/privacy",
    ):
        assert b.get(path).status_code == 404, path
