"""`/v1/privacy/...`: erasure and access-export requests of the caller's workspace.

A request is written to the ledger (status `received`, with an audit row naming the
API key id) before the 202 answer; `privacy_request_sensor` launches its job. Another
workspace's request id is 404, like an unknown one. Writes need the scope
`privacy:write`, reads `privacy:read`. Rate limit per key (pipeline/api/guard.py):
`EVENTSYNC_PRIVACY_RATE` requests per minute, burst `EVENTSYNC_PRIVACY_BURST`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.api.auth import Caller, EngineDep, PrivacyReader, PrivacyWriter
from pipeline.api.errors import responses
from pipeline.api.events import ID_PATTERN
from pipeline.ingest.rules import check_subject_id
from pipeline.privacy import ledger, runner
from resources.errors import NotFound

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
MAX_REQUEST_ID_LENGTH = 64


def _subject_id(value: str) -> str:
    reason = check_subject_id("id", value, max_length=ledger.MAX_ID_LENGTH)
    if reason:
        raise ValueError(reason.removeprefix("'id' "))
    return value


IdStr = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ledger.MAX_ID_LENGTH,
        json_schema_extra={"pattern": ID_PATTERN},
        description="No control characters, no leading or trailing whitespace.",
    ),
    AfterValidator(_subject_id),
]


def _at_most_max_ids(value: Any) -> Any:
    if isinstance(value, list) and len(value) > ledger.MAX_IDS:
        raise ValueError(f"at most {ledger.MAX_IDS} ids per request, got {len(value)}")
    return value


HALF = ledger.MAX_IDS // 2


class ErasureBody(BaseModel):
    """At most MAX_IDS ids in one list, or HALF in each when both lists are used: a
    rule JSON Schema can state exactly (a sum of two lengths it cannot)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["user_ids"],
                    "properties": {"user_ids": {"minItems": 1}, "company_ids": {"maxItems": 0}},
                },
                {
                    "required": ["company_ids"],
                    "properties": {"company_ids": {"minItems": 1}, "user_ids": {"maxItems": 0}},
                },
                {
                    "required": ["user_ids", "company_ids"],
                    "properties": {
                        "user_ids": {"minItems": 1, "maxItems": HALF},
                        "company_ids": {"minItems": 1, "maxItems": HALF},
                    },
                },
            ]
        },
    )

    user_ids: list[IdStr] = Field(
        default_factory=list, max_length=ledger.MAX_IDS, description="User ids to erase."
    )
    company_ids: list[IdStr] = Field(
        default_factory=list, max_length=ledger.MAX_IDS, description="Company ids to erase."
    )

    @field_validator("user_ids", "company_ids", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return _at_most_max_ids(value)

    @model_validator(mode="after")
    def _some(self) -> ErasureBody:
        if not self.user_ids and not self.company_ids:
            raise ValueError("name at least one id in user_ids or company_ids")
        if (
            self.user_ids
            and self.company_ids
            and max(map(len, (self.user_ids, self.company_ids))) > HALF
        ):
            raise ValueError(
                f"with both user_ids and company_ids, at most {HALF} of each "
                f"(at most {ledger.MAX_IDS} ids per request)"
            )
        return self


class AccessExportBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["user_id"]}, {"required": ["company_id"]}]},
    )

    # Strings when given (null is refused): exactly one of the two.
    user_id: IdStr = Field(default=None)  # type: ignore[assignment]
    company_id: IdStr = Field(default=None)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _exactly_one(self) -> AccessExportBody:
        if (self.user_id is None) == (self.company_id is None):
            raise ValueError("give exactly one of user_id or company_id")
        return self


class PrivacyRequestOut(BaseModel):
    id: str
    kind: Literal["erasure", "access_export"]
    status: Literal[ledger.STATUSES]  # type: ignore[valid-type]
    user_ids: list[str]
    company_ids: list[str]
    attempt: int
    progress: dict[str, Any] = Field(
        description="Per step (rows removed, files written ...) and per destination "
        "(days rewritten, tombstones, owner action required)."
    )
    result_location: str | None = Field(description="Where the access-export CSV is.")
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
    req = ledger.create_request(
        engine, caller.workspace_id, kind, users, companies, actor=caller.actor
    )
    return _out(req)


def _get(engine: Any, caller: Caller, request_id: str, kind: str) -> ledger.PrivacyRequest:
    if len(request_id) > MAX_REQUEST_ID_LENGTH or not request_id.isprintable():
        raise NotFound(f"no {kind.replace('_', ' ')} request with this id")
    try:
        return ledger.get_request(engine, request_id, caller.workspace_id, kind)
    except NotFound:
        raise NotFound(f"no {kind.replace('_', ' ')} request {request_id!r}") from None


def _retry(engine: Any, caller: Caller, request_id: str, kind: str) -> PrivacyRequestOut:
    _get(engine, caller, request_id, kind)
    return _out(runner.retry(engine, request_id, caller.actor, caller.workspace_id))


_POST_DOC = (
    "202: the request is stored (status `received`) and will run shortly. 422: the body "
    f"is malformed (more than {ledger.MAX_IDS} ids, empty, over-long or ill-formed ids, "
    "unknown fields); nothing is stored. 429: rate limit, see Retry-After. Needs the "
    "scope `privacy:write`."
)
Limit = Annotated[int, Query(ge=1, le=500)]
WRITE = responses(400, 401, 403, 413, 422, 429)
READ = responses(401, 403, 404, 413, 422, 429)
RETRY = responses(401, 403, 404, 409, 413, 422, 429)


@router.post(
    "/erasures",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Erase users and/or companies",
    description=_POST_DOC,
    responses=WRITE,
)
def post_erasure(body: ErasureBody, caller: PrivacyWriter, engine: EngineDep) -> Any:
    return _create(engine, caller, "erasure", body.user_ids, body.company_ids)


@router.get(
    "/erasures",
    response_model=PrivacyRequestList,
    summary="List erasure requests",
    responses=responses(401, 403, 413, 422, 429),
)
def list_erasures(caller: PrivacyReader, engine: EngineDep, limit: Limit = 100) -> Any:
    reqs = ledger.list_requests(engine, caller.workspace_id, kind="erasure", limit=limit)
    return PrivacyRequestList(requests=[_out(r) for r in reqs])


@router.get(
    "/erasures/{request_id}",
    response_model=PrivacyRequestOut,
    summary="Erasure status",
    responses=READ,
)
def get_erasure(request_id: str, caller: PrivacyReader, engine: EngineDep) -> Any:
    return _out(_get(engine, caller, request_id, "erasure"))


@router.post(
    "/erasures/{request_id}/retry",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Retry a failed erasure (same request, new attempt)",
    responses=RETRY,
)
def retry_erasure(request_id: str, caller: PrivacyWriter, engine: EngineDep) -> Any:
    return _retry(engine, caller, request_id, "erasure")


@router.post(
    "/access-exports",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Export one user's or company's data as CSV",
    description=_POST_DOC,
    responses=WRITE,
)
def post_access_export(body: AccessExportBody, caller: PrivacyWriter, engine: EngineDep) -> Any:
    users = [body.user_id] if body.user_id is not None else []
    companies = [body.company_id] if body.company_id is not None else []
    return _create(engine, caller, "access_export", users, companies)


@router.get(
    "/access-exports",
    response_model=PrivacyRequestList,
    summary="List access exports",
    responses=responses(401, 403, 413, 422, 429),
)
def list_access_exports(caller: PrivacyReader, engine: EngineDep, limit: Limit = 100) -> Any:
    reqs = ledger.list_requests(engine, caller.workspace_id, kind="access_export", limit=limit)
    return PrivacyRequestList(requests=[_out(r) for r in reqs])


@router.get(
    "/access-exports/{request_id}",
    response_model=PrivacyRequestOut,
    summary="Access export status and location",
    responses=READ,
)
def get_access_export(request_id: str, caller: PrivacyReader, engine: EngineDep) -> Any:
    return _out(_get(engine, caller, request_id, "access_export"))


@router.post(
    "/access-exports/{request_id}/retry",
    status_code=202,
    response_model=PrivacyRequestOut,
    summary="Retry a failed access export",
    responses=RETRY,
)
def retry_access_export(request_id: str, caller: PrivacyWriter, engine: EngineDep) -> Any:
    return _retry(engine, caller, request_id, "access_export")
