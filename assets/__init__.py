"""The software-defined assets over UTC date partitions (`events.py`: `events_daily`,
stage + validate, and `events_export`, write to the destination), their checks and
their partitions. Nothing is imported here: `assets.partitions` sits below the run
control (`pipeline.runs`) that `assets.events` uses."""
