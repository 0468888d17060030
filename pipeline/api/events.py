"""`POST /v1/events`: strict ingestion over HTTP (the same rules as `eventsync ingest`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.api.auth import EngineDep, WorkspaceDep
from pipeline.ingest.rules import ingest_events

MAX_EVENTS_PER_REQUEST = 1_000

router = APIRouter(prefix="/v1", tags=["events"])


class EventBatch(BaseModel):
    """Events are checked one by one by the ingestion rules (not by this model), so one
    bad event is reported by its index instead of failing the whole request."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(
        description=f"At most {MAX_EVENTS_PER_REQUEST} events. Each: event_id, event_type, "
        "event_name, user_id, occurred_at (ISO-8601 with timezone, or integer epoch "
        "milliseconds), optional company_id, session_id, context fields, properties "
        "(JSON object), nps_score (0..10, required for nps_response).",
    )

    @field_validator("events", mode="before")
    @classmethod
    def _at_most_max(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_EVENTS_PER_REQUEST:
            raise ValueError(
                f"at most {MAX_EVENTS_PER_REQUEST} events per request, got {len(value)}; "
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
        'retried batch never duplicates). 422: the body is not `{"events": [...]}` or '
        f"holds more than {MAX_EVENTS_PER_REQUEST} events. 401: missing or invalid API key."
    ),
)
def post_events(batch: EventBatch, workspace_id: WorkspaceDep, engine: EngineDep) -> IngestResponse:
    # A plain `def`: FastAPI runs it in its thread pool, so blocking database work does
    # not stall the event loop.
    result = ingest_events(engine, workspace_id, batch.events, default_source="backend-http")
    return IngestResponse(
        accepted=result.accepted,
        rejected=[
            RejectedEvent(index=r.index, event_id=r.event_id, reason=r.reason)
            for r in result.rejections
        ],
    )
