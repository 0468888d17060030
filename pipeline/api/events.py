"""`POST /v1/events`: strict ingestion over HTTP (the same rules as `eventsync ingest`).

The body model documents the event object fully (`Event`), but the batch is validated
event by event by pipeline/ingest/rules.py, so one bad event is reported by its index
and the valid ones are stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from assets.event_limits import (
    MAX_EVENTS_PER_BATCH,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    STRING_LIMITS,
)
from assets.event_schema import EVENT_TYPES, NPS_MAX, NPS_MIN
from pipeline.api.auth import EngineDep, EventsWriter
from pipeline.api.errors import responses
from pipeline.ingest import ingest_events

# The id rule of pipeline/ingest/rules.py: check_subject_id, as a regular expression.
ID_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"

router = APIRouter(prefix="/v1", tags=["events"])


def _id(name: str, doc: str) -> Any:
    return Field(
        min_length=1,
        max_length=STRING_LIMITS[name],
        description=f"{doc} No control characters, no leading or trailing whitespace.",
        json_schema_extra={"pattern": ID_PATTERN},
    )


def _text(name: str, doc: str) -> Any:
    return Field(default=None, max_length=STRING_LIMITS[name], description=doc)


class Event(BaseModel):
    """One event, as the ingestion rules accept it (documentation of the contract)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = _id("event_id", "Unique per workspace; a retried id is not stored twice.")
    event_type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    event_name: str = Field(min_length=1, max_length=STRING_LIMITS["event_name"])
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
        description=f"Custom data: a JSON object of at most {MAX_PROPERTIES_BYTES} bytes "
        f"(compact UTF-8 JSON) and {MAX_PROPERTIES_DEPTH} levels of nesting.",
    )
    nps_score: int | None = Field(
        default=None, ge=NPS_MIN, le=NPS_MAX, description="Required for nps_response."
    )
    workspace_id: Any = Field(default=None, description="Ignored (set by the server).")
    received_at: Any = Field(default=None, description="Ignored (set by the server).")
    schema_version: Any = Field(default=None, description="Ignored (set by the server).")


_EVENTS_SCHEMA = {
    "type": "array",
    "maxItems": MAX_EVENTS_PER_BATCH,
    "items": {"anyOf": [{"$ref": "#/components/schemas/Event"}, {}]},
    "description": f"At most {MAX_EVENTS_PER_BATCH} events, each an `Event`. An item that "
    "is not a valid `Event` is refused alone, listed in `rejected` with its index and "
    "reason; the others are stored.",
}


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[Any], WithJsonSchema(_EVENTS_SCHEMA)]

    @field_validator("events", mode="before")
    @classmethod
    def _at_most_max(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_EVENTS_PER_BATCH:
            raise ValueError(
                f"at most {MAX_EVENTS_PER_BATCH} events per request, got {len(value)}; "
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
        f"at most {MAX_EVENTS_PER_BATCH} events (else 422), and per event the limits of "
        "`Event` (else that event is rejected). Needs the scope `events:write`; rate "
        "limited per key (`EVENTSYNC_INGEST_RATE` requests a minute, default 600)."
    ),
    responses=responses(400, 401, 403, 413, 422, 429),
)
def post_events(batch: EventBatch, caller: EventsWriter, engine: EngineDep) -> IngestResponse:
    # A plain `def`: FastAPI runs it in its thread pool, so blocking database work does
    # not stall the event loop. The rate limit was taken by the guard, before the body.
    result = ingest_events(engine, caller.workspace_id, batch.events, default_source="backend-http")
    return IngestResponse(
        accepted=result.accepted,
        rejected=[
            RejectedEvent(index=r.index, event_id=r.event_id, reason=r.reason)
            for r in result.rejections
        ],
    )
