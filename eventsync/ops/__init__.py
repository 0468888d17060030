"""Operating eventsync: Prometheus metrics of the API and the pipeline, alerts on
incidents (webhook, e-mail), the log format. Plain library: no Dagster here (the run
queue's numbers are collected in pipeline/metrics.py)."""
