"""SqlOutbox against the same contract suite as MemoryOutbox, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway.delivery.outbox import Outbox
from gateway.delivery.outbox_sql import SqlOutbox
from tests.gateway.delivery.outbox_contract import OutboxContract


class TestSqlOutbox(OutboxContract):
    @pytest.fixture
    def outbox(self, outbox_engine: Engine) -> Outbox:
        return SqlOutbox(outbox_engine)
