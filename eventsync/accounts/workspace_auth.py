"""How members of a workspace sign in: "MFA required", and OpenID Connect single
sign-on (issuer, client id, the e-mail domains it may vouch for, the role of members
it creates just in time, and "SSO required", which turns password sign-in off for the
workspace). The client secret is read from the environment
(settings.oidc_secret_variable), never stored."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Engine, insert, select, update

from eventsync import settings
from eventsync.access import Role, role_of
from eventsync.clock import now_iso
from eventsync.errors import ConfigError
from eventsync.store.account_tables import console_workspace_settings

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class WorkspaceAuth:
    workspace_id: str
    mfa_required: bool = False
    sso_issuer: str | None = None
    sso_client_id: str | None = None
    sso_domains: tuple[str, ...] = ()
    sso_default_role: Role = Role.VIEWER
    sso_required: bool = False

    @property
    def sso_configured(self) -> bool:
        return bool(self.sso_issuer and self.sso_client_id)

    @property
    def secret_variable(self) -> str:
        return settings.oidc_secret_variable(self.workspace_id)

    @property
    def secret_present(self) -> bool:
        return settings.oidc_client_secret(self.workspace_id) is not None


def get(engine: Engine, workspace_id: str) -> WorkspaceAuth:
    with engine.connect() as conn:
        row = conn.execute(
            select(console_workspace_settings).where(
                console_workspace_settings.c.workspace_id == workspace_id
            )
        ).first()
    if row is None:
        return WorkspaceAuth(workspace_id)
    m = row._mapping
    return WorkspaceAuth(
        workspace_id,
        bool(m["mfa_required"]),
        m["sso_issuer"],
        m["sso_client_id"],
        tuple((m["sso_domains"] or "").split()),
        Role(m["sso_default_role"] or Role.VIEWER),
        bool(m["sso_required"]),
    )


def _save(engine: Engine, workspace_id: str, **values: object) -> None:
    t = console_workspace_settings
    with engine.begin() as conn:
        exists = conn.execute(
            select(t.c.workspace_id).where(t.c.workspace_id == workspace_id)
        ).first()
        if exists:
            conn.execute(
                update(t)
                .where(t.c.workspace_id == workspace_id)
                .values(updated_at=now_iso(), **values)
            )
        else:
            base = {"mfa_required": False, "sso_required": False}
            conn.execute(
                insert(t).values(
                    workspace_id=workspace_id, updated_at=now_iso(), **{**base, **values}
                )
            )


def set_mfa_required(engine: Engine, workspace_id: str, required: bool) -> None:
    _save(engine, workspace_id, mfa_required=required)


def check_issuer(issuer: str) -> str:
    """An issuer URL: https, or http on a loopback address (a provider on this machine)."""
    value = issuer.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("issuer", "enter the issuer URL, e.g. https://login.example.com")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            raise ConfigError("issuer", "must be an https URL")
    return value


def parse_domains(text: str) -> tuple[str, ...]:
    domains = []
    for item in re.split(r"[\s,]+", text.strip().lower()):
        if not item:
            continue
        if not _DOMAIN.match(item):
            raise ConfigError(
                "domains", f"{item[:80]!r} is not an e-mail domain such as example.com"
            )
        domains.append(item)
    return tuple(dict.fromkeys(domains))


def set_sso(
    engine: Engine,
    workspace_id: str,
    issuer: str,
    client_id: str,
    domains: str,
    default_role: str,
    required: bool,
) -> WorkspaceAuth:
    """Save the workspace's single sign-on; empty issuer and client id turn it off."""
    if not issuer.strip() and not client_id.strip():
        if required:
            raise ConfigError("sso_required", "set up single sign-on before requiring it")
        _save(
            engine,
            workspace_id,
            sso_issuer=None,
            sso_client_id=None,
            sso_domains=None,
            sso_required=False,
        )
        return get(engine, workspace_id)
    issuer = check_issuer(issuer)
    client_id = client_id.strip()
    if not client_id or len(client_id) > 256 or not client_id.isprintable():
        raise ConfigError("client_id", "enter the client id the identity provider gave you")
    parsed = parse_domains(domains)
    if not parsed:
        raise ConfigError("domains", "name at least one e-mail domain the provider signs in")
    try:
        role = role_of(default_role)
    except ValueError as exc:
        raise ConfigError("default_role", str(exc)) from None
    if role is Role.OWNER:
        raise ConfigError("default_role", "members created by single sign-on cannot be owners")
    _save(
        engine,
        workspace_id,
        sso_issuer=issuer,
        sso_client_id=client_id,
        sso_domains=" ".join(parsed),
        sso_default_role=role,
        sso_required=required,
    )
    return get(engine, workspace_id)


def sso_workspaces_for(engine: Engine, domain: str) -> list[WorkspaceAuth]:
    """Workspaces whose single sign-on vouches for addresses of `domain`."""
    t = console_workspace_settings
    with engine.connect() as conn:
        ids = (
            conn.execute(
                select(t.c.workspace_id).where(
                    t.c.sso_issuer.is_not(None), t.c.sso_domains.contains(domain, autoescape=True)
                )
            )
            .scalars()
            .all()
        )
    found = [get(engine, ws) for ws in ids]
    return [w for w in found if w.sso_configured and domain in w.sso_domains]
