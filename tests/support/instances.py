"""Gateway instances sharing one database (SQLite in a folder, or a fresh PostgreSQL database): what another
instance wrote must be seen by this one. The `database` fixture of `tests/gateway/services/conftest.py`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from tests.support import scenario


@dataclass(frozen=True)
class Database:
    folder: Path
    url: str | None  # None: the SQLite database in the folder
    apps: list[FastAPI] = field(default_factory=list)

    def app(self) -> FastAPI:
        """Another gateway instance on the database: its own engine."""
        app = create_app(
            Settings(data_dir=self.folder, insecure_no_auth=True, database_url=self.url), ids=SequenceIds()
        )
        self.apps.append(app)
        return app


def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database for instances, with the flow's directory in its folder; engines disposed before it goes."""
    scenario.write_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgresql" else None
    shared = Database(tmp_path, url)
    yield shared
    for app in shared.apps:
        app.state.engine.dispose()  # before the database is dropped
