"""Privacy operations as plain functions over the event store and the destinations:
erasure, access export, retention. The Dagster jobs and sensors
(pipeline/defs/privacy/), the HTTP API and the CLI all call them.

- `runner`: the one driver of a request's lifecycle (claim, start, steps, finish, fail,
  retry, reap); `states` (the state machine), `ledger` (requests, progress, audit log),
  `lease` (a running request's owner and heartbeat).
- `steps`: an erasure's steps in order; `suppressions` (refused at the door),
  `purge` (the store), `erasure` (files: staging, quarantine, access exports, exported
  days), `tombstones`, `verification`.
- `access_export`: one subject's events and profile as CSV.
- `retention`: purge events older than the workspace's retention days.

The subject-id rule they share with ingestion is pipeline/subjects.py.
"""
