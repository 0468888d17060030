"""A privacy request's progress, typed: its steps (status, timestamps, result), the
erasure's per-destination progress, the in-flight days journal, tombstones, the runs
that owned it and an access export's output.

The runner loads it once per step (with the request row) and the step changes it in
memory; `transitions.save_progress` writes it back, fenced on the step's attempt and
owner. Stored as one JSON document in `privacy_requests.progress`, in the shape the
HTTP API has always shown (a step's result fields sit beside its status).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from eventsync.privacy.states import DestinationStatus, FailureReason, StepStatus

_STEP_FIELDS = ("status", "started_at", "finished_at", "error")


class StepRecord(BaseModel):
    """One step of the request. `result` is what the step returned (counts, lists,
    `verified_at`); stored flat beside the step's own fields."""

    status: StepStatus
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _unflatten(cls, data: Any) -> Any:
        if isinstance(data, dict) and "result" not in data:
            own = {k: data[k] for k in _STEP_FIELDS if k in data}
            return {**own, "result": {k: v for k, v in data.items() if k not in own}}
        return data

    @model_serializer(mode="wrap")
    def _flatten(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        result = data.pop("result", {})
        return {**{k: v for k, v in data.items() if v is not None}, **result}

    @property
    def done(self) -> bool:
        return self.status == StepStatus.DONE


class DestinationProgress(BaseModel):
    """An erasure's work at one sync's destination."""

    destination: str = ""  # where (a folder, s3://..., gs://...), once it was opened
    status: DestinationStatus = DestinationStatus.RUNNING
    days_rewritten: list[str] = Field(default_factory=list)
    days_without_rows: list[str] = Field(default_factory=list)
    rows_removed: int = 0
    files_written: int = 0
    error: str | None = None
    reason: str | None = None
    owner_action: str | None = None


class Tombstone(BaseModel):
    """What a tombstone at one write-only destination asks its owner to clean."""

    syncs: dict[str, list[str]] = Field(default_factory=dict)
    access_exports: list[str] = Field(default_factory=list)


class RunRecord(BaseModel):
    """An owner that started (or re-executed) an attempt."""

    run_id: str
    attempt: int


class Removal(BaseModel):
    """An access export's file deleted by a later erasure."""

    by: str
    note: str


class AccessOutput(BaseModel):
    """Where an access export's CSV was written: a sync's destination (`sync_id`,
    `key`) or a local file (`local_path`)."""

    location: str
    sync_id: str | None = None
    key: str | None = None
    local_path: str | None = None
    removed: Removal | None = None

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class Failure(BaseModel):
    """Why the last attempt failed."""

    reason: FailureReason
    attempt: int
    step: str | None = None


class RequestProgress(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    steps: dict[str, StepRecord] = Field(default_factory=dict)
    destinations: dict[str, DestinationProgress] = Field(default_factory=dict)
    # sync id -> day -> the day's row count before the first attempt touched it: a
    # resumed attempt finds the days it started and counts what it removed exactly.
    in_flight: dict[str, dict[str, int | None]] = Field(default_factory=dict)
    tombstones: dict[str, Tombstone] = Field(default_factory=dict)
    owner_action_required: dict[str, str] = Field(default_factory=dict)
    runs: list[RunRecord] = Field(default_factory=list)
    output: AccessOutput | None = None
    failure: Failure | None = None

    @classmethod
    def load(cls, text: str | None) -> RequestProgress:
        return cls.model_validate_json(text or "{}")

    def dump(self) -> dict[str, Any]:
        """The JSON document (what the API shows and the store keeps)."""
        data = self.model_dump(mode="json")
        for optional in ("output", "failure"):
            if data[optional] is None:
                del data[optional]
        return data

    def dumps(self) -> str:
        return json.dumps(self.dump(), sort_keys=True)

    def step_done(self, step: str) -> bool:
        record = self.steps.get(step)
        return record is not None and record.done

    def destination(self, sync_id: str, where: str) -> DestinationProgress:
        """The sync's entry, created (status running) on first use."""
        if sync_id not in self.destinations:
            self.destinations[sync_id] = DestinationProgress(destination=where)
        entry = self.destinations[sync_id]
        entry.destination = where or entry.destination
        return entry

    def tombstoned_syncs(self) -> list[str]:
        return [s for s, d in self.destinations.items() if d.status == DestinationStatus.TOMBSTONE]
