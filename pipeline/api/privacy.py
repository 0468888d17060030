"""`/v1/privacy/...`: erasure and access-export requests of the caller's workspace.

A request is written to the ledger (status `received`, with an audit row naming the
API key id) before the 202 answer; `privacy_request_sensor` launches its job. Another
workspace's request id is 404, like an unknown one.

Rate limit: an in-process token bucket per API key id (`EVENTSYNC_PRIVACY_RATE`
requests per minute, burst `EVENTSYNC_PRIVACY_BURST`; defaults 60 and 20). It is per
API process: several API replicas each allow the rate. Over the limit: 429 with
Retry-After (seconds).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.api.auth import EngineDep, current_workspace
from pipeline.privacy import ledger, runner, suppressions
from resources import keys, settings
from resources.errors import ConfigError, NotFound

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


class TokenBucket:
    """Per-key token buckets: `rate` tokens per second, at most `burst` saved."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds until a token is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else 3600.0


def _limiter(request: Request) -> TokenBucket:
    limiter = getattr(request.app.state, "privacy_rate_limiter", None)
    if limiter is None:
        limiter = TokenBucket(settings.privacy_rate_per_minute(), settings.privacy_burst())
        request.app.state.privacy_rate_limiter = limiter
    return limiter


class Caller(BaseModel):
    workspace_id: str
    key_id: str

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


def privacy_caller(
    request: Request, workspace_id: Annotated[str, Depends(current_workspace)]
) -> Caller:
    """The authenticated caller, rate limited per API key id (never the key itself)."""
    header = request.headers.get("authorization", "")
    parts = keys.split_key(header.partition(" ")[2].strip())
    key_id = parts[0] if parts else "unknown"
    wait = _limiter(request).take(key_id)
    if wait > 0:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"rate limit of privacy requests for this API key exceeded; retry in "
            f"{math.ceil(wait)} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return Caller(workspace_id=workspace_id, key_id=key_id)


CallerDep = Annotated[Caller, Depends(privacy_caller)]
# Ids are checked by the one subject-id rule (pipeline/subjects.py) when the request is
# stored: an id this workspace holds is accepted even where the rule refuses new ones.
IdStr = str


def _check(name: str, value: Any) -> Any:
    if isinstance(value, list) and len(value) > ledger.MAX_IDS:
        raise ValueError(f"at most {ledger.MAX_IDS} ids per request, got {len(value)}")
    return value


class ErasureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[IdStr] = Field(default_factory=list, description="User ids to erase.")
    company_ids: list[IdStr] = Field(default_factory=list, description="Company ids to erase.")

    @field_validator("user_ids", "company_ids", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return _check("ids", value)

    @model_validator(mode="after")
    def _some(self) -> ErasureBody:
        total = len(self.user_ids) + len(self.company_ids)
        if total == 0:
            raise ValueError("name at least one id in user_ids or company_ids")
        if total > ledger.MAX_IDS:
            raise ValueError(f"at most {ledger.MAX_IDS} ids per request, got {total}")
        return self


class AccessExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: IdStr | None = None
    company_id: IdStr | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AccessExportBody:
        if (self.user_id is None) == (self.company_id is None):
            raise ValueError("give exactly one of user_id or company_id")
        return self


class PrivacyRequestOut(BaseModel):
    id: str
    kind: Literal["erasure", "access_export"]
    status: Literal["received", "queued", "running", "completed", "failed", "erased"] = Field(
        description="`erased`: an access export whose file a later erasure deleted."
    )
    user_ids: list[str]
    company_ids: list[str]
    attempt: int
    progress: dict[str, Any] = Field(
        description="Per step (rows removed, files written ...) and per destination "
        "(days rewritten, tombstones, owner action required)."
    )
    result_location: str | None = Field(description="Where the access-export CSV is.")
    result_note: str | None = Field(
        default=None,
        description="Why a result is empty or gone (e.g. `subject erased`, or the erasure "
        "that deleted an access export's file).",
    )
    error: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    completed_at: str | None
    verified_at: str | None


class PrivacyRequestList(BaseModel):
    requests: list[PrivacyRequestOut]


def _out(req: ledger.PrivacyRequest) -> PrivacyRequestOut:
    return PrivacyRequestOut(**{k: v for k, v in req.to_dict().items() if k != "workspace_id"})


def _create(engine: Any, caller: Caller, kind: str, users: list, companies: list) -> Any:
    try:
        req = ledger.create_request(
            engine, caller.workspace_id, kind, users, companies, actor=caller.actor
        )
    except ConfigError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return _out(req)


def _get(engine: Any, caller: Caller, request_id: str, kind: str) -> ledger.PrivacyRequest:
    try:
        return ledger.get_request(engine, request_id, caller.workspace_id, kind)
    except NotFound:
        raise HTTPException(
            status_code=404, detail=f"no {kind.replace('_', ' ')} request {request_id!r}"
        ) from None


def _retry(engine: Any, caller: Caller, request_id: str, kind: str) -> PrivacyRequestOut:
    _get(engine, caller, request_id, kind)
    try:
        return _out(runner.retry(engine, request_id, caller.actor, caller.workspace_id))
    except runner.InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


_POST_DOC = (
    "202: the request is stored (status `received`) and will run shortly. 422: the body "
    f"is malformed (more than {ledger.MAX_IDS} ids, empty or over-long ids, unknown "
    "fields); nothing is stored. 429: rate limit, see Retry-After."
)


@router.post(
    "/erasures",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Erase users and/or companies",
    description=_POST_DOC,
)
def post_erasure(body: ErasureBody, caller: CallerDep, engine: EngineDep) -> Any:
    return _create(engine, caller, "erasure", body.user_ids, body.company_ids)


@router.get("/erasures", response_model=PrivacyRequestList, summary="List erasure requests")
def list_erasures(
    caller: CallerDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    reqs = ledger.list_requests(engine, caller.workspace_id, kind="erasure", limit=limit)
    return PrivacyRequestList(requests=[_out(r) for r in reqs])


@router.get("/erasures/{request_id}", response_model=PrivacyRequestOut, summary="Erasure status")
def get_erasure(request_id: str, caller: CallerDep, engine: EngineDep) -> Any:
    return _out(_get(engine, caller, request_id, "erasure"))


@router.post(
    "/erasures/{request_id}/retry",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Retry a failed erasure, or one whose runner died (same request, new attempt)",
)
def retry_erasure(request_id: str, caller: CallerDep, engine: EngineDep) -> Any:
    return _retry(engine, caller, request_id, "erasure")


@router.post(
    "/access-exports",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Export one user's or company's data as CSV",
    description=_POST_DOC,
)
def post_access_export(body: AccessExportBody, caller: CallerDep, engine: EngineDep) -> Any:
    users = [body.user_id] if body.user_id is not None else []
    companies = [body.company_id] if body.company_id is not None else []
    return _create(engine, caller, "access_export", users, companies)


@router.get("/access-exports", response_model=PrivacyRequestList, summary="List access exports")
def list_access_exports(
    caller: CallerDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    reqs = ledger.list_requests(engine, caller.workspace_id, kind="access_export", limit=limit)
    return PrivacyRequestList(requests=[_out(r) for r in reqs])


@router.get(
    "/access-exports/{request_id}",
    response_model=PrivacyRequestOut,
    summary="Access export status and location",
)
def get_access_export(request_id: str, caller: CallerDep, engine: EngineDep) -> Any:
    return _out(_get(engine, caller, request_id, "access_export"))


@router.post(
    "/access-exports/{request_id}/retry",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Retry a failed access export",
)
def retry_access_export(request_id: str, caller: CallerDep, engine: EngineDep) -> Any:
    return _retry(engine, caller, request_id, "access_export")


class UnsuppressBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: IdStr | None = None
    company_id: IdStr | None = None
    reason: str = Field(
        default="", max_length=500, description="Why (e.g. the consent), kept in the audit log."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> UnsuppressBody:
        if (self.user_id is None) == (self.company_id is None):
            raise ValueError("give exactly one of user_id or company_id")
        return self


class UnsuppressOut(BaseModel):
    subject_type: Literal["user", "company"]
    erasure_request_id: str = Field(description="The erasure that had suppressed the subject.")
    lifted_at: str


@router.post(
    "/unsuppress",
    response_model=UnsuppressOut,
    summary="Accept an erased subject's events again (they came back with consent)",
    description="Takes one user or company off the suppression list; audited with the API "
    "key id and the reason. 404: the subject is not suppressed in this workspace.",
)
def post_unsuppress(body: UnsuppressBody, caller: CallerDep, engine: EngineDep) -> Any:
    kind, subject = (
        ("user", body.user_id) if body.user_id is not None else ("company", body.company_id)
    )
    try:
        lifted = suppressions.lift(
            engine, caller.workspace_id, kind, str(subject), caller.actor, body.reason
        )
    except ConfigError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return UnsuppressOut(**lifted)
