"""The destination probe behind `eventsync sync test S`: can we write, and did the
server really apply the configured encryption (read from its answer, not assumed)?
If not, say exactly what is wrong. List/read/delete and the listing of unfinished
uploads are reported for information: export needs none of them (without them,
stale parts of a re-exported day stay in the bucket, unreferenced by the day's
manifest, and only the bucket's lifecycle rule removes a killed run's uploads)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from eventsync.clock import utcnow
from eventsync.destinations.interface import Destination, DestinationError, ObjectWritten

PROBE_PREFIX = "_eventsync/test/"

_DOCS = "see docs/destinations.md"
# The fix for each problem whose fix depends on the provider (s3, gcs, local).
ADVICE: dict[str, dict[str, str]] = {
    "no_such_bucket": {
        "s3": "create the bucket (`aws s3 mb s3://BUCKET`), or fix the bucket name in the "
        "destination URI; with EVENTSYNC_S3_ENDPOINT_URL set, the bucket must exist on "
        "that endpoint",
        "gcs": "create the bucket (`gcloud storage buckets create gs://BUCKET`), or fix the "
        "bucket name in the destination URI",
    },
    "access_denied": {
        "s3": "grant the export identity s3:PutObject and s3:AbortMultipartUpload on the "
        f"prefix (IAM policy of the role, or the bucket policy); {_DOCS}",
        "gcs": "grant the export identity storage.objects.create on the bucket (for "
        f"example roles/storage.objectCreator); {_DOCS}",
        "local": "let the user running the exports create folders and files there",
    },
    "kms_key_refused": {
        "s3": "check the KMS key id (--kms-key-id) and allow the export identity "
        "kms:GenerateDataKey on the key (key policy or IAM)",
        "gcs": "check the CMEK key name (--gcs-kms-key-name) and grant the bucket's Cloud "
        "Storage service agent roles/cloudkms.cryptoKeyEncrypterDecrypter on the key",
    },
    "bad_credentials": {
        "s3": "the AWS credentials are missing or were rejected: check the sync's role ARN "
        "and external id, or the ambient credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY, the instance or pod role)",
        "gcs": "the Google credentials are missing or were rejected: set up Application "
        "Default Credentials (`gcloud auth application-default login`, or "
        "GOOGLE_APPLICATION_CREDENTIALS naming a service account key file)",
    },
    "endpoint_unreachable": {
        "s3": "check EVENTSYNC_S3_ENDPOINT_URL (unset it for AWS itself), the region, and "
        "that this machine reaches that endpoint (DNS, firewall, proxy)",
        "gcs": "check STORAGE_EMULATOR_HOST (unset it for Google Cloud itself) and that "
        "this machine reaches storage.googleapis.com (DNS, firewall, proxy)",
    },
    "encryption_not_applied": {
        "s3": "the server accepted the write but its answer did not confirm the configured "
        "encryption: enable SSE-S3 on the server, or use --sse aws:kms with a key it manages",
        "gcs": "the object was not encrypted with the configured CMEK key: the key must be "
        "usable by the bucket's Cloud Storage service agent",
    },
}

# The fix for each problem whose fix is the same whatever the provider.
ANY_PROVIDER_ADVICE: dict[str, str] = {
    "unavailable": "the service kept failing with transient errors: try again later",
    "throttled": "the service kept throttling the requests: try again later",
    "not_found": "the object was not found",
    "refused": "the service refused the write: see the error",
    "exists": "the probe key already exists (should not happen: it is a fresh uuid)",
}


def provider_of(text: str) -> str:
    """ "s3", "gcs" or "local" for a destination URI or an error naming one."""
    if "gs://" in text or "GCS" in text:
        return "gcs"
    if "s3://" in text or "S3" in text:
        return "s3"
    return "local"


def advice(problem: str | None, kind: str) -> str | None:
    """The fix for `problem` on this provider (s3, gcs, local); None when there is none."""
    return ADVICE.get(problem or "", {}).get(kind) or ANY_PROVIDER_ADVICE.get(problem or "")


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


def check_destination(destination: Destination, manifest_key: str | None = None) -> dict[str, Any]:
    """Write a small probe under `_eventsync/test/<uuid>.json`; report what works.
    `manifest_key`: where a day's manifest goes (the export layout's
    eventsync/engine/layout.py, which this layer does not import), for the notes."""
    probe_id = uuid.uuid4().hex
    key = f"{PROBE_PREFIX}{probe_id}.json"
    body = json.dumps(
        {
            "probe": probe_id,
            "written_at": utcnow().isoformat(),
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
        kind = provider_of(destination.describe())
        result.update(problem=reason, error=str(exc), advice=advice(reason, kind))
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
        where = f" ({destination.describe(manifest_key)})" if manifest_key else ""
        result["notes"].append(
            "write-only destination: re-exported days leave old parts in place; readers "
            f"should read only the files listed in each day's manifest{where}"
        )
    uploads = _optional_uploads(destination)
    result["can_abort_stale_uploads"] = uploads.permitted if uploads else None
    if uploads and not uploads.permitted:
        result["notes"].append(uploads.note)
    prune = getattr(destination, "remove_empty_folders", None)
    if result["can_delete"] and prune is not None:  # object stores have no folders
        prune(PROBE_PREFIX)
    result["checked"] = _checked(result)
    return result


def _checked(result: dict[str, Any]) -> list[str]:
    """What the probe did, in order, for `sync test` to say."""
    enc = result["encryption"]
    if enc.get("sse"):
        how = f"with SSE {enc['sse']}" + (
            f" (key {enc['kms_key_id']})" if enc.get("kms_key_id") else ""
        )
    elif enc.get("cmek_key_name"):
        how = f"with the CMEK key {enc['cmek_key_name']}"
    else:
        how = ""
    if result["encryption_applied"]:
        verified = "the server's answer confirmed the encryption"
    elif enc.get("google_managed"):
        verified = "GCS encrypts it with a Google-managed key (nothing to confirm)"
    elif not enc:
        verified = "a local folder: no server-side encryption (the disk's own applies)"
    else:
        verified = "the server's answer did not say how it was encrypted"
    steps = [f"wrote {result['probe_key']} {how}".rstrip() + f": {verified}"]
    for name, verb in (("can_list", "listed"), ("can_read", "read it back"),
                       ("can_delete", "deleted it")):  # fmt: skip
        state = result[name]
        steps.append(
            f"{verb}: " + {True: "yes", False: "not permitted (optional)", None: "failed"}[state]
        )
    return steps


def _optional_uploads(destination: Destination) -> Any:
    """Whether a killed run's unfinished uploads can be found and aborted here."""
    try:
        return destination.abort_stale_uploads(PROBE_PREFIX)
    except (DestinationError, OSError):
        return None


def human_summary(result: dict[str, Any]) -> str:
    if not result["ok"]:
        lines = [f"FAILED: {result['destination']}: {result['problem']}", f"  {result['error']}"]
        if result.get("advice"):
            lines.append(f"  fix: {result['advice']}")
        return "\n".join(lines)
    lines = [f"ok: {result['destination']} accepts writes; checked:"]
    lines += [f"  - {step}" for step in result.get("checked", [])]
    lines += [f"  note: {n}" for n in result["notes"]]
    return "\n".join(lines)
