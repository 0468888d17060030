"""`/v1/privacy/...`: erasure and access-export requests of the caller's workspace.

A request is written to the ledger (status `received`, with an audit row naming the
API key id) before the 202 answer; `privacy_request_sensor` launches its job. Another
workspace's request id is 404, like an unknown one. Writes need the scope
`privacy:write`, reads `privacy:read`. Rate limit per key (eventsync/api/guard.py):
`EVENTSYNC_PRIVACY_RATE` requests per minute, burst `EVENTSYNC_PRIVACY_BURST`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from eventsync import subjects
from eventsync.api.auth import Caller, EngineDep, PrivacyReader, PrivacyWriter
from eventsync.api.error_handlers import responses
from eventsync.api.event_routes import SUBJECT_ID_RULE
from eventsync.errors import NotFound
from eventsync.event_limits import LIMITS
from eventsync.privacy import request_store, runner, suppressions
from eventsync.privacy.states import RequestKind, RequestStatus
from eventsync.subjects import problem as subject_problem

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
MAX_REQUEST_ID_LENGTH = 64
RequestId = Annotated[str, Path(max_length=MAX_REQUEST_ID_LENGTH)]


def _subject_id(value: str) -> str:
    reason = subject_problem(value)
    if reason:
        raise ValueError(f"the id {reason}")
    return value


# The one subject-id rule (eventsync/subjects.py), as the schema says it: what ingestion
# stores today. An id stored by an older version that breaks the rule is erased or
# exported with `eventsync privacy erase/export`, which accept any id the workspace holds.
IdStr = Annotated[
    str,
    Field(
        min_length=1,
        max_length=LIMITS.subject_id,
        json_schema_extra={"pattern": subjects.PATTERN},
        description=SUBJECT_ID_RULE,
    ),
    AfterValidator(_subject_id),
]


def _at_most_max_ids(value: Any) -> Any:
    if isinstance(value, list) and len(value) > request_store.MAX_IDS:
        raise ValueError(f"at most {request_store.MAX_IDS} ids per request, got {len(value)}")
    return value


HALF = request_store.MAX_IDS // 2


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
        default_factory=list, max_length=request_store.MAX_IDS, description="User ids to erase."
    )
    company_ids: list[IdStr] = Field(
        default_factory=list, max_length=request_store.MAX_IDS, description="Company ids to erase."
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
                f"(at most {request_store.MAX_IDS} ids per request)"
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


_IDS_DOC = (
    "while the request is in flight (received, queued, running, failed); empty once it "
    "is completed or erased: eventsync then keeps the subjects only as keyed hashes"
)


class PrivacyRequestOut(BaseModel):
    id: str
    kind: RequestKind
    status: RequestStatus
    user_ids: list[str] = Field(description=f"The user ids {_IDS_DOC}.")
    company_ids: list[str] = Field(description=f"The company ids {_IDS_DOC}.")
    user_count: int = Field(description="How many user ids the request names.")
    company_count: int = Field(description="How many company ids the request names.")
    ids_removed: bool = Field(
        description="The request is done and its ids are no longer kept (only keyed hashes)."
    )
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


def _out(req: request_store.PrivacyRequest) -> PrivacyRequestOut:
    return PrivacyRequestOut(**{k: v for k, v in req.to_dict().items() if k != "workspace_id"})


def _create(engine: Any, caller: Caller, kind: RequestKind, users: list, companies: list) -> Any:
    req = request_store.create_request(
        engine, caller.workspace_id, kind, users, companies, actor=caller.actor
    )
    return _out(req)


def _get(
    engine: Any, caller: Caller, request_id: str, kind: RequestKind
) -> request_store.PrivacyRequest:
    if len(request_id) > MAX_REQUEST_ID_LENGTH or not request_id.isprintable():
        raise NotFound(f"no {kind.replace('_', ' ')} request with this id")
    try:
        return request_store.get_request(engine, request_id, caller.workspace_id, kind)
    except NotFound:
        raise NotFound(f"no {kind.replace('_', ' ')} request {request_id!r}") from None


def _retry(engine: Any, caller: Caller, request_id: str, kind: RequestKind) -> PrivacyRequestOut:
    _get(engine, caller, request_id, kind)
    return _out(runner.retry(engine, request_id, caller.actor, caller.workspace_id))


_POST_DOC = (
    "202: the request is stored (status `received`) and will run shortly. 422: the body "
    f"is malformed (more than {request_store.MAX_IDS} ids, empty, over-long or ill-formed ids, "
    "unknown fields); nothing is stored. 429: rate limit, see Retry-After. Needs the "
    "scope `privacy:write`."
)
Limit = Annotated[int, Query(ge=1, le=500)]
WRITE = responses(400, 401, 403, 413, 422, 429)
READ = responses(401, 403, 404, 413, 422, 429)
RETRY = responses(401, 403, 404, 409, 413, 422, 429)


def _list(engine: Any, caller: Caller, kind: RequestKind, limit: int) -> PrivacyRequestList:
    reqs = request_store.list_requests(engine, caller.workspace_id, kind=kind, limit=limit)
    return PrivacyRequestList(requests=[_out(r) for r in reqs])


def _post_request(path: str, summary: str) -> Any:
    """The POST route that stores a new request of one kind (202: it runs shortly)."""
    return router.post(
        path,
        status_code=202,
        response_model=PrivacyRequestOut,
        summary=summary,
        description=_POST_DOC,
        responses=WRITE,
    )


def _request_routes(
    path: str, kind: RequestKind, name: str, listing: str, status: str, retry: str
) -> None:
    """The list, status and retry routes of one kind of request (after its POST, so the
    schema lists them in this order); `name` makes their operation ids."""

    def list_requests(caller: PrivacyReader, engine: EngineDep, limit: Limit = 100) -> Any:
        return _list(engine, caller, kind, limit)

    def get_request(request_id: RequestId, caller: PrivacyReader, engine: EngineDep) -> Any:
        return _out(_get(engine, caller, request_id, kind))

    def retry_request(request_id: RequestId, caller: PrivacyWriter, engine: EngineDep) -> Any:
        return _retry(engine, caller, request_id, kind)

    router.add_api_route(
        path,
        list_requests,
        methods=["GET"],
        response_model=PrivacyRequestList,
        summary=listing,
        responses=responses(401, 403, 413, 422, 429),
        name=f"list_{name}s",
    )
    router.add_api_route(
        path + "/{request_id}",
        get_request,
        methods=["GET"],
        response_model=PrivacyRequestOut,
        summary=status,
        responses=READ,
        name=f"get_{name}",
    )
    router.add_api_route(
        path + "/{request_id}/retry",
        retry_request,
        methods=["POST"],
        status_code=202,
        response_model=PrivacyRequestOut,
        summary=retry,
        responses=RETRY,
        name=f"retry_{name}",
    )


@_post_request("/erasures", "Erase users and/or companies")
def post_erasure(body: ErasureBody, caller: PrivacyWriter, engine: EngineDep) -> Any:
    return _create(engine, caller, RequestKind.ERASURE, body.user_ids, body.company_ids)


_request_routes(
    "/erasures",
    RequestKind.ERASURE,
    "erasure",
    "List erasure requests",
    "Erasure status",
    "Retry a failed erasure, or one whose runner died (same request, new attempt)",
)


@_post_request("/access-exports", "Export one user's or company's data as CSV")
def post_access_export(body: AccessExportBody, caller: PrivacyWriter, engine: EngineDep) -> Any:
    users = [body.user_id] if body.user_id is not None else []
    companies = [body.company_id] if body.company_id is not None else []
    return _create(engine, caller, RequestKind.ACCESS_EXPORT, users, companies)


_request_routes(
    "/access-exports",
    RequestKind.ACCESS_EXPORT,
    "access_export",
    "List access exports",
    "Access export status and location",
    "Retry a failed access export",
)


class UnsuppressBody(AccessExportBody):
    # The one subject of AccessExportBody, and why.
    reason: str = Field(
        default="", max_length=500, description="Why (e.g. the consent), kept in the audit log."
    )


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
    responses=responses(401, 403, 404, 413, 422, 429),
)
def post_unsuppress(body: UnsuppressBody, caller: PrivacyWriter, engine: EngineDep) -> Any:
    kind, subject = (
        ("user", body.user_id) if body.user_id is not None else ("company", body.company_id)
    )
    lifted = suppressions.lift(
        engine, caller.workspace_id, kind, str(subject), caller.actor, body.reason
    )
    return UnsuppressOut(**lifted)
