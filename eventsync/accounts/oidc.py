"""OpenID Connect sign-in (authorization code flow with PKCE and a nonce), with
authlib's OAuth 2 client and joserfc for the ID token.

`begin` returns the provider's authorization URL; the state parameter is a one-time
token (eventsync/accounts/tokens.py) that holds the nonce and the PKCE verifier, so
the callback needs nothing from the browser but the code and the state. `complete`
exchanges the code, checks the ID token (signature from the provider's JWKS, issuer,
audience, expiry, nonce) and returns the verified e-mail address.

Discovery documents and key sets are cached per issuer for an hour; an unknown key id
refreshes the key set once (the provider rotated its keys).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from eventsync import settings
from eventsync.accounts import tokens
from eventsync.accounts.secrets_hash import new_secret
from eventsync.accounts.workspace_auth import WorkspaceAuth
from eventsync.errors import EventsyncError

SCOPE = "openid email"
CACHE_SECONDS = 3600.0
TIMEOUT = 10.0

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


class SsoError(EventsyncError):
    """Single sign-on did not work; the message says why, for the person signing in."""


@dataclass(frozen=True)
class Identity:
    email: str
    subject: str


def redirect_uri() -> str:
    return f"{settings.load().console}/sso/callback"


def _get_json(url: str) -> dict[str, Any]:
    try:
        resp = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
        resp.raise_for_status()
        return resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoError(
            f"the identity provider did not answer at {url}: {type(exc).__name__}"
        ) from None


def metadata(issuer: str, refresh: bool = False) -> dict[str, Any]:
    """The provider's discovery document (its issuer must be the configured one)."""
    with _lock:
        hit = _cache.get(issuer)
    if hit and not refresh and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    doc = _get_json(f"{issuer}/.well-known/openid-configuration")
    if doc.get("issuer") != issuer:
        raise SsoError("the identity provider names another issuer than the one configured")
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(field), str):
            raise SsoError(f"the identity provider's discovery document lacks {field}")
    doc = {**doc, "jwks": _get_json(doc["jwks_uri"])}
    with _lock:
        _cache[issuer] = (time.monotonic(), doc)
    return doc


def _client(config: WorkspaceAuth) -> OAuth2Client:
    secret = settings.oidc_client_secret(config.workspace_id)
    if secret is None:
        raise SsoError(
            f"single sign-on is not ready: {config.secret_variable} is not set on the server"
        )
    return OAuth2Client(
        client_id=config.sso_client_id,
        client_secret=secret,
        scope=SCOPE,
        redirect_uri=redirect_uri(),
        code_challenge_method="S256",
        timeout=TIMEOUT,
    )


def begin(
    engine: Any, config: WorkspaceAuth, bound_to: str, login_hint: str | None = None
) -> tuple[str, str]:
    """(authorization URL, state) to send the browser to the provider. `bound_to` names
    the browser's session: the callback is accepted in that session only."""
    if not config.sso_configured:
        raise SsoError("this workspace has no single sign-on")
    doc = metadata(config.sso_issuer or "")
    nonce = new_secret()
    verifier = new_secret() + new_secret()  # 86 characters (RFC 7636: 43..128)
    state = tokens.issue(
        engine,
        tokens.SSO,
        workspace_id=config.workspace_id,
        data={"nonce": nonce, "code_verifier": verifier, "session": bound_to},
    )
    extra = {"login_hint": login_hint} if login_hint else {}
    with _client(config) as client:
        url, _ = client.create_authorization_url(
            doc["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier, **extra
        )
    return url, state


def _decode(doc: dict[str, Any], id_token: str) -> Any:
    registry = JWSRegistry(algorithms=doc.get("id_token_signing_alg_values_supported"))
    try:
        return jwt.decode(id_token, KeySet.import_key_set(doc["jwks"]), registry=registry)
    except InvalidKeyIdError:
        fresh = metadata(doc["issuer"], refresh=True)
        return jwt.decode(id_token, KeySet.import_key_set(fresh["jwks"]), registry=registry)


def complete(config: WorkspaceAuth, code: str, state: tokens.Token) -> Identity:
    """The verified identity of the person the provider signed in."""
    doc = metadata(config.sso_issuer or "")
    try:
        with _client(config) as client:
            token = client.fetch_token(
                doc["token_endpoint"],
                code=code,
                code_verifier=state.data["code_verifier"],
                grant_type="authorization_code",
            )
    except SsoError:
        raise
    except Exception as exc:
        raise SsoError(f"the identity provider refused the sign-in: {str(exc)[:200]}") from None
    if "id_token" not in token:
        raise SsoError("the identity provider returned no ID token")
    try:
        decoded = _decode(doc, token["id_token"])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "values": [config.sso_issuer]}},
            {
                "nonce": state.data["nonce"],
                "client_id": config.sso_client_id,
                "access_token": token.get("access_token"),
            },
        )
        claims.validate(leeway=60)
    except (JoseError, AuthlibBaseError, ValueError, KeyError) as exc:
        raise SsoError(f"the identity provider's ID token is not valid: {exc}") from None
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise SsoError("the identity provider did not share an e-mail address (scope email)")
    if claims.get("email_verified") is not True:
        raise SsoError("the identity provider has not verified this e-mail address")
    return Identity(email=email, subject=str(claims["sub"]))
