"""Alerts: one notification per incident, by webhook and/or e-mail.

Incidents, evaluated from the event store by `check` (run every
EVENTSYNC_ALERT_INTERVAL_SECONDS by `eventsync metrics serve`, or by `eventsync alerts
check` from cron):

- `stale`: an enabled, unpaused sync whose newest exported day is older than the day
  due by its deadline (yesterday by 06:00 UTC; eventsync/syncs/health.py);
- `failed_day`: a day whose last export attempt failed or was blocked;
- `privacy_overdue`: a privacy request not completed EVENTSYNC_ALERT_PRIVACY_MINUTES
  after it was received (a failed one included);
- and the Dagster side's, evaluated by pipeline/health.py and passed in: `daemon_down`,
  `code_server_down` (notified once down 30 s: not for a restart), `run_lost`,
  `run_stuck`.

Each incident has a key (`failed_day:<sync>:<day>`...) and a row in `alert_incidents`.
A notification is sent by whoever claims the row (`notified_at` set where it was
NULL), so two evaluators never both send; a send that fails releases the claim for the
next check. An incident whose condition is gone is resolved; if it comes back, that is a
new incident. Messages name syncs, days and request ids, never a subject.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from eventsync.accounts import mail
from eventsync.clock import now_iso, utcnow
from eventsync.settings import load
from eventsync.store.schema import alert_incidents, export_ledger, privacy_requests
from eventsync.syncs.config import list_syncs
from eventsync.syncs.health import sync_status

log = logging.getLogger(__name__)
TIMEOUT = 10.0
STORE_KINDS = ("stale", "failed_day", "privacy_overdue")
DAGSTER_KINDS = ("daemon_down", "code_server_down", "run_lost", "run_stuck")


@dataclass(frozen=True)
class Incident:
    key: str
    kind: str  # one of STORE_KINDS or DAGSTER_KINDS
    summary: str
    # Notified only once open this long (a code server restarted by a deploy is down for
    # seconds: not an incident worth a page).
    notify_after_seconds: float = 0.0
    # When it opened (set when it is notified): with the key, what names one incident.
    opened_at: str | None = None


def current_incidents(engine: Engine, now: datetime | None = None) -> list[Incident]:
    """What is wrong now, from the store."""
    now = now or utcnow()
    found: list[Incident] = []
    for sync in list_syncs(engine):
        if not sync.enabled or sync.paused_reason is not None:
            continue
        status = sync_status(engine, sync, now)
        if status.state == "stale":
            found.append(
                Incident(
                    f"stale:{sync.id}",
                    "stale",
                    f"sync {sync.id} is stale: newest exported day {status.last_exported_day}, "
                    f"{status.expected_day} was due by 06:00 UTC",
                )
            )
    cols = export_ledger.c
    overdue_before = (now - timedelta(minutes=load().alert_privacy_minutes)).isoformat()
    with engine.connect() as conn:
        failed = conn.execute(
            select(cols.sync_id, cols.day, cols.status, cols.error).where(
                cols.status.in_(("failed", "blocked"))
            )
        ).all()
        requests = conn.execute(
            select(
                privacy_requests.c.id,
                privacy_requests.c.kind,
                privacy_requests.c.status,
                privacy_requests.c.created_at,
            ).where(
                privacy_requests.c.status.in_(("received", "queued", "running", "failed")),
                privacy_requests.c.created_at < overdue_before,
            )
        ).all()
    for sync_id, day, status, error in failed:
        reason = " ".join((error or "").split())[:300]
        found.append(
            Incident(
                f"failed_day:{sync_id}:{day}",
                "failed_day",
                f"sync {sync_id}: day {day} {status}: {reason}",
            )
        )
    for request_id, kind, status, created in requests:
        found.append(
            Incident(
                f"privacy_overdue:{request_id}",
                "privacy_overdue",
                f"{kind} request {request_id} is {status}, received {created}: not completed "
                f"within {load().alert_privacy_minutes:g} minutes",
            )
        )
    return found


# --- notifiers --------------------------------------------------------------------------
Notifier = Callable[[Incident], None]


def webhook(url: str) -> Notifier:
    def send(incident: Incident) -> None:
        fields = {
            "key": incident.key,
            "kind": incident.kind,
            "summary": incident.summary,
            "opened_at": incident.opened_at,
        }
        body = json.dumps({"source": "eventsync", **fields}).encode()
        req = urllib.request.Request(  # noqa: S310 (the operator's configured URL)
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=TIMEOUT) as answer:  # noqa: S310
            if answer.status >= 300:
                raise OSError(f"the webhook answered {answer.status}")

    return send


def email(addresses: list[str]) -> Notifier:
    def send(incident: Incident) -> None:
        for to in addresses:
            mail.send(to, f"[eventsync] {incident.kind}: {incident.key}", incident.summary)

    return send


def configured_notifiers() -> list[Notifier]:
    config = load()
    notifiers: list[Notifier] = []
    if config.alert_webhook_url:
        notifiers.append(webhook(config.alert_webhook_url))
    if config.alert_email_to:
        notifiers.append(email([a.strip() for a in config.alert_email_to.split(",") if a.strip()]))
    return notifiers


# --- the incidents table ----------------------------------------------------------------
@dataclass
class CheckResult:
    open: list[str]
    notified: list[str]
    resolved: list[str]
    failed: list[str]


def check(
    engine: Engine,
    notifiers: list[Notifier] | None = None,
    now: datetime | None = None,
    dagster: Iterable[Incident] | None = None,
) -> CheckResult:
    """Evaluate the incidents (the store's, and the Dagster side's from
    pipeline/health.py when given), notify the new ones once, resolve the gone ones.
    Without `dagster` (not evaluated, or its evaluation failed) the open incidents of
    those kinds stay as they are: only what was evaluated can be resolved."""
    notifiers = configured_notifiers() if notifiers is None else notifiers
    evaluated = STORE_KINDS + (DAGSTER_KINDS if dagster is not None else ())
    incidents = {i.key: i for i in [*current_incidents(engine, now), *(dagster or ())]}
    stamp = now_iso()
    t = alert_incidents.c
    resolved: list[str] = []
    with engine.begin() as conn:
        rows = {r.key: r for r in conn.execute(select(alert_incidents)).all()}
        for key, row in rows.items():
            if row.resolved_at is None and key not in incidents and row.kind in evaluated:
                conn.execute(update(alert_incidents).where(t.key == key).values(resolved_at=stamp))
                resolved.append(key)
        for key, incident in incidents.items():
            row = rows.get(key)
            if row is None:
                conn.execute(
                    insert(alert_incidents).values(
                        key=key, kind=incident.kind, summary=incident.summary, opened_at=stamp
                    )
                )
            elif row.resolved_at is not None:  # it came back: a new incident
                conn.execute(
                    update(alert_incidents)
                    .where(t.key == key)
                    .values(
                        summary=incident.summary,
                        opened_at=stamp,
                        notified_at=None,
                        resolved_at=None,
                    )
                )
    notified: list[str] = []
    failed: list[str] = []
    if notifiers:
        for key, incident in sorted(incidents.items()):
            opened_by = utcnow() - timedelta(seconds=incident.notify_after_seconds)
            opened_at = _claim(engine, key, opened_by.isoformat(timespec="microseconds"))
            if opened_at is None:
                continue
            incident = replace(incident, opened_at=opened_at)
            try:
                for notify in notifiers:
                    notify(incident)
            except Exception as exc:
                log.warning("alert %s not delivered (%s); retried next check", key, exc)
                _release(engine, key)
                failed.append(key)
                continue
            notified.append(key)
    return CheckResult(sorted(incidents), notified, resolved, failed)


def _claim(engine: Engine, key: str, opened_by: str) -> str | None:
    """When the incident opened, if this evaluator sends it: it is open since `opened_by`
    at least, and nobody has sent it; else None."""
    t = alert_incidents.c
    with engine.begin() as conn:
        claimed = conn.execute(
            update(alert_incidents)
            .where(
                t.key == key,
                t.notified_at.is_(None),
                t.resolved_at.is_(None),
                t.opened_at <= opened_by,
            )
            .values(notified_at=now_iso())
        ).rowcount
        if claimed != 1:
            return None
        return conn.execute(select(t.opened_at).where(t.key == key)).scalar_one()


def _release(engine: Engine, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(alert_incidents).where(alert_incidents.c.key == key).values(notified_at=None)
        )
