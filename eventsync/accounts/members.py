"""Accounts (one per e-mail address) and their memberships of workspaces, each with a
role. An account may belong to several workspaces; every console request checks the
membership of the workspace it names, so a removed member loses access at once.

Role changes follow eventsync/access.py (`may_assign`): only owners make or unmake
owners, and a workspace always keeps at least one owner.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from eventsync.access import Role, may_assign, role_of
from eventsync.accounts import passwords
from eventsync.clock import now_iso
from eventsync.errors import ConfigError, EventsyncError, NotFound
from eventsync.store.account_tables import (
    console_accounts,
    console_members,
    console_sessions,
)
from eventsync.store.schema import workspaces
from eventsync.store.totp_sealing import unseal

MAX_EMAIL = 320
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Forbidden(EventsyncError):
    """The member's role does not allow this (the console answers 403)."""


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password_hash: str | None
    must_change_password: bool
    totp_secret: str | None
    totp_enabled_at: str | None
    totp_last_step: int | None

    @property
    def mfa_enabled(self) -> bool:
        return self.totp_enabled_at is not None


@dataclass(frozen=True)
class Membership:
    workspace_id: str
    workspace_name: str
    role: Role


@dataclass(frozen=True)
class Member:
    account_id: str
    email: str
    role: Role
    mfa_enabled: bool
    has_password: bool
    joined_at: str


def normalize_email(email: str) -> str:
    """The stored form of an address (trimmed, lower-cased); ConfigError if it is not one."""
    value = (email or "").strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value) or not value.isprintable():
        raise ConfigError("email", "enter an e-mail address such as name@example.com")
    return value


def email_domain(email: str) -> str:
    return normalize_email(email).rsplit("@", 1)[1]


def _account(row: Any) -> Account:
    m = row._mapping
    return Account(
        m["id"],
        m["email"],
        m["password_hash"],
        bool(m["must_change_password"]),
        unseal(m["totp_secret"]),
        m["totp_enabled_at"],
        m["totp_last_step"],
    )


def find_account(engine: Engine, email: str) -> Account | None:
    try:
        address = normalize_email(email)
    except ConfigError:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(console_accounts).where(console_accounts.c.email == address)
        ).first()
    return _account(row) if row else None


def get_account(engine: Engine, account_id: str) -> Account:
    with engine.connect() as conn:
        row = conn.execute(
            select(console_accounts).where(console_accounts.c.id == account_id)
        ).first()
    if row is None:
        raise NotFound("no such account")
    return _account(row)


def create_account(
    engine: Engine, email: str, password: str | None = None, must_change_password: bool = False
) -> Account:
    """A new account; `password` None makes a single-sign-on-only account."""
    address = normalize_email(email)
    if password is not None:
        passwords.check_new(password, address)
    account_id = f"acct_{secrets.token_hex(8)}"
    now = now_iso()
    with engine.begin() as conn:
        if conn.execute(
            select(console_accounts.c.id).where(console_accounts.c.email == address)
        ).first():
            raise ConfigError("email", "an account with this e-mail address exists")
        conn.execute(
            insert(console_accounts).values(
                id=account_id,
                email=address,
                password_hash=passwords.hash_password(password) if password else None,
                must_change_password=must_change_password,
                created_at=now,
                password_changed_at=now if password else None,
            )
        )
    return get_account(engine, account_id)


def set_password(
    engine: Engine, account_id: str, password: str, must_change_password: bool = False
) -> None:
    """Set a new password (checked against the rule) and end every session of the account."""
    account = get_account(engine, account_id)
    passwords.check_new(password, account.email)
    with engine.begin() as conn:
        conn.execute(
            update(console_accounts)
            .where(console_accounts.c.id == account_id)
            .values(
                password_hash=passwords.hash_password(password),
                must_change_password=must_change_password,
                password_changed_at=now_iso(),
            )
        )
        conn.execute(delete(console_sessions).where(console_sessions.c.account_id == account_id))


def rehash_password(engine: Engine, account_id: str, password: str) -> None:
    """Store a hash with the current parameters (after a successful sign-in)."""
    with engine.begin() as conn:
        conn.execute(
            update(console_accounts)
            .where(console_accounts.c.id == account_id)
            .values(password_hash=passwords.hash_password(password))
        )


def workspace_name(engine: Engine, workspace_id: str) -> str:
    with engine.connect() as conn:
        name = conn.execute(
            select(workspaces.c.name).where(workspaces.c.id == workspace_id)
        ).scalar()
    if name is None:
        raise NotFound(f"workspace {workspace_id!r} not found")
    return str(name)


def memberships(engine: Engine, account_id: str) -> list[Membership]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(console_members.c.workspace_id, workspaces.c.name, console_members.c.role)
            .join(workspaces, workspaces.c.id == console_members.c.workspace_id)
            .where(console_members.c.account_id == account_id)
            .order_by(workspaces.c.name, workspaces.c.id)
        ).all()
    return [Membership(r[0], r[1], Role(r[2])) for r in rows]


def membership(engine: Engine, workspace_id: str, account_id: str) -> Membership | None:
    return next(
        (m for m in memberships(engine, account_id) if m.workspace_id == workspace_id), None
    )


def list_members(engine: Engine, workspace_id: str) -> list[Member]:
    a, m = console_accounts, console_members
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                a.c.id, a.c.email, m.c.role, a.c.totp_enabled_at, a.c.password_hash, m.c.created_at
            )
            .join(m, m.c.account_id == a.c.id)
            .where(m.c.workspace_id == workspace_id)
            .order_by(a.c.email)
        ).all()
    return [Member(r[0], r[1], Role(r[2]), r[3] is not None, r[4] is not None, r[5]) for r in rows]


def add_member(engine: Engine, workspace_id: str, account_id: str, role: Role | str) -> bool:
    """Make the account a member with `role`; False when it already was one (unchanged)."""
    role = role_of(str(role))
    with engine.begin() as conn:
        if (
            conn.execute(select(workspaces.c.id).where(workspaces.c.id == workspace_id)).first()
            is None
        ):
            raise NotFound(f"workspace {workspace_id!r} not found")
        if _role(conn, workspace_id, account_id) is not None:
            return False
        conn.execute(
            insert(console_members).values(
                workspace_id=workspace_id, account_id=account_id, role=role, created_at=now_iso()
            )
        )
    return True


def _role(conn: Connection, workspace_id: str, account_id: str) -> Role | None:
    value = conn.execute(
        select(console_members.c.role).where(
            console_members.c.workspace_id == workspace_id,
            console_members.c.account_id == account_id,
        )
    ).scalar()
    return Role(value) if value else None


def _owners(conn: Connection, workspace_id: str) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                console_members.c.workspace_id == workspace_id,
                console_members.c.role == Role.OWNER,
            )
        ).scalar_one()
    )


def _check_change(conn: Connection, workspace_id: str, actor_role: Role, account_id: str) -> Role:
    current = _role(conn, workspace_id, account_id)
    if current is None:
        raise NotFound("no such member in this workspace")
    if not may_assign(actor_role, current):
        raise Forbidden(
            f"a member with the role {actor_role.label} cannot change a {current.label}"
        )
    return current


def change_role(
    engine: Engine, workspace_id: str, actor_role: Role, account_id: str, role: str
) -> tuple[Role, Role]:
    """(old, new) role of a member; Forbidden or ConfigError naming why not."""
    try:
        new = role_of(role)
    except ValueError as exc:
        raise ConfigError("role", str(exc)) from None
    with engine.begin() as conn:
        old = _check_change(conn, workspace_id, actor_role, account_id)
        if not may_assign(actor_role, new):
            raise Forbidden(f"a member with the role {actor_role.label} cannot make a {new.label}")
        if old is Role.OWNER and new is not Role.OWNER and _owners(conn, workspace_id) <= 1:
            raise ConfigError("role", "a workspace keeps at least one owner")
        conn.execute(
            update(console_members)
            .where(
                console_members.c.workspace_id == workspace_id,
                console_members.c.account_id == account_id,
            )
            .values(role=new)
        )
    return old, new


def remove_member(engine: Engine, workspace_id: str, actor_role: Role, account_id: str) -> Role:
    """Remove a member; returns the role they had."""
    with engine.begin() as conn:
        old = _check_change(conn, workspace_id, actor_role, account_id)
        if old is Role.OWNER and _owners(conn, workspace_id) <= 1:
            raise ConfigError("member", "a workspace keeps at least one owner")
        conn.execute(
            delete(console_members).where(
                console_members.c.workspace_id == workspace_id,
                console_members.c.account_id == account_id,
            )
        )
    return old
