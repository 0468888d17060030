"""Orchestration and entry points: Definitions, partitions, jobs, schedules, sensors, CLI, API."""
