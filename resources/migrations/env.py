"""Alembic environment: the engine is handed over by resources.store.upgrade."""

from alembic import context

from resources.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
