"""Dagster resources and the stores behind them: event store, destinations, privacy ledger."""
