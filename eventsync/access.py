"""Who may do what: the one permission table of the console's roles and the API keys'
scopes.

A permission is named `<resource>:<action>`. An API key's scopes are permissions too
(the subset in `KEY_SCOPES`), so the key stored with `privacy:write` and the member
whose role grants `privacy:write` pass the same check, `allows`. A member may create a
key only with scopes their role grants (`grantable_scopes`): a key is never a way
around a role.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    EVENTS_WRITE = "events:write"  # ingest events (API keys)
    PRIVACY_READ = "privacy:read"  # privacy requests and their status
    PRIVACY_WRITE = "privacy:write"  # erasure, access export (and, for keys, unsuppress)
    # Taking an erased subject off the suppression list in the console: owners and
    # admins only (not a key scope; an API key with privacy:write may, audited).
    PRIVACY_UNSUPPRESS = "privacy:unsuppress"
    SYNCS_READ = "syncs:read"
    SYNCS_WRITE = "syncs:write"  # create, change and delete syncs, backfills
    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"  # create and revoke API keys
    TEAM_READ = "team:read"
    TEAM_WRITE = "team:write"  # invite, change roles, remove members
    WORKSPACE_ADMIN = "workspace:admin"  # MFA required, single sign-on
    OWNERS_WRITE = "owners:write"  # make or unmake owners
    AUDIT_READ = "audit:read"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    PRIVACY_OFFICER = "privacy_officer"
    DEVELOPER = "developer"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission) - {P.OWNERS_WRITE},
    # The privacy portal only.
    Role.PRIVACY_OFFICER: frozenset({P.PRIVACY_READ, P.PRIVACY_WRITE}),
    # API keys and sync settings.
    Role.DEVELOPER: frozenset(
        {
            P.EVENTS_WRITE,
            P.SYNCS_READ,
            P.SYNCS_WRITE,
            P.KEYS_READ,
            P.KEYS_WRITE,
            P.TEAM_READ,
            P.AUDIT_READ,
        }
    ),
    # Read only; privacy requests name people, so they are not part of it.
    Role.VIEWER: frozenset({P.SYNCS_READ, P.KEYS_READ, P.TEAM_READ, P.AUDIT_READ}),
}

# What an API key can hold: the permissions the HTTP API checks. Stored space-separated
# in api_keys.scopes (eventsync/keys.py).
KEY_SCOPES: tuple[Permission, ...] = (
    P.EVENTS_WRITE,
    P.PRIVACY_WRITE,
    P.PRIVACY_READ,
    P.SYNCS_READ,
    P.SYNCS_WRITE,
)
# What a key gets when no scopes are named (the workspace's first key, keys made before
# scopes existed): not syncs:write, which changes what is exported where; a key that
# manages syncs is asked for by name.
DEFAULT_KEY_SCOPES: tuple[Permission, ...] = KEY_SCOPES[:4]


def role_of(value: str) -> Role:
    """The role named `value`; ValueError naming the roles otherwise."""
    try:
        return Role(value)
    except ValueError:
        raise ValueError(
            f"unknown role {value!r}; roles: {', '.join(r.value for r in Role)}"
        ) from None


def permissions_of(role: Role | str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[Role(role)]


def allows(granted: Iterable[str], permission: Permission | str) -> bool:
    """Whether a set of permissions (a role's, or a key's scopes) includes `permission`."""
    return str(permission) in {str(p) for p in granted}


def role_allows(role: Role | str, permission: Permission | str) -> bool:
    return allows(permissions_of(role), permission)


def grantable_scopes(role: Role | str) -> tuple[Permission, ...]:
    """The key scopes a member of this role may put on a new key."""
    held = permissions_of(role)
    return tuple(s for s in KEY_SCOPES if s in held)


def may_assign(actor: Role | str, role: Role | str) -> bool:
    """Whether a member of role `actor` may give (or take away) role `role`: team:write,
    and owners:write when `role` is owner."""
    held = permissions_of(actor)
    return P.TEAM_WRITE in held and (Role(role) is not Role.OWNER or P.OWNERS_WRITE in held)
