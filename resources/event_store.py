"""The event store resource: the platform's event store (SQLAlchemy engine), as the
assets, jobs and sensors see it. It wraps `eventsync.store.connection`."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import Engine

from eventsync.settings import Settings, database_url, load
from eventsync.store import subject_key
from eventsync.store.connection import engine_for


class EventStoreResource(dg.ConfigurableResource):
    """The platform's event store. The URL may carry a password: configure it with
    ``dg.EnvVar("EVENTSYNC_DATABASE_URL")`` so it never lands in run config."""

    database_url: str = ""

    def url(self) -> str:
        return self.database_url or database_url()

    def engine(self) -> Engine:
        """The store's engine; a process whose subject key is not the store's is refused
        here, before any run reads or writes (eventsync/store/subject_key.py)."""
        engine = engine_for(self.url())
        subject_key.check(engine)
        return engine


def store_resource() -> EventStoreResource:
    """The event store. Its URL may hold a password: when set, it is read from the
    environment at run time (EnvVar), never copied into run config."""
    if load().is_set("database_url"):
        return EventStoreResource(database_url=dg.EnvVar(Settings.env_name("database_url")))
    return EventStoreResource()
