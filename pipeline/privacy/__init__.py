"""Privacy operations (DESIGN §7): erasure, access export and retention as plain
functions over the event store and the destinations. The Dagster jobs
(pipeline/privacy_jobs.py), the sensors, the HTTP API and the CLI all call them.

- `ledger`: request state machine, per-step progress and the append-only audit log.
- `erasure`: suppress, purge the store, staging, quarantine, earlier access exports,
  rewrite exported days, verify.
- `access_export`: one subject's events and profile as CSV.
- `retention`: purge events older than the workspace's retention days.
"""
