"""Alembic environment: the engine is handed over by eventsync.store.connection.upgrade."""

from alembic import context

from eventsync.store import account_tables  # noqa: F401 -- its tables join the metadata
from eventsync.store.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
