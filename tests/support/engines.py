"""An upgraded, empty store database of either kind, for tests parametrised over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.store.database import make_engine, upgrade
from gateway.store.tables import metadata


@contextmanager
def empty_engine(request: pytest.FixtureRequest, folder: Path) -> Iterator[Engine]:
    """`request.param` "sqlite" (a file in `folder`) or "postgresql" (the session's database, emptied: it is shared
    by every PostgreSQL test of the session)."""
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    try:
        yield engine
    finally:
        engine.dispose()
