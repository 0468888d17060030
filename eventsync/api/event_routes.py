"""`POST /v1/events`: strict ingestion over HTTP (the same rules as `eventsync ingest`).

The body model documents the event object fully (`Event`), but the batch is validated
event by event by eventsync/ingest/rules.py, so one bad event is reported by its index
and the valid ones are stored.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.concurrency import run_in_threadpool

from eventsync import subjects
from eventsync.api.auth import EngineDep, EventsWriter
from eventsync.api.error_handlers import responses
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.event_limits import LIMITS, SUBJECT_FIELDS
from eventsync.ingest import ingest_events
from eventsync.privacy.suppressions import SUBJECT_ERASED

# The id rule of eventsync/ingest/rules.py: check_subject_id, as a regular expression.
ID_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"

# How the schema states the subject-id rule (user_id, company_id and the privacy ids).
SUBJECT_ID_RULE = (
    "No control, format or other invisible characters (zero-width, BOM, bidi controls, "
    "private use, spaces other than U+0020), no leading or trailing whitespace. Ids "
    "compare exactly after Unicode NFC."
)


class _ThreadParsedRequest(Request):
    """A request whose JSON body is parsed in a worker thread: a 5 MiB batch takes tens
    of milliseconds to parse, which on the event loop would hold every other request
    (other workspaces' too) for as long."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await run_in_threadpool(json.loads, body)
        return self._json


class _ThreadParsedRoute(APIRoute):
    """FastAPI's custom-route pattern: the handler gets a `_ThreadParsedRequest`."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_ThreadParsedRequest(request.scope, request.receive))

        return route


router = APIRouter(prefix="/v1", tags=["events"], route_class=_ThreadParsedRoute)


def _id(name: str, doc: str) -> Any:
    if name in SUBJECT_FIELDS:  # the one subject-id rule (eventsync/subjects.py)
        rule, pattern = SUBJECT_ID_RULE, subjects.PATTERN
    else:
        rule, pattern = "No control characters, no leading or trailing whitespace.", ID_PATTERN
    return Field(
        min_length=1,
        max_length=LIMITS.width(name),
        description=f"{doc} {rule}",
        json_schema_extra={"pattern": pattern},
    )


def _text(name: str, doc: str) -> Any:
    return Field(default=None, max_length=LIMITS.width(name), description=doc)


class Event(BaseModel):
    """One event, as the ingestion rules accept it (documentation of the contract)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = _id("event_id", "Unique per workspace; a retried id is not stored twice.")
    event_type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    event_name: str = Field(min_length=1, max_length=LIMITS.event_name)
    user_id: str = _id("user_id", "The user the event is about.")
    occurred_at: AwareDatetime | int = Field(
        description="ISO-8601 with a timezone, or integer epoch milliseconds; between "
        "2000-01-01 and now + 1 day. Decides the event's UTC day."
    )
    company_id: Annotated[str, _id("company_id", "Required for identify_company.")] | None = None
    session_id: Annotated[str, _id("session_id", "")] | None = None
    source: str | None = _text("source", "Default: backend-http.")
    hostname: str | None = _text("hostname", "")
    pathname: str | None = _text("pathname", "")
    user_agent: str | None = _text("user_agent", "")
    browser: str | None = _text("browser", "")
    os: str | None = _text("os", "")
    device_type: str | None = _text("device_type", "")
    country_code: str | None = _text("country_code", "")
    properties: dict[str, Any] | None = Field(
        default=None,
        description=f"Custom data: a JSON object of at most {LIMITS.properties_bytes} bytes "
        f"(compact UTF-8 JSON) and {LIMITS.properties_depth} levels of nesting. The "
        "properties of identify_user / identify_company events merge into the subject's "
        f"profile, which holds at most {LIMITS.profile_bytes} bytes of JSON: an identify "
        "that would make it larger is refused (per event, naming the limit).",
    )
    nps_score: int | None = Field(
        default=None, ge=LIMITS.nps_min, le=LIMITS.nps_max, description="Required for nps_response."
    )
    workspace_id: Any = Field(default=None, description="Ignored (set by the server).")
    received_at: Any = Field(default=None, description="Ignored (set by the server).")
    schema_version: Any = Field(default=None, description="Ignored (set by the server).")


_EVENTS_SCHEMA = {
    "type": "array",
    "maxItems": LIMITS.events_per_batch,
    "items": {"anyOf": [{"$ref": "#/components/schemas/Event"}, {}]},
    "description": f"At most {LIMITS.events_per_batch} events, each an `Event`. An item that "
    "is not a valid `Event` is refused alone, listed in `rejected` with its index and "
    "reason; the others are stored.",
}


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[Any], WithJsonSchema(_EVENTS_SCHEMA)]

    @field_validator("events", mode="before")
    @classmethod
    def _at_most_max(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > LIMITS.events_per_batch:
            raise ValueError(
                f"at most {LIMITS.events_per_batch} events per request, got {len(value)}; "
                "split the batch"
            )
        return value


class RejectedEvent(BaseModel):
    index: int = Field(description="Position of the event in the request's `events` list.")
    event_id: str | None
    reason: str


class IngestResponse(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]


@router.post(
    "/events",
    response_model=IngestResponse,
    summary="Ingest a batch of events",
    description=(
        "200 means the batch was processed: valid events are stored, every rejected one is "
        "listed with its index and reason (an event_id already stored is a rejection, so a "
        "retried batch never duplicates). Limits: the body at most "
        "`EVENTSYNC_EVENTS_MAX_BODY_BYTES` (default 5 MiB, else 413 before it is read), "
        f"at most {LIMITS.events_per_batch} events (else 422), and per event the limits of "
        "`Event` (else that event is rejected). Needs the scope `events:write`; rate "
        "limited per key (`EVENTSYNC_INGEST_RATE` requests a minute, default 600) and per "
        "workspace (`EVENTSYNC_INGEST_BYTES_RATE` MiB of bodies a minute, default 30; one "
        "batch in progress per API process, the others wait). 503 "
        "(with Retry-After) means the event store is unavailable and the batch is not "
        "acknowledged: send it again (an event stored by an attempt whose answer was lost "
        "comes back as a duplicate, never stored twice)."
    ),
    responses=responses(400, 401, 403, 413, 422, 429),
)
def post_events(
    batch: EventBatch, caller: EventsWriter, engine: EngineDep, request: Request
) -> IngestResponse:
    # A plain `def`: FastAPI runs it in its thread pool, so blocking database work does
    # not stall the event loop. The rate limit was taken by the guard, before the body.
    result = ingest_events(engine, caller.workspace_id, batch.events, default_source="backend-http")
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.events_ingested.inc(result.accepted)
        for r in result.rejections:
            cause = "erased" if r.reason == SUBJECT_ERASED else "invalid"
            metrics.events_rejected.labels(cause).inc()
    return IngestResponse(
        accepted=result.accepted,
        rejected=[
            RejectedEvent(index=r.index, event_id=r.event_id, reason=r.reason)
            for r in result.rejections
        ],
    )
