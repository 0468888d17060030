"""Sign-in throttling, shared by every API process through the store: failed sign-ins
are counted per account (a hash of its e-mail) and per client address over a sliding
window (EVENTSYNC_LOGIN_FAILURE_WINDOW_MINUTES); past EVENTSYNC_LOGIN_FAILURES_PER_ACCOUNT
or _PER_ADDRESS the next attempt is refused without checking the password, until the
oldest failure leaves the window. A success clears the account's count (not the
address's: one right password does not buy another 20 guesses elsewhere)."""

from __future__ import annotations

import math

from sqlalchemy import Engine, delete, func, insert, select

from eventsync import settings
from eventsync.accounts.secrets_hash import digest
from eventsync.clock import to_us, utcnow
from eventsync.store.account_tables import console_login_failures

_t = console_login_failures.c


def _keys(email: str, address: str) -> list[tuple[str, int]]:
    return [
        (digest("account:" + email.strip().lower()), settings.load().login_failures_per_account),
        (digest("address:" + address), settings.load().login_failures_per_address),
    ]


def _window_us() -> int:
    return int(settings.load().login_failure_window_minutes * 60_000_000)


def wait_seconds(engine: Engine, email: str, address: str) -> int:
    """0 when a sign-in may be tried, else the seconds until it may."""
    now = to_us(utcnow())
    since = now - _window_us()
    wait = 0
    with engine.connect() as conn:
        for key, limit in _keys(email, address):
            times = (
                conn.execute(
                    select(_t.at_us)
                    .where(_t.key_hash == key, _t.at_us > since)
                    .order_by(_t.at_us.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if len(times) >= limit:
                # the oldest of the last `limit` failures leaves the window then
                wait = max(wait, math.ceil((times[-1] - since) / 1_000_000))
    return wait


def record_failure(engine: Engine, email: str, address: str) -> None:
    now = to_us(utcnow())
    with engine.begin() as conn:
        conn.execute(
            insert(console_login_failures),
            [{"key_hash": k, "at_us": now} for k, _ in _keys(email, address)],
        )
        conn.execute(delete(console_login_failures).where(_t.at_us <= now - _window_us()))


def clear_account(engine: Engine, email: str) -> None:
    key = _keys(email, "")[0][0]
    with engine.begin() as conn:
        conn.execute(delete(console_login_failures).where(_t.key_hash == key))


def failures(engine: Engine, email: str, address: str) -> tuple[int, int]:
    """(failures of the account, of the address) in the window (for tests and the page)."""
    since = to_us(utcnow()) - _window_us()
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(
                conn.execute(
                    select(func.count()).where(_t.key_hash == key, _t.at_us > since)
                ).scalar_one()
            )
            for key, _ in _keys(email, address)
        )
