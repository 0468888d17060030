"""Alerts: a stale sync, a failed day and an overdue privacy request each reach a real
local webhook receiver and a real SMTP server (aiosmtpd) once per incident; a resolved
incident that comes back is notified again; an undelivered one is retried."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, insert, update

from eventsync.clock import now_iso, utcnow
from eventsync.ops import alerts
from eventsync.privacy import request_store
from eventsync.store.schema import alert_incidents, export_ledger
from tests.eventsync.privacy.scenario import TARGET, seed
from tests.fixtures.ports import free_port
from tests.fixtures.serving import serve_thread


@dataclass
class Receiver:
    """A local HTTP server keeping the JSON bodies POSTed to it; `status` is its answer."""

    posts: list[dict] = field(default_factory=list)
    status: int = 200
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if box.status < 300:
                box.posts.append(json.loads(body))
            self.send_response(box.status)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    serve_thread(server).start()
    try:
        yield box
    finally:
        server.shutdown()


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, _server, _session, envelope) -> str:  # aiosmtpd handler
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    monkeypatch.setenv("EVENTSYNC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("EVENTSYNC_SMTP_PORT", str(box.port))
    try:
        yield box
    finally:
        controller.stop()


def _fail_day(engine: Engine, sync_id: str, workspace_id: str, day: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(export_ledger).values(
                sync_id=sync_id, day=day, workspace_id=workspace_id, export_id="x",
                status="failed", files="[]", error="access_denied: DestinationError: denied",
                exported_at=now_iso(),
            )
        )  # fmt: skip


def test_each_incident_is_notified_once_by_webhook_and_e_mail(
    engine: Engine,
    tmp_path: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTSYNC_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("EVENTSYNC_ALERT_EMAIL_TO", "ops@example.com, oncall@example.com")
    monkeypatch.setenv("EVENTSYNC_ALERT_PRIVACY_MINUTES", "30")
    sync = seed(engine, tmp_path / "dest")  # exported 2025-03-01..02: stale today
    _fail_day(engine, sync.id, sync.workspace_id, "2025-03-03")
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "t")
    later = utcnow() + timedelta(minutes=31)

    first = alerts.check(engine, now=later)
    keys = {f"stale:{sync.id}", f"failed_day:{sync.id}:2025-03-03", f"privacy_overdue:{req.id}"}
    assert set(first.notified) == keys == set(first.open)
    assert {p["key"] for p in receiver.posts} == keys and len(receiver.posts) == 3
    assert len(mailbox.messages) == 6  # two addresses
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert f"[eventsync] failed_day: failed_day:{sync.id}:2025-03-03" in subjects
    for text in [json.dumps(receiver.posts), *[m.get_payload() for m in mailbox.messages]]:
        assert TARGET not in text  # ids of subjects never leave in an alert

    # Still wrong, checked again (another evaluator too): nothing sent twice.
    assert alerts.check(engine, now=later).notified == []
    assert len(receiver.posts) == 3 and len(mailbox.messages) == 6

    # The failed day is exported: resolved. It fails again: a new incident, notified.
    with engine.begin() as conn:
        conn.execute(
            update(export_ledger)
            .where(export_ledger.c.sync_id == sync.id, export_ledger.c.day == "2025-03-03")
            .values(status="exported")
        )
    assert alerts.check(engine, now=later).resolved == [f"failed_day:{sync.id}:2025-03-03"]
    with engine.begin() as conn:
        conn.execute(
            update(export_ledger)
            .where(export_ledger.c.sync_id == sync.id, export_ledger.c.day == "2025-03-03")
            .values(status="failed")
        )
    assert alerts.check(engine, now=later).notified == [f"failed_day:{sync.id}:2025-03-03"]
    assert len(receiver.posts) == 4


def test_an_undelivered_alert_is_retried_then_sent_once(
    engine: Engine, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_ALERT_WEBHOOK_URL", receiver.url)
    sync = seed(engine, tmp_path / "dest")
    receiver.status = 500
    result = alerts.check(engine)
    assert result.failed == [f"stale:{sync.id}"] and result.notified == []
    receiver.status = 200
    assert alerts.check(engine).notified == [f"stale:{sync.id}"]
    assert alerts.check(engine).notified == []
    assert [p["kind"] for p in receiver.posts] == ["stale"]


def test_an_incident_with_a_grace_is_notified_only_once_open_that_long(
    engine: Engine, receiver: Receiver
) -> None:
    """A code server restarted by a deploy is down for seconds: no page. Down past the
    grace, one notification; back up, resolved."""
    notify = [alerts.webhook(receiver.url)]
    down = alerts.Incident("code_server_down:eventsync", "code_server_down", "down", 30.0)
    assert alerts.check(engine, notify, dagster=[down]).notified == []
    # Back within the grace: resolved, never sent.
    assert alerts.check(engine, notify, dagster=[]).resolved == ["code_server_down:eventsync"]
    assert alerts.check(engine, notify, dagster=[down]).notified == []
    with engine.begin() as conn:  # the outage has lasted 31 s
        conn.execute(
            update(alert_incidents).values(
                opened_at=(utcnow() - timedelta(seconds=31)).isoformat(timespec="microseconds")
            )
        )
    assert alerts.check(engine, notify, dagster=[down]).notified == ["code_server_down:eventsync"]
    assert alerts.check(engine, notify, dagster=[down]).notified == []
    assert [p["key"] for p in receiver.posts] == ["code_server_down:eventsync"]
    assert set(receiver.posts[0]) == {"source", "key", "kind", "summary", "opened_at"}
    assert receiver.posts[0]["opened_at"] <= now_iso()


def test_what_was_not_evaluated_is_not_resolved(engine: Engine, receiver: Receiver) -> None:
    """`eventsync alerts check` from cron and `metrics serve` may both evaluate; a round
    whose Dagster side was not evaluated (or failed) leaves those incidents open, so an
    outage is never resolved and re-sent by a round that did not look at it."""
    notify = [alerts.webhook(receiver.url)]
    lost = alerts.Incident("run_lost:r1", "run_lost", "export run r1 lost")
    assert alerts.check(engine, notify, dagster=[lost]).notified == ["run_lost:r1"]
    assert alerts.check(engine, notify, dagster=None).resolved == []
    assert alerts.check(engine, notify, dagster=[lost]).notified == []
    assert alerts.check(engine, notify, dagster=[]).resolved == ["run_lost:r1"]
    assert [p["key"] for p in receiver.posts] == ["run_lost:r1"]
