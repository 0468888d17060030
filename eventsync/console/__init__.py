"""The customer console: server-rendered pages (FastAPI + Jinja2, plain HTML forms, no
script, every asset served from here) mounted by the API at /console.

- app.py: the console app, its error pages, security headers; `mount` wires it in.
- web.py: sessions and cookies, CSRF, who is signed in and what they may do, rendering.
- nav.py: the navigation, built from the pages that register themselves.
- pages/: one module per area (auth, account, syncs, privacy, team, keys, audit_log);
  sync_form.py builds the Data Sync settings form from the sync model.
- templates/, static/: the HTML and the one stylesheet.

The accounts, sessions, roles, audit log, syncs and privacy requests it shows are plain
library code (eventsync/accounts/, eventsync/access.py, eventsync/audit.py,
eventsync/syncs/, eventsync/privacy/), the functions the API and the CLI call.
"""
