"""Deterministic synthetic data for the demo: a workspace, a local sync, and `days` UTC
days of Userpilot-like events written straight into the store.

The rows bypass strict ingestion on purpose, like the platform's other writers do, so
the demo carries what real stores carry: a few invalid rows per day (the export must
quarantine them) and late events (received days after their day closed, which the
weekly re-sync picks up).

Determinism: every day has its own random stream seeded by (seed, day), so the same
seed gives the same rows for a day whatever `days` or `today` is; event ids come from
that stream, and re-seeding skips ids already stored (nothing is duplicated) and rows of
subjects erased since (nothing erased comes back).
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from eventsync.clock import US_PER_DAY, day_bounds_us, utc_today
from eventsync.errors import ConfigError, NotFound
from eventsync.ingest import insert_event_rows, upsert_profiles
from eventsync.privacy.suppressions import admission, split_erased
from eventsync.settings import dagster_home
from eventsync.store.schema import events

DEMO_WORKSPACE_ID = "ws_demo"
DEMO_WORKSPACE_NAME = "Demo workspace"
DEMO_SYNC_ID = "sync_demo_local"
MAX_DEMO_DAYS = 365
MAX_EVENTS_PER_DAY = 1_000_000

US_PER_S = 1_000_000
LATE_SHARE = 0.015  # events received 1..9 days after their day closed
INVALID_PER_DAY = 5
INVALID_KINDS = (
    "nps_out_of_range",
    "nps_missing",
    "bad_json",
    "unknown_event_type",
    "empty_user_id",
)

# event type -> weight (after the session_start that opens every session)
TYPE_WEIGHTS = {
    "page_view": 50,
    "track": 15,
    "labeled": 12,
    "flow_interaction": 7,
    "checklist_interaction": 5,
    "identify_user": 3,
    "identify_company": 1.5,
    "nps_response": 1.5,
    "survey_submission": 1,
}
PAGES = [  # (pathname, title, weight)
    ("/dashboard", "Dashboard", 30),
    ("/reports", "Reports", 14),
    ("/reports/new", "New report", 6),
    ("/settings", "Settings", 5),
    ("/settings/billing", "Billing", 3),
    ("/settings/team", "Team", 3),
    ("/integrations", "Integrations", 4),
    ("/projects", "Projects", 12),
    ("/projects/board", "Board", 9),
    ("/inbox", "Inbox", 8),
    ("/onboarding", "Welcome", 3),
    ("/pricing", "Pricing", 2),
    ("/help", "Help center", 2),
]
TRACK_NAMES = [
    ("Report Created", 10),
    ("Report Shared", 4),
    ("Project Created", 6),
    ("Invite Sent", 4),
    ("Integration Connected", 2),
    ("File Exported", 5),
    ("Subscription Upgraded", 0.6),
    ("Subscription Cancelled", 0.2),
    ("Search Performed", 9),
]
LABELED_NAMES = [
    ("Clicked Upgrade CTA", 3),
    ("Opened Settings Menu", 6),
    ("Clicked New Report", 8),
    ("Viewed Pricing Table", 2),
    ("Clicked Help Widget", 3),
    ("Toggled Dark Mode", 1),
]
FLOWS = {
    12: "Welcome tour",
    15: "New report walkthrough",
    31: "Integrations tip",
    44: "Upgrade announcement",
}
FLOW_STATES = [("STARTED", 10), ("STEP_SEEN", 18), ("COMPLETED", 6), ("DISMISSED", 3)]
CHECKLISTS = {2: "Getting started", 5: "Team setup"}
CHECKLIST_STATES = [("SEEN", 10), ("TASK_COMPLETED", 8), ("COMPLETED", 2), ("DISMISSED", 1)]
SURVEYS = {
    7: ("How easy was it to create a report?", ["Very easy", "Easy", "Hard"]),
    9: ("What should we build next?", ["Dashboards", "Alerts", "Exports", "API"]),
}
NPS_WEIGHTS = [1, 1, 1, 2, 2, 4, 6, 10, 16, 18, 14]  # scores 0..10
COUNTRIES = [
    ("US", 30),
    ("GB", 9),
    ("DE", 9),
    ("FR", 6),
    ("IN", 8),
    ("BR", 5),
    ("CA", 5),
    ("NL", 3),
    ("ES", 3),
    ("JP", 3),
    ("AU", 3),
    ("SE", 2),
    ("PL", 2),
]
PLATFORMS = [  # (browser, os, device_type, weight)
    ("Chrome", "Windows", "desktop", 34),
    ("Chrome", "Mac OS", "desktop", 18),
    ("Safari", "Mac OS", "desktop", 10),
    ("Edge", "Windows", "desktop", 8),
    ("Firefox", "Windows", "desktop", 5),
    ("Firefox", "Linux", "desktop", 2),
    ("Mobile Safari", "iOS", "mobile", 10),
    ("Chrome Mobile", "Android", "mobile", 8),
    ("Mobile Safari", "iOS", "tablet", 3),
]
USER_AGENTS = {
    "Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    "Mac OS": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
    "Linux": "Mozilla/5.0 (X11; Linux x86_64)",
    "iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)",
    "Android": "Mozilla/5.0 (Linux; Android 14; Pixel 8)",
}
HOSTS = [("app.acmeanalytics.io", 90), ("docs.acmeanalytics.io", 10)]
PLANS = ["free", "starter", "growth", "enterprise"]
ROLES = ["admin", "member", "viewer", "owner"]
COMPANY_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark"]
COMPANY_SUFFIXES = ["Labs", "Inc", "GmbH", "Ltd", "Systems", "Group"]
INDUSTRIES = ["SaaS", "Fintech", "E-commerce", "Healthcare", "Education", "Media"]
REFERRERS = [
    None,
    "https://www.google.com/",
    "https://www.linkedin.com/",
    "https://news.ycombinator.com/",
]
# Hours of the day (UTC) weighted like a workday spread over the Americas and Europe.
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 13, 14, 14, 12, 9, 7, 5, 4, 3, 2]


def _weighted(pairs: list[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    values = [p[0] for p in pairs]
    cum = list(itertools.accumulate(p[-1] for p in pairs))
    return values, cum


@dataclass(frozen=True)
class _User:
    user_id: str
    company_id: str | None
    country: str
    browser: str
    os: str
    device_type: str
    plan: str
    role: str


@dataclass(frozen=True)
class _Universe:
    users: list[_User]
    user_cum: list[float]  # Zipf-like cumulative weights: a few users do most things
    companies: dict[str, dict[str, Any]]


def _universe(seed: int, events_per_day: int) -> _Universe:
    rng = random.Random(f"{seed}:universe")  # noqa: S311 - synthetic data, not secrets
    n_users = max(20, events_per_day // 4)
    n_companies = max(3, n_users // 12)
    company_ids = [f"company_{i:04d}" for i in range(1, n_companies + 1)]
    companies = {
        cid: {
            "name": f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)} {i}",
            "industry": rng.choice(INDUSTRIES),
            "plan": rng.choice(PLANS),
            "seats": rng.choice([5, 10, 25, 50, 100, 250]),
        }
        for i, cid in enumerate(company_ids, start=1)
    }
    # Companies get users Zipf-like too; ~12% of users have no company (trials, personal).
    company_cum = list(itertools.accumulate(1 / (r**0.9) for r in range(1, n_companies + 1)))
    countries, country_cum = _weighted(COUNTRIES)
    platforms, platform_cum = _weighted([(p[:3], p[3]) for p in PLATFORMS])
    users = []
    for i in range(1, n_users + 1):
        company = (
            None if rng.random() < 0.12 else rng.choices(company_ids, cum_weights=company_cum)[0]
        )
        browser, os_name, device = rng.choices(platforms, cum_weights=platform_cum)[0]
        users.append(
            _User(
                f"user_{i:05d}",
                company,
                rng.choices(countries, cum_weights=country_cum)[0],
                browser,
                os_name,
                device,
                rng.choice(PLANS),
                rng.choice(ROLES),
            )
        )
    rng.shuffle(users)  # rank in the Zipf tail is independent of the id
    # Zipf-Mandelbrot weights 1/(rank+5): heavy users, then a long tail of occasional ones.
    user_cum = list(itertools.accumulate(1 / (r + 5) for r in range(1, n_users + 1)))
    return _Universe(users, user_cum, companies)


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


class _DayGenerator:
    """All rows of one UTC day, from one random stream."""

    def __init__(self, universe: _Universe, seed: int, day: date, today: date) -> None:
        self.u = universe
        self.rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311
        self.day_start, self.day_end = day_bounds_us(day)
        # A late event is received 1..9 days after its day closed, but not after today.
        self.max_late_days = min(9, (today - day).days - 1)
        self.types, self.type_cum = _weighted(list(TYPE_WEIGHTS.items()))
        self.pages, self.page_cum = _weighted([((p, t), w) for p, t, w in PAGES])
        self.tracks, self.track_cum = _weighted(TRACK_NAMES)
        self.labeled, self.labeled_cum = _weighted(LABELED_NAMES)
        self.flow_states, self.flow_cum = _weighted(FLOW_STATES)
        self.check_states, self.check_cum = _weighted(CHECKLIST_STATES)
        self.hosts, self.host_cum = _weighted(HOSTS)
        self.late = 0

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _content(self, etype: str, user: _User) -> tuple[str, dict[str, Any], int | None]:
        """(event_name, properties, nps_score) for one event."""
        rng = self.rng
        if etype == "page_view":
            path, title = rng.choices(self.pages, cum_weights=self.page_cum)[0]
            return path, {"title": title, "referrer": rng.choice(REFERRERS)}, None
        if etype == "track":
            name = rng.choices(self.tracks, cum_weights=self.track_cum)[0]
            props: dict[str, Any] = {"plan": user.plan}
            if name == "Search Performed":
                props["results"] = rng.randint(0, 40)
            elif name == "File Exported":
                props["format"] = rng.choice(["csv", "pdf", "xlsx"])
            return name, props, None
        if etype == "labeled":
            name = rng.choices(self.labeled, cum_weights=self.labeled_cum)[0]
            label_id = 100 + [n for n, _ in LABELED_NAMES].index(name)
            return name, {"label_id": label_id, "element": "button"}, None
        if etype == "flow_interaction":
            return _guide(
                rng, "flow", FLOWS, self.flow_states, self.flow_cum, "STEP_SEEN", "step", 5
            )
        if etype == "checklist_interaction":
            return _guide(
                rng,
                "checklist",
                CHECKLISTS,
                self.check_states,
                self.check_cum,
                "TASK_COMPLETED",
                "task",
                6,
            )
        if etype == "nps_response":
            score = rng.choices(range(11), weights=NPS_WEIGHTS)[0]
            props = {"survey_id": 3}
            if rng.random() < 0.3:
                props["feedback"] = rng.choice(
                    [
                        "Love the reports",
                        "Too slow on big projects",
                        "Pricing is unclear",
                        "Great support",
                        "Needs more integrations",
                    ]
                )
            return "nps:3:SUBMITTED", props, score
        if etype == "survey_submission":
            sid = rng.choice(list(SURVEYS))
            question, answers = SURVEYS[sid]
            return (
                f"survey:{sid}:SUBMITTED",
                {"survey_id": sid, "question": question, "answer": rng.choice(answers)},
                None,
            )
        if etype == "identify_user":
            plan = user.plan if rng.random() < 0.9 else rng.choice(PLANS)
            return (
                "identify_user",
                {
                    "email": f"{user.user_id}@example.com",
                    "plan": plan,
                    "role": user.role,
                    "locale": {
                        "DE": "de-DE",
                        "FR": "fr-FR",
                        "ES": "es-ES",
                        "JP": "ja-JP",
                        "BR": "pt-BR",
                    }.get(user.country, "en-US"),
                },
                None,
            )
        if etype == "identify_company":
            return "identify_company", dict(self.u.companies[user.company_id or ""]), None
        return (
            "session_start",
            {
                "referrer": rng.choice(REFERRERS),
                "utm_source": rng.choice([None, "google", "newsletter"]),
            },
            None,
        )

    def rows(self, count: int, workspace_id: str) -> list[dict[str, Any]]:
        rng = self.rng
        out: list[dict[str, Any]] = []
        while len(out) < count:
            user = rng.choices(self.u.users, cum_weights=self.u.user_cum)[0]
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
            t = self.day_start + hour * 3600 * US_PER_S + rng.randrange(3600 * US_PER_S)
            session_id = f"sess_{rng.getrandbits(64):016x}"
            host = rng.choices(self.hosts, cum_weights=self.host_cum)[0]
            length = 1 + int(rng.expovariate(1 / 9))
            path = rng.choices(self.pages, cum_weights=self.page_cum)[0][0]
            for k in range(length):
                if t >= self.day_end or len(out) >= count:
                    break
                if k == 0:
                    etype = "session_start"
                else:
                    etype = rng.choices(self.types, cum_weights=self.type_cum)[0]
                    if etype == "identify_company" and user.company_id is None:
                        etype = "identify_user"
                name, props, nps = self._content(etype, user)
                if etype == "page_view":
                    path = name
                # Some track and identify calls come from the customer's backend.
                backend = etype in ("track", "identify_user", "identify_company") and (
                    rng.random() < 0.25
                )
                received = t + rng.randrange(50_000, 5 * US_PER_S)
                if self.max_late_days >= 1 and rng.random() < LATE_SHARE:
                    late_days = rng.randint(1, self.max_late_days)
                    received = (
                        self.day_end + (late_days - 1) * US_PER_DAY + rng.randrange(US_PER_DAY)
                    )
                    self.late += 1
                out.append(
                    {
                        "workspace_id": workspace_id,
                        "event_id": self._event_id(),
                        "event_type": etype,
                        "event_name": name,
                        "user_id": user.user_id,
                        "company_id": user.company_id,
                        "occurred_at": t,
                        "received_at": received,
                        "source": "backend-http" if backend else "web-client",
                        "session_id": None if backend else session_id,
                        "hostname": None if backend else host,
                        "pathname": None if backend else path,
                        "user_agent": None if backend else f"{USER_AGENTS[user.os]} {user.browser}",
                        "browser": None if backend else user.browser,
                        "os": None if backend else user.os,
                        "device_type": None if backend else user.device_type,
                        "country_code": user.country,
                        "properties": _dumps({k: v for k, v in props.items() if v is not None}),
                        "nps_score": nps,
                        "schema_version": 1,
                    }
                )
                t += rng.randint(2, 120) * US_PER_S + rng.randrange(US_PER_S)
        return out

    def spoil(self, rows: list[dict[str, Any]], day_index: int) -> int:
        """Turn a few rows into invalid ones, one kind each, as the export must see them."""
        n = min(INVALID_PER_DAY, len(rows) // 20)
        for k, pos in enumerate(sorted(self.rng.sample(range(len(rows)), n))):
            row = rows[pos]
            kind = INVALID_KINDS[(k + day_index) % len(INVALID_KINDS)]
            if kind == "nps_out_of_range":
                row.update(
                    event_type="nps_response",
                    event_name="nps:3:SUBMITTED",
                    nps_score=self.rng.choice([11, 12, -1]),
                )
            elif kind == "nps_missing":
                row.update(event_type="nps_response", event_name="nps:3:SUBMITTED", nps_score=None)
            elif kind == "bad_json":
                row["properties"] = row["properties"][:-1] + ',"truncated'
            elif kind == "unknown_event_type":
                row["event_type"] = self.rng.choice(["pageview", "click", "Track"])
            else:
                row["user_id"] = ""
        return n


def _ensure_workspace_and_sync(
    engine: Engine, days: int, destination: str | Path | None
) -> dict[str, Any]:
    from eventsync.syncs.config import create_sync, get_sync
    from eventsync.workspaces import create_workspace, get_workspace

    ids: dict[str, Any] = {"workspace_id": DEMO_WORKSPACE_ID, "sync_id": DEMO_SYNC_ID}
    try:
        get_workspace(engine, DEMO_WORKSPACE_ID)
        ids["workspace_created"] = False
    except NotFound:
        ws = create_workspace(engine, DEMO_WORKSPACE_NAME, workspace_id=DEMO_WORKSPACE_ID)
        ids["api_key"] = ws.api_key
        ids["workspace_created"] = True
    try:
        sync = get_sync(engine, DEMO_SYNC_ID)
        ids["sync_created"] = False
    except NotFound:
        sync = create_sync(
            engine,
            DEMO_WORKSPACE_ID,
            destination=str(destination or dagster_home() / "exports"),
            formats=["parquet", "jsonl"],
            backfill_days=days,
            title="Demo: local folder",
            sync_id=DEMO_SYNC_ID,
        )
        ids["sync_created"] = True
    ids["destination"] = sync.destination
    return ids


def seed_demo(
    engine: Engine,
    days: int = 14,
    events_per_day: int = 2000,
    seed: int = 7,
    today: date | None = None,
    destination: str | Path | None = None,
) -> dict[str, Any]:
    """Create (or reuse) the demo workspace and sync and write `events_per_day` events for
    each of the `days` UTC days before `today`. Returns counts and ids; `api_key` only when
    the workspace was created by this call (keys are stored hashed)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DEMO_DAYS:
        raise ConfigError("days", f"must be an integer from 1 to {MAX_DEMO_DAYS}, got {days!r}")
    if (
        isinstance(events_per_day, bool)
        or not isinstance(events_per_day, int)
        or not 1 <= events_per_day <= MAX_EVENTS_PER_DAY
    ):
        raise ConfigError(
            "events_per_day",
            f"must be an integer from 1 to {MAX_EVENTS_PER_DAY}, got {events_per_day!r}",
        )
    started = time.perf_counter()
    today = today or utc_today()
    result = _ensure_workspace_and_sync(engine, days, destination)
    universe = _universe(seed, events_per_day)
    day_list = [today - timedelta(days=i) for i in range(days, 0, -1)]
    rows: list[dict[str, Any]] = []
    invalid = late = 0
    for day in day_list:
        gen = _DayGenerator(universe, seed, day, today)
        day_rows = gen.rows(events_per_day, DEMO_WORKSPACE_ID)
        invalid += gen.spoil(day_rows, (day - date(1970, 1, 1)).days)
        late += gen.late
        rows.extend(day_rows)
    rows.sort(key=lambda r: (r["occurred_at"], r["event_id"]))

    start_us, _ = day_bounds_us(day_list[0])
    _, end_us = day_bounds_us(day_list[-1])
    # Through the admission gate, like ingestion: subjects erased since an earlier seed
    # stay erased (their rows are not written again).
    with admission(engine, DEMO_WORKSPACE_ID) as conn:
        existing = set(
            conn.execute(
                select(events.c.event_id).where(
                    events.c.workspace_id == DEMO_WORKSPACE_ID,
                    events.c.occurred_at >= start_us,
                    events.c.occurred_at < end_us,
                )
            ).scalars()
        )
        new_rows, erased = split_erased(
            conn, DEMO_WORKSPACE_ID, [r for r in rows if r["event_id"] not in existing]
        )
        inserted = insert_event_rows(conn, new_rows)
        profiles = upsert_profiles(
            conn,
            DEMO_WORKSPACE_ID,
            (
                r
                for r in new_rows
                if r["event_type"] in ("identify_user", "identify_company") and r["user_id"]
            ),
        ).written
    result.update(
        days=len(day_list),
        first_day=day_list[0].isoformat(),
        last_day=day_list[-1].isoformat(),
        events=len(rows),
        inserted=inserted,
        skipped_existing=len(rows) - inserted - len(erased),
        skipped_erased=len(erased),
        invalid=invalid,
        late=late,
        profiles=profiles,
        seconds=round(time.perf_counter() - started, 3),
    )
    return result


def _guide(
    rng: random.Random,
    kind: str,
    guides: dict,
    states: list[str],
    cum: list[float],
    progress_state: str,
    progress_key: str,
    most: int,
) -> tuple[str, dict, None]:
    """An interaction with a flow or checklist: `<kind>:<id>:<state>`, with how far the
    user got (1..most) when the state is `progress_state`."""
    gid = rng.choice(list(guides))
    state = rng.choices(states, cum_weights=cum)[0]
    props = {f"{kind}_id": gid, f"{kind}_title": guides[gid]}
    if state == progress_state:
        props[progress_key] = rng.randint(1, most)
    return f"{kind}:{gid}:{state}", props, None
