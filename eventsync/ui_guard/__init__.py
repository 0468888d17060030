"""A guard in front of dagster-webserver (`eventsync ui-guard`, `make demo`'s UI): a
small reverse proxy that refuses what a page on another site, or a DNS-rebinding
name, could make a browser send to a UI that has no login.

- A `Host` other than the UI's own names: 421 (DNS rebinding needs a foreign Host).
- An `Origin` other than the UI's own origins, on any request or websocket handshake:
  403 (a foreign page's fetch, form post or websocket always carries its Origin).
- GraphQL over GET with a `query` parameter: 405 (Dagster's GraphQL runs mutations sent
  as GET, which a foreign page can trigger without CORS; the UI itself never sends
  GraphQL over GET: it POSTs, and subscribes over the /graphql websocket).

Everything else is forwarded as is, websockets (the UI's live updates) included.
docs/nginx-dagster-ui.conf applies the same three rules for nginx.
"""

from eventsync.ui_guard.proxy import GuardRules, create_app

__all__ = ["GuardRules", "create_app"]
