"""Intake never fails because delivery is busy (issue 18), functionally: concurrent senders post A01/A03 pairs
for one citizen while a worker delivers; no 5xx, and every notice is acknowledged. Figures for 1,000 posts come
from the bench suite `bench/intake_backlog.py` (no timing assertions here)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import load, processes, scenario

pytestmark = pytest.mark.e2e


def test_concurrent_posts_for_one_citizen_with_the_worker_running(tmp_path: Path) -> None:
    with processes.delivery_stack(tmp_path, separate_worker=True) as stack:
        api, gp, municipality = stack.api, stack.gp, stack.municipality
        assert httpx.post(f"{api.url}/plans", json=scenario.plan_document()).status_code == 201
        result = load.run(api.url, load.stays(80), senders=4)
        left, dead = load.unfinished(api.url)
        shown = [len(httpx.get(f"{r.url}/received", timeout=10).json()["messages"]) for r in (gp, municipality)]
    assert result.statuses == {202: 80}, "no 5xx, nothing refused"
    assert result.notices == 40 * 3 + 40 * 4, "A01: HN, crisis plan, coordinator; A03: HN, GP, follow-up, coordinator"
    assert result.queue_empty is not None and (left, dead) == (0, 0), "every notice acknowledged"
    # The GP fixture also plays the admitting ward (crisis plans); the municipality fixture also plays the botilbud.
    assert shown == [80, 200], "crisis plans and discharges; notifications, follow-ups and the coordinator's news"
