"""TOTP (RFC 6238, pyotp) and recovery codes.

Enrollment keeps a pending secret until a first code proves the authenticator app has
it; then ten recovery codes are shown once and stored hashed, each good for one
sign-in. A TOTP code is accepted once: the time step of the last accepted code is kept
and a code of that step or an earlier one is refused (no replay within its 30 s).
The QR code is an SVG drawn here (segno), so the secret never leaves the server for a
QR service.
"""

from __future__ import annotations

import secrets

import pyotp
import segno
from sqlalchemy import Engine, delete, func, insert, or_, select, update

from eventsync.accounts.members import get_account
from eventsync.accounts.secrets_hash import digest
from eventsync.clock import now_iso, utcnow
from eventsync.store.account_tables import console_accounts, console_recovery_codes
from eventsync.store.totp_sealing import seal

ISSUER = "eventsync"
RECOVERY_CODES = 10
VALID_WINDOW = 1  # a code of the previous or next 30 s step passes (clock drift)
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def pending_secret(engine: Engine, account_id: str) -> str:
    """The secret to enroll: the pending one, or a new one (kept until confirmed)."""
    account = get_account(engine, account_id)
    if account.totp_secret and not account.mfa_enabled:
        return account.totp_secret
    if account.mfa_enabled:
        raise ValueError("two-factor authentication is already on")
    secret = pyotp.random_base32()
    with engine.begin() as conn:
        conn.execute(
            update(console_accounts)
            .where(console_accounts.c.id == account_id)
            .values(totp_secret=seal(secret), totp_enabled_at=None, totp_last_step=None)
        )
    return secret


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """An inline <svg> of the QR code (no XML declaration, scales with CSS)."""
    return segno.make(uri, error="m").svg_inline(
        scale=5, border=2, dark="#111", light="#fff", omitsize=True
    )


def _matching_step(secret: str, code: str) -> int | None:
    """The time step `code` belongs to (within the window), else None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    step = totp.timecode(now)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step + offset), code):
            return step + offset
    return None


def confirm_enrollment(engine: Engine, account_id: str, code: str) -> list[str] | None:
    """Turn TOTP on when `code` matches the pending secret; returns the recovery codes
    (shown once), or None for a wrong code."""
    account = get_account(engine, account_id)
    if not account.totp_secret or account.mfa_enabled:
        return None
    step = _matching_step(account.totp_secret, code)
    if step is None:
        return None
    with engine.begin() as conn:
        done = conn.execute(
            update(console_accounts)
            .where(
                console_accounts.c.id == account_id, console_accounts.c.totp_enabled_at.is_(None)
            )
            .values(totp_enabled_at=now_iso(), totp_last_step=step)
        ).rowcount
    if done != 1:
        return None
    return new_recovery_codes(engine, account_id)


def verify_code(engine: Engine, account_id: str, code: str) -> bool:
    """Whether `code` is a fresh TOTP code of the account (then it is used up)."""
    account = get_account(engine, account_id)
    if not account.mfa_enabled or not account.totp_secret:
        return False
    step = _matching_step(account.totp_secret, code)
    if step is None:
        return False
    a = console_accounts.c
    with engine.begin() as conn:
        done = conn.execute(
            update(console_accounts)
            .where(a.id == account_id, or_(a.totp_last_step.is_(None), a.totp_last_step < step))
            .values(totp_last_step=step)
        ).rowcount
    return done == 1


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _normal(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def new_recovery_codes(engine: Engine, account_id: str) -> list[str]:
    """Replace the account's recovery codes with new ones (returned once)."""
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    with engine.begin() as conn:
        conn.execute(
            delete(console_recovery_codes).where(console_recovery_codes.c.account_id == account_id)
        )
        conn.execute(
            insert(console_recovery_codes),
            [{"account_id": account_id, "code_hash": digest(_normal(c))} for c in codes],
        )
    return codes


def use_recovery_code(engine: Engine, account_id: str, code: str) -> bool:
    """Whether `code` is an unused recovery code of the account (then it is used up)."""
    normal = _normal(code)
    if len(normal) != 10:
        return False
    r = console_recovery_codes.c
    with engine.begin() as conn:
        done = conn.execute(
            update(console_recovery_codes)
            .where(r.account_id == account_id, r.code_hash == digest(normal), r.used_at.is_(None))
            .values(used_at=now_iso())
        ).rowcount
    return done == 1


def recovery_codes_left(engine: Engine, account_id: str) -> int:
    r = console_recovery_codes.c
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(r.account_id == account_id, r.used_at.is_(None))
            ).scalar_one()
        )


def turn_off(engine: Engine, account_id: str) -> None:
    """Remove TOTP and the recovery codes (the console allows it only where no
    workspace of the account requires MFA)."""
    with engine.begin() as conn:
        conn.execute(
            update(console_accounts)
            .where(console_accounts.c.id == account_id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        conn.execute(
            delete(console_recovery_codes).where(console_recovery_codes.c.account_id == account_id)
        )
