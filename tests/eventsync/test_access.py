"""The one permission table: roles as the console names them, API key scopes as the
API checks them, and which roles may hand out which roles and scopes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventsync import access, keys
from eventsync.access import Permission as P
from eventsync.access import Role
from eventsync.api import create_app


def test_roles_grant_what_the_issue_names() -> None:
    perms = access.permissions_of
    assert perms(Role.OWNER) == frozenset(P)
    assert perms(Role.ADMIN) == frozenset(P) - {P.OWNERS_WRITE}
    assert perms(Role.PRIVACY_OFFICER) == {P.PRIVACY_READ, P.PRIVACY_WRITE}
    assert {P.KEYS_WRITE, P.SYNCS_WRITE} <= perms(Role.DEVELOPER)
    assert not perms(Role.DEVELOPER) & {P.PRIVACY_READ, P.PRIVACY_WRITE, P.TEAM_WRITE}
    assert all(p.value.endswith(":read") for p in perms(Role.VIEWER))
    assert P.PRIVACY_READ not in perms(Role.VIEWER)  # privacy requests name people
    # Un-suppressing is for admins: a privacy officer erases, does not bring back.
    assert {r for r in Role if P.PRIVACY_UNSUPPRESS in perms(r)} == {Role.OWNER, Role.ADMIN}


def test_key_scopes_are_permissions_and_existing_keys_keep_theirs() -> None:
    assert keys.SCOPES == (
        "events:write",
        "privacy:write",
        "privacy:read",
        "syncs:read",
        "syncs:write",
    )
    # A key made without naming scopes cannot change syncs.
    assert keys.DEFAULT_SCOPES == "events:write privacy:write privacy:read syncs:read"
    assert all(Permission in set(P) for Permission in access.KEY_SCOPES)
    assert access.allows(keys.DEFAULT_SCOPES.split(), "privacy:write")
    assert not access.allows(["syncs:read"], P.PRIVACY_WRITE)


def test_a_member_gives_a_key_no_more_than_their_role() -> None:
    assert set(access.grantable_scopes(Role.OWNER)) == set(access.KEY_SCOPES)
    assert set(access.grantable_scopes(Role.DEVELOPER)) == {
        P.EVENTS_WRITE,
        P.SYNCS_READ,
        P.SYNCS_WRITE,
    }
    assert set(access.grantable_scopes(Role.PRIVACY_OFFICER)) == {P.PRIVACY_READ, P.PRIVACY_WRITE}
    assert access.grantable_scopes(Role.VIEWER) == (P.SYNCS_READ,)


def test_only_owners_make_owners() -> None:
    assert access.may_assign(Role.OWNER, Role.OWNER)
    assert access.may_assign(Role.ADMIN, Role.DEVELOPER)
    assert not access.may_assign(Role.ADMIN, Role.OWNER)
    for role in (Role.DEVELOPER, Role.VIEWER, Role.PRIVACY_OFFICER):
        assert not any(access.may_assign(role, r) for r in Role)


def test_the_api_checks_scopes_through_the_table(engine: Engine, monkeypatch) -> None:
    """A key's scope passes exactly when the table says so: widen the table's answer
    and the API follows."""
    from eventsync.workspaces import create_key, create_workspace

    ws = create_workspace(engine, "acme").workspace_id
    key = create_key(engine, ws, ["syncs:read"])
    client = TestClient(create_app(engine))
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/privacy/erasures", headers=auth).status_code == 403
    monkeypatch.setattr(access, "allows", lambda granted, permission: True)
    assert client.get("/v1/privacy/erasures", headers=auth).status_code == 200
