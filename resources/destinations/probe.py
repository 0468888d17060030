"""The destination probe behind `eventsync sync test S`: can we write, and did the
server really apply the configured encryption (read from its answer, not assumed)?
If not, say exactly what is wrong. List/read/delete and the listing of unfinished
uploads are reported for information: export needs none of them (without them,
stale parts of a re-exported day stay in the bucket, unreferenced by the day's
manifest, and only the bucket's lifecycle rule removes a killed run's uploads)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from resources.destinations.base import Destination, DestinationError, ObjectWritten

PROBE_PREFIX = "_eventsync/test/"

ADVICE = {
    "no_such_bucket": "create the bucket, or fix the bucket name in the destination URI",
    "access_denied": "grant the export identity s3:PutObject and s3:AbortMultipartUpload on the "
    "prefix (GCS: storage.objects.create); see docs/destinations.md",
    "kms_key_refused": "check the KMS key id / CMEK key name and allow the export identity "
    "kms:GenerateDataKey on it (GCS: the storage service agent needs Encrypter/Decrypter)",
    "bad_credentials": "the credentials were rejected or are missing: check the role ARN and "
    "external id or the ambient AWS credentials (S3), Application Default Credentials (GCS)",
    "endpoint_unreachable": "the storage endpoint could not be reached: check "
    "EVENTSYNC_S3_ENDPOINT_URL / STORAGE_EMULATOR_HOST and the network",
    "unavailable": "the service kept failing with transient errors: try again later",
    "throttled": "the service kept throttling the requests: try again later",
    "encryption_not_applied": "the server accepted the write but did not apply the configured "
    "encryption (its answer did not confirm it): enable SSE-S3 on the server, or use "
    "--sse aws:kms with a key it manages; a GCS CMEK key must be usable by the bucket",
    "not_found": "the object was not found",
    "refused": "the service refused the write: see the error",
    "exists": "the probe key already exists (should not happen: it is a fresh uuid)",
}


def _encryption(destination: Destination) -> dict[str, Any]:
    sse = getattr(destination, "sse", None)
    if sse is not None:
        return {"sse": sse, "kms_key_id": getattr(destination, "kms_key_id", None)}
    if hasattr(destination, "kms_key_name"):
        key = destination.kms_key_name  # type: ignore[attr-defined]
        return {"cmek_key_name": key} if key else {"google_managed": True}
    return {}


def _applied(written: ObjectWritten | None) -> bool | None:
    """True when the server's answer confirmed the configured encryption; None when
    there is nothing to confirm (local folder, Google-managed keys)."""
    if isinstance(written, ObjectWritten) and written.verified:
        return True
    return None


def _optional(fn: Any) -> tuple[bool | None, str | None]:
    """(granted, error): PermissionError means not granted; other errors are reported."""
    try:
        fn()
        return True, None
    except PermissionError:
        return False, None
    except (DestinationError, OSError) as exc:
        return None, str(exc)


def check_destination(destination: Destination) -> dict[str, Any]:
    """Write a small probe under `_eventsync/test/<uuid>.json`; report what works."""
    probe_id = uuid.uuid4().hex
    key = f"{PROBE_PREFIX}{probe_id}.json"
    body = json.dumps(
        {
            "probe": probe_id,
            "written_at": datetime.now(UTC).isoformat(),
            "by": "eventsync sync test",
        }
    ).encode()
    result: dict[str, Any] = {
        "ok": False,
        "destination": destination.describe(),
        "probe_key": key,
        "encryption": _encryption(destination),
        "encryption_applied": None,
        "can_write": False,
        "can_list": None,
        "can_read": None,
        "can_delete": None,
        "problem": None,
        "error": None,
        "advice": None,
        "notes": [],
    }
    try:
        written = destination.put_bytes(key, body, "application/json", create_only=True)
    except DestinationError as exc:
        reason = getattr(exc, "reason", "refused")
        result.update(problem=reason, error=str(exc), advice=ADVICE.get(reason))
        if reason == "encryption_not_applied":
            result["encryption_applied"] = False
        return result
    except OSError as exc:
        result.update(problem="write_failed", error=f"{type(exc).__name__}: {exc}")
        return result
    result["can_write"] = result["ok"] = True
    result["encryption_applied"] = _applied(written)
    if result["encryption_applied"]:
        result["notes"].append(
            f"the server confirmed the encryption of the probe: {written.encryption}"
            + (f" with key {written.kms_key}" if written.kms_key else "")
        )
    elif result["encryption"].get("google_managed"):
        result["notes"].append("GCS encrypts every object with a Google-managed key")

    result["can_list"], list_error = _optional(lambda: destination.list(PROBE_PREFIX))
    read: dict[str, bytes] = {}
    result["can_read"], read_error = _optional(
        lambda: read.setdefault("b", destination.get_bytes(key))
    )
    if result["can_read"] and read.get("b") != body:
        result["ok"] = False
        result.update(
            problem="read_back_differs",
            error=f"{destination.describe(key)} read back different bytes",
        )
    result["can_delete"], delete_error = _optional(lambda: destination.delete([key]))
    for name, err in (("list", list_error), ("read", read_error), ("delete", delete_error)):
        if err:
            result["notes"].append(f"{name} failed: {err}")
    if not result["can_delete"]:
        result["notes"].append(
            f"the probe {key} stays in the bucket (no delete permission); it is harmless"
        )
    if not (result["can_list"] and result["can_delete"]):
        result["notes"].append(
            "write-only destination: re-exported days leave old parts in place; readers "
            "should read the files listed in each day's _manifest.json"
        )
    uploads = _optional_uploads(destination)
    result["can_abort_stale_uploads"] = uploads.permitted if uploads else None
    if uploads and not uploads.permitted:
        result["notes"].append(uploads.note)
    return result


def _optional_uploads(destination: Destination) -> Any:
    """Whether a killed run's unfinished uploads can be found and aborted here."""
    try:
        return destination.abort_stale_uploads(PROBE_PREFIX)
    except (DestinationError, OSError):
        return None


def human_summary(result: dict[str, Any]) -> str:
    def flag(v: bool | None) -> str:
        return {True: "yes", False: "no", None: "unknown"}[v]

    if not result["ok"]:
        lines = [f"FAILED: {result['destination']}: {result['problem']}", f"  {result['error']}"]
        if result.get("advice"):
            lines.append(f"  fix: {result['advice']}")
        return "\n".join(lines)
    lines = [
        f"ok: {result['destination']} accepts writes (probe {result['probe_key']})",
        f"  encryption: {result['encryption'] or 'n/a'} "
        f"(applied by the server: {flag(result.get('encryption_applied'))})",
        f"  list: {flag(result['can_list'])}, read: {flag(result['can_read'])}, "
        f"delete: {flag(result['can_delete'])} (optional)",
    ]
    lines += [f"  note: {n}" for n in result["notes"]]
    return "\n".join(lines)
