"""The console's tables (migration 0100): accounts, memberships, sessions, one-time
tokens, MFA recovery codes, sign-in failures, per-workspace sign-in settings, and the
general audit log. Same metadata as eventsync/store/schema.py.

Secrets are stored only as hashes: passwords (argon2id), session ids, one-time tokens
and recovery codes (SHA-256 of 256-bit random values: a fast hash is enough, nothing
to guess). The TOTP secret is the one secret kept as it is: checking a code needs it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from eventsync.store.schema import WORKSPACE_ID, metadata, stamp

console_accounts = Table(
    "console_accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # lower-cased
    Column("password_hash", Text, nullable=True),  # NULL: single sign-on only
    Column("must_change_password", Boolean, nullable=False, default=False),
    # Sealed (eventsync/store/totp_sealing.py): `fernet:<token>`.
    Column("totp_secret", String(255), nullable=True),
    stamp("totp_enabled_at", nullable=True),  # NULL: not enrolled
    Column("totp_last_step", BigInteger, nullable=True),  # a code is accepted once
    stamp("created_at"),
    stamp("password_changed_at", nullable=True),
)

console_members = Table(
    "console_members",
    metadata,
    Column("workspace_id", WORKSPACE_ID, nullable=False),
    Column("account_id", String(32), nullable=False, index=True),
    Column("role", String(32), nullable=False),  # eventsync/access.py Role
    stamp("created_at"),
    PrimaryKeyConstraint("workspace_id", "account_id"),
)

console_workspace_settings = Table(
    "console_workspace_settings",
    metadata,
    Column("workspace_id", WORKSPACE_ID, primary_key=True),
    Column("mfa_required", Boolean, nullable=False, default=False),
    Column("sso_issuer", Text, nullable=True),
    Column("sso_client_id", String(256), nullable=True),
    Column("sso_domains", Text, nullable=True),  # space-separated, lower-cased
    Column("sso_default_role", String(32), nullable=True),
    Column("sso_required", Boolean, nullable=False, default=False),
    stamp("updated_at"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's value
    Column("account_id", String(32), nullable=True, index=True),  # NULL: not signed in
    Column("stage", String(16), nullable=False),  # anonymous | mfa | full
    Column("auth_method", String(16), nullable=True),  # password | sso
    Column("sso_workspace_id", WORKSPACE_ID, nullable=True),  # the workspace whose IdP vouched
    Column("csrf_token", String(64), nullable=False),
    stamp("created_at"),
    stamp("last_seen_at"),
    stamp("expires_at"),  # absolute expiry
)

console_recovery_codes = Table(
    "console_recovery_codes",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column("code_hash", String(64), nullable=False),
    stamp("used_at", nullable=True),
    PrimaryKeyConstraint("account_id", "code_hash"),
)

console_tokens = Table(
    "console_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),  # invitation | reset | sso
    Column("workspace_id", WORKSPACE_ID, nullable=True, index=True),
    Column("account_id", String(32), nullable=True),
    Column("email", String(320), nullable=True),
    Column("role", String(32), nullable=True),
    Column("data", Text, nullable=True),  # JSON (the SSO nonce and PKCE verifier)
    Column("created_by", String(32), nullable=True),
    stamp("created_at"),
    stamp("expires_at"),
    stamp("used_at", nullable=True),
)

# One row per failed sign-in, keyed by a hash of the account's e-mail or the client
# address; counted over a sliding window and shared by every API process.
console_login_failures = Table(
    "console_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_console_login_failures_key_at", "key_hash", "at_us"),
)

# Every console action and every API request that changed something (who, what,
# when, from where). Append-only; privacy_request_log keeps each privacy request's
# own trail.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace_id", WORKSPACE_ID, nullable=False),
    stamp("at"),
    Column("source", String(16), nullable=False),  # console | api | cli
    Column("actor", String(64), nullable=False),  # account id, key:<id>, cli:<user>
    Column("actor_label", String(320), nullable=True),  # the member's e-mail then
    Column("action", String(64), nullable=False),
    Column("target", String(320), nullable=True),
    Column("outcome", String(16), nullable=False),  # ok | refused | failed
    Column("client_address", String(64), nullable=True),
    Column("detail", Text, nullable=False),  # JSON, no secrets, no subject ids
    Index("ix_audit_log_ws_at", "workspace_id", "at"),
)
