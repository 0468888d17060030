"""Requests as stored: typed on the way out, persisted with their audit row."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from eventsync.errors import ConfigError, NotFound
from eventsync.privacy import request_store
from eventsync.privacy.progress import RequestProgress
from eventsync.privacy.states import RequestKind, RequestStatus
from eventsync.store.schema import privacy_requests
from eventsync.workspaces import create_workspace


def test_a_request_is_stored_received_and_read_back_typed(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    req = request_store.create_request(engine, ws, "erasure", ["u1", "u1"], ["c1"], "cli:ops")
    assert (req.kind, req.status, req.attempt) == (RequestKind.ERASURE, RequestStatus.RECEIVED, 0)
    assert (req.user_ids, req.company_ids) == (["u1"], ["c1"])
    assert req.progress == RequestProgress()
    with engine.connect() as conn:
        row = conn.execute(select(privacy_requests).where(privacy_requests.c.id == req.id)).one()
    assert (row.kind, row.status) == ("erasure", "received")  # the values the store kept
    (entry,) = request_store.audit_log(engine, req.id)
    assert (entry["action"], entry["actor"]) == ("received", "cli:ops")


def test_to_dict_is_plain_json(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    req = request_store.create_request(engine, ws, "access_export", [], ["c1"], "t")
    data = json.loads(json.dumps(req.to_dict()))
    assert data["kind"] == "access_export" and data["status"] == "received"
    assert data["progress"]["steps"] == {} and data["progress"]["runs"] == []


def test_bad_requests_name_the_problem(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with pytest.raises(ConfigError, match="kind: must be one of erasure, access_export"):
        request_store.create_request(engine, ws, "purge", ["u"], [], "t")
    with pytest.raises(ConfigError, match="exactly one user or one company"):
        request_store.create_request(engine, ws, "access_export", ["a", "b"], [], "t")
    with pytest.raises(NotFound):
        request_store.get_request(engine, "era_nope")
