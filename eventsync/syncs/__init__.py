"""Syncs: configuration, health (auto-pause, status, freshness), re-sync planning."""
