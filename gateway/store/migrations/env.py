"""Alembic environment: runs on the connection `gateway.store.database.upgrade` hands in, or on the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from gateway.store.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()  # its pooled connection would otherwise stay open until garbage collection


run()
