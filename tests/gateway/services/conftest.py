from __future__ import annotations

import pytest

from tests.support import instances

#: SQLite and PostgreSQL: gateway instances sharing one database (`tests.support.instances`).
database = pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])(instances.database)
