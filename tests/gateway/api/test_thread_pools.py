"""Requests take turns at their blocking work (`Settings.request_concurrency`), the process's other blocking work
does not wait for them (issue 18: threads side by side cost each request up to twice the CPU)."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio.to_thread
import pytest
from starlette.concurrency import run_in_threadpool

from gateway.api.app import size_thread_pools
from gateway.config import Settings


def test_the_default_is_two_requests_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().request_concurrency == 2
    monkeypatch.setenv("GATEWAY_REQUEST_CONCURRENCY", "1")
    assert Settings().request_concurrency == 1


@pytest.mark.parametrize("requests", [1, 2])
def test_requests_run_that_many_at_once_and_background_work_beside_them(requests: int) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def blocking() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async def main() -> tuple[int, float]:
        size_thread_pools(8, requests)
        assert anyio.to_thread.current_default_thread_limiter().total_tokens == requests
        started = time.monotonic()
        work = [run_in_threadpool(blocking) for _ in range(6)]
        background = asyncio.create_task(asyncio.to_thread(time.sleep, 0.01))
        await asyncio.wait_for(background, 1)  # not queued behind the requests' turns
        background_done = time.monotonic() - started
        await asyncio.gather(*work)
        return most, background_done

    most_at_once, background_done = asyncio.run(main())
    assert most_at_once == requests
    assert background_done < 0.05 * 6 / requests
