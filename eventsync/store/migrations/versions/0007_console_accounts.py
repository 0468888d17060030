"""console: accounts, members, sessions, tokens, MFA, sign-in settings, audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

The tables of eventsync/store/account_tables.py. Numbered apart from the 000N line so
that migrations written at the same time on other branches can be chained before it
(set `down_revision` to their head when merging).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        "console_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled_at", TS, nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("password_changed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_console_accounts_email")),
    )
    op.create_table(
        "console_members",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "account_id", name=op.f("pk_console_members")),
    )
    op.create_index(
        op.f("ix_console_members_account_id"), "console_members", ["account_id"], unique=False
    )
    op.create_table(
        "console_workspace_settings",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("mfa_required", sa.Boolean(), nullable=False),
        sa.Column("sso_issuer", sa.Text(), nullable=True),
        sa.Column("sso_client_id", sa.String(length=256), nullable=True),
        sa.Column("sso_domains", sa.Text(), nullable=True),
        sa.Column("sso_default_role", sa.String(length=32), nullable=True),
        sa.Column("sso_required", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_console_workspace_settings")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("auth_method", sa.String(length=16), nullable=True),
        sa.Column("sso_workspace_id", sa.String(length=64), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        op.f("ix_console_sessions_account_id"), "console_sessions", ["account_id"], unique=False
    )
    op.create_table(
        "console_recovery_codes",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("account_id", "code_hash", name=op.f("pk_console_recovery_codes")),
    )
    op.create_table(
        "console_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_tokens")),
    )
    op.create_index(
        op.f("ix_console_tokens_workspace_id"), "console_tokens", ["workspace_id"], unique=False
    )
    op.create_table(
        "console_login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_login_failures")),
    )
    op.create_index(
        "ix_console_login_failures_key_at",
        "console_login_failures",
        ["key_hash", "at_us"],
        unique=False,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_label", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_ws_at", "audit_log", ["workspace_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_ws_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_console_login_failures_key_at", table_name="console_login_failures")
    op.drop_table("console_login_failures")
    op.drop_index(op.f("ix_console_tokens_workspace_id"), table_name="console_tokens")
    op.drop_table("console_tokens")
    op.drop_table("console_recovery_codes")
    op.drop_index(op.f("ix_console_sessions_account_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_workspace_settings")
    op.drop_index(op.f("ix_console_members_account_id"), table_name="console_members")
    op.drop_table("console_members")
    op.drop_table("console_accounts")
