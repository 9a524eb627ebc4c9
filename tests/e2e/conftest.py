"""What the end-to-end tests share: both fixture receivers as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[tuple[processes.Service, processes.Service]]:
    gp = processes.fixture("gp", tmp_path).start()
    municipality = processes.fixture("municipality", tmp_path).start()
    try:
        yield gp, municipality
    finally:
        gp.stop()
        municipality.stop()
