"""An upgraded, empty store database of either kind, for tests parametrised over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.store.database import make_engine, upgrade
from gateway.store.tables import metadata, store_generation


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
        # as the migration leaves it (0008): the write generation's one row, which every write moves
        connection.execute(store_generation.insert().values(id=1, value=0))
    try:
        yield engine
    finally:
        engine.dispose()
