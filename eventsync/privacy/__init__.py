"""Privacy operations as plain functions over the event store and the destinations:
erasure, access export, retention. The Dagster jobs and sensors
(pipeline/privacy_jobs.py, pipeline/privacy_sensors.py), the HTTP API and the CLI all call them.

- `runner`: the one driver of a request's lifecycle (claim, start, steps, finish, fail,
  retry, reap); `states` (the enums and the table of legal moves), `transitions` (each
  move one compare-and-set on (request, attempt, owner), audited), `request_store`
  (requests as stored, audit log), `progress` (the typed progress document),
  `step_context` (what a step works with), `lease` (a running request's owner and
  heartbeat).
- `steps`: an erasure's steps in order; `suppressions` (refused at the door),
  `purge` (the store), `erasure` (files: staging, quarantine, access exports, exported
  days), `tombstones`, `verification`.
- `access_export`: one subject's events and profile as CSV.
- `retention`: purge events older than the workspace's retention days.
- `portal`: what the console's privacy portal adds (lists and CSV files of ids with each
  refused id named, erasures in requests of at most MAX_IDS, an access export read back).

The subject-id rule they share with ingestion is eventsync/subjects.py.
"""
