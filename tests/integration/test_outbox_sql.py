"""SqlOutbox against the same contract suite as MemoryOutbox, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.delivery.outbox import Outbox
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.store.database import make_engine, upgrade
from gateway.store.tables import metadata
from tests.gateway.delivery.outbox_contract import OutboxContract


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def outbox_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'outbox.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    yield engine
    engine.dispose()


class TestSqlOutbox(OutboxContract):
    @pytest.fixture
    def outbox(self, outbox_engine: Engine) -> Outbox:
        return SqlOutbox(outbox_engine)
