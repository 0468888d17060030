"""TOTP codes are accepted once and only near now; recovery codes are hashed and used
once; argon2id hashes passwords."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
from sqlalchemy import Engine, select

from eventsync.accounts import members, mfa, passwords
from eventsync.store.account_tables import console_accounts, console_recovery_codes


def test_totp_enrollment_replay_and_recovery_codes(engine: Engine) -> None:
    account = members.create_account(engine, "a@b.test", "a long enough password")
    secret = mfa.pending_secret(engine, account.id)
    assert mfa.pending_secret(engine, account.id) == secret  # kept until confirmed
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.now(UTC))
    near = {totp.generate_otp(step + d) for d in (-1, 0, 1, 2)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    assert mfa.confirm_enrollment(engine, account.id, wrong) is None
    codes = mfa.confirm_enrollment(engine, account.id, totp.generate_otp(step))
    assert codes is not None and len(set(codes)) == 10
    # The code that enrolled cannot sign in (same step); the next step's can, once.
    assert not mfa.verify_code(engine, account.id, totp.generate_otp(step))
    step += 1
    assert mfa.verify_code(engine, account.id, totp.generate_otp(step))
    assert not mfa.verify_code(engine, account.id, totp.generate_otp(step))
    assert not mfa.verify_code(engine, account.id, totp.generate_otp(step + 5))  # too far
    # Recovery codes: hashed at rest, each good once (spaces and case ignored).
    with engine.connect() as conn:
        stored = repr(conn.execute(select(console_recovery_codes)).all())
    assert not any(c in stored for c in codes)
    assert mfa.use_recovery_code(engine, account.id, codes[3].upper())
    assert not mfa.use_recovery_code(engine, account.id, codes[3])
    assert mfa.recovery_codes_left(engine, account.id) == 9


def test_passwords_are_argon2id_and_checked(engine: Engine) -> None:
    account = members.create_account(engine, "a@b.test", "a long enough password")
    with engine.connect() as conn:
        stored = conn.execute(select(console_accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored
    assert passwords.verify(account.password_hash, "a long enough password")
    assert not passwords.verify(account.password_hash, "a long enough passworD")
    assert not passwords.verify(None, "anything")
