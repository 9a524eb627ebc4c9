"""MemoryOutbox against the outbox contract."""

from __future__ import annotations

import pytest

from gateway.delivery.outbox import Outbox
from tests.support.outbox_memory import MemoryOutbox

from .outbox_contract import OutboxContract


class TestMemoryOutbox(OutboxContract):
    @pytest.fixture
    def outbox(self) -> Outbox:
        return MemoryOutbox()
