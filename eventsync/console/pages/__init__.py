"""The console's pages, one module per area; each has a `router` and registers its
navigation entry (eventsync/console/nav.py)."""
