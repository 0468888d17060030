"""Signing in, and what a signed-in session may enter.

`check_password` applies the throttle and the password; `sso_account` finds or makes
(just in time) the account and membership of an identity the workspace's provider
vouched for; `next_stage` says whether a TOTP code is still due. `entry_problem`
decides, for every request of a workspace's pages, whether the session may enter:

- a workspace that requires single sign-on takes only sessions its own provider
  signed in;
- a session signed in by a workspace's provider enters that workspace only (another
  workspace's provider is not trusted for this one's members);
- a workspace that requires MFA sends a member without TOTP to enrollment first.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from eventsync import audit
from eventsync.access import Role
from eventsync.accounts import members, passwords, throttle, workspace_auth
from eventsync.accounts.members import Account
from eventsync.accounts.oidc import Identity, SsoError
from eventsync.accounts.sessions import FULL, MFA, Session
from eventsync.errors import EventsyncError

PASSWORD, SSO = "password", "sso"
ENROLL, SSO_REQUIRED, OTHER_SSO = "enroll", "sso_required", "other_sso"


class SignInRefused(EventsyncError):
    """Wrong e-mail or password (never says which), or sign-in not allowed."""


class Throttled(SignInRefused):
    def __init__(self, wait: int) -> None:
        minutes = max(1, -(-wait // 60))
        super().__init__(
            f"too many failed sign-ins: try again in {minutes} minute{'s' * (minutes != 1)}"
        )
        self.wait = wait


@dataclass(frozen=True)
class Who:
    """Who did something, as the audit log names them."""

    account_id: str
    email: str
    address: str | None


def audit_all(
    engine: Engine, account: Account, action: str, address: str | None, **kw: object
) -> None:
    """An audit row in every workspace of the account (sign-in events belong to all)."""
    for m in members.memberships(engine, account.id):
        audit.record(
            engine,
            m.workspace_id,
            "console",
            account.id,
            action,
            actor_label=account.email,
            client_address=address,
            **kw,  # type: ignore[arg-type]
        )


def join(
    engine: Engine,
    workspace_id: str,
    account: Account,
    role: Role | str,
    action: str,
    address: str | None,
) -> None:
    """Make the account a member with `role`, audited in that workspace as `action` (an
    accepted invitation, a first SSO sign-in)."""
    members.add_member(engine, workspace_id, account.id, role)
    audit.record(
        engine,
        workspace_id,
        "console",
        account.id,
        action,
        actor_label=account.email,
        target=account.email,
        client_address=address,
        detail={"role": str(role)},
    )


def _refused(engine: Engine, account: Account, address: str, reason: str) -> None:
    """Audit a refused password sign-in in every workspace of the account."""
    audit_all(
        engine,
        account,
        "console.sign_in",
        address,
        outcome="refused",
        detail={"method": PASSWORD, "reason": reason},
    )


def check_password(engine: Engine, email: str, password: str, address: str) -> Account:
    """The account, when the e-mail and password are right and sign-in is allowed."""
    key = email.strip().lower()[: members.MAX_EMAIL]
    wait = throttle.wait_seconds(engine, key, address)
    if wait:
        raise Throttled(wait)
    account = members.find_account(engine, email)
    # An unknown address costs the same hash as a known one (no enumeration by timing).
    right = passwords.verify(account.password_hash if account else None, password)
    if account is None or not right:
        throttle.record_failure(engine, key, address)
        if account is not None:
            _refused(engine, account, address, "wrong password")
        raise SignInRefused("wrong e-mail address or password")
    joined = members.memberships(engine, account.id)
    if joined and all(workspace_auth.get(engine, m.workspace_id).sso_required for m in joined):
        _refused(engine, account, address, "single sign-on required")
        raise SignInRefused(
            "your workspace requires single sign-on: use 'Sign in with single sign-on'"
        )
    throttle.clear_account(engine, key)
    if account.password_hash and passwords.needs_rehash(account.password_hash):
        members.rehash_password(engine, account.id, password)
    return account


def next_stage(account: Account) -> str:
    return MFA if account.mfa_enabled else FULL


def sso_account(
    engine: Engine, config: workspace_auth.WorkspaceAuth, identity: Identity, address: str | None
) -> Account:
    """The account of a person the workspace's provider signed in: an existing member,
    or (for an address of one of the workspace's domains) a new one with the default
    role."""
    email = members.normalize_email(identity.email)
    account = members.find_account(engine, email)
    is_member = account is not None and members.membership(engine, config.workspace_id, account.id)
    if not is_member and members.email_domain(email) not in config.sso_domains:
        raise SsoError(
            "this workspace's single sign-on does not cover your e-mail domain; ask an admin "
            "to invite you"
        )
    if account is None:
        account = members.create_account(engine, email)
    if not is_member:
        join(
            engine,
            config.workspace_id,
            account,
            config.sso_default_role,
            "team.joined_by_sso",
            address,
        )
    return account


def entry_problem(
    engine: Engine, session: Session, account: Account, workspace_id: str
) -> str | None:
    """None when the session may use this workspace's pages, else why not."""
    config = workspace_auth.get(engine, workspace_id)
    if session.auth_method == SSO and session.sso_workspace_id != workspace_id:
        return OTHER_SSO
    if config.sso_required and not (
        session.auth_method == SSO and session.sso_workspace_id == workspace_id
    ):
        return SSO_REQUIRED
    if config.mfa_required and not account.mfa_enabled:
        return ENROLL
    return None
