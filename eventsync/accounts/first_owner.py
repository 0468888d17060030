"""A workspace's first console owner, made from the command line: an invitation link
(`eventsync workspace create --owner-email`, `eventsync workspace invite`) or, for
`make demo`, a one-time password the owner must replace at first sign-in. Either is
printed once and stored only hashed."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from eventsync import audit, settings
from eventsync.access import Role, role_of
from eventsync.accounts import members, tokens
from eventsync.errors import ConfigError
from eventsync.workspaces import get_workspace


def invitation_link(engine: Engine, workspace_id: str, email: str, role: str, actor: str) -> str:
    """A one-time link (7 days) that makes `email` a member with `role`."""
    get_workspace(engine, workspace_id)
    address = members.normalize_email(email)
    try:
        role = role_of(role)
    except ValueError as exc:
        raise ConfigError("role", str(exc)) from None
    token = tokens.issue(
        engine, tokens.INVITATION, workspace_id=workspace_id, email=address, role=role
    )
    audit.record(
        engine,
        workspace_id,
        "cli",
        actor,
        "team.invited",
        target=address,
        detail={"role": str(role), "by_mail": False},
    )
    return f"{settings.load().console}/invitations/{token}"


def one_time_owner(engine: Engine, workspace_id: str, email: str, actor: str) -> str:
    """Make `email` an owner with a new one-time password (returned once): a new
    account, or the existing one's password replaced (its sessions end)."""
    get_workspace(engine, workspace_id)
    password = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    account = members.find_account(engine, email)
    if account is None:
        account = members.create_account(engine, email, password, must_change_password=True)
    else:
        members.set_password(engine, account.id, password, must_change_password=True)
    members.add_member(engine, workspace_id, account.id, Role.OWNER)
    audit.record(
        engine, workspace_id, "cli", actor, "console.one_time_password", target=account.email
    )
    return password
