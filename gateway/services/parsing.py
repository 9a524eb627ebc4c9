"""Inbound parsing off the event loop, each input within a time budget.

Parsing an input is CPU work whose cost grows with the input (hl7apy needs about 0.4 ms per HL7 element; issue 16
measured 65 s for one 0.5 MB A01). Run on the event loop, one such input stalls every request and the built-in
delivery worker. So intake hands parsing to a `Parsing`:

* `ProcessParsing` (the default) runs the parser in a pool of worker processes (pebble's `ProcessPool`): the
  event loop only waits, the CPU work runs beside it, and an input over its time budget has its worker process
  killed and replaced (threads cannot be stopped), answered as `too-costly`. One pool per worker count is shared
  by everything in the process (like the event loop, it is a process-wide resource), stopped at exit or when the
  server shuts down (`stop_pools`).
* `ThreadParsing` runs it in a worker thread (for `GATEWAY_INTAKE_PROCESSES=0`): off the event loop too, but the
  budget only bounds the wait; the thread finishes its work. The parsers' own size and element limits
  (`gateway.inbound.Limits`) keep that work small.

Both raise the parser's `IssueError` unchanged. Errors cross the process boundary as data (`IssueError` does not
pickle), and documents as the frozen dataclasses they are.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from pebble import ProcessExpired, ProcessPool

from gateway.inbound import Limits, parse_hl7v2, parse_oioxml
from gateway.inbound.fhir_message import parse_fhir_input
from mappings.issues import Issue, IssueError


class Parsing(Protocol):
    async def parse(self, kind: str, body: bytes, content_type: str, limits: Limits) -> Any:
        """The document `body` holds (`kind`: hl7v2, oioxml or fhir); `IssueError` when it is not one."""
        ...


def parse_input(kind: str, body: bytes, content_type: str, limits: Limits) -> Any:
    """The parser for `kind` (pure; the function worker processes run). FHIR: a CareCommunication message, or a
    receiver's Acknowledgement of a notice (`gateway.services.acknowledgements`)."""
    if kind == "hl7v2":
        return parse_hl7v2(body, limits=limits)
    if kind == "oioxml":
        return parse_oioxml(body, limits=limits)
    return parse_fhir_input(body, content_type, limits=limits)


def _parse_in_worker(kind: str, body: bytes, content_type: str, limits: Limits) -> tuple[Any, ...]:
    try:
        return ("document", parse_input(kind, body, content_type, limits))
    except IssueError as error:
        return ("issues", error.issues, error.status, dict(error.headers))


def _over_budget(seconds: float, what: str) -> IssueError:
    return IssueError.single(
        "too-costly",
        f"the input could not be parsed within {seconds:g} s ({what}); it is refused as too costly",
        expression="(body)",
        message_id="intake.over-time-budget",
    )


class ProcessParsing:
    def __init__(self, workers: int, budget_seconds: float) -> None:
        self.workers = workers
        self.budget_seconds = budget_seconds

    async def parse(self, kind: str, body: bytes, content_type: str, limits: Limits) -> Any:
        future = _shared_pool(self.workers).schedule(
            _parse_in_worker, args=(kind, body, content_type, limits), timeout=self.budget_seconds
        )
        try:
            outcome = await asyncio.wrap_future(future)
        except FutureTimeout:
            raise _over_budget(self.budget_seconds, "its worker process was stopped") from None
        except ProcessExpired as expired:  # the worker died under it (e.g. out of memory)
            raise _over_budget(self.budget_seconds, f"its worker process ended: {expired}") from None
        if outcome[0] == "issues":
            issues: tuple[Issue, ...] = outcome[1]
            raise IssueError(issues, status=outcome[2], headers=outcome[3])
        return outcome[1]


class ThreadParsing:
    def __init__(self, budget_seconds: float) -> None:
        self.budget_seconds = budget_seconds

    async def parse(self, kind: str, body: bytes, content_type: str, limits: Limits) -> Any:
        work = asyncio.to_thread(parse_input, kind, body, content_type, limits)
        try:
            return await asyncio.wait_for(work, self.budget_seconds)
        except TimeoutError:
            raise _over_budget(self.budget_seconds, "its thread goes on to the end of it") from None


def parsing(processes: int, budget_seconds: float) -> Parsing:
    """`ProcessParsing` with `processes` workers, or `ThreadParsing` when `processes` is 0."""
    return ProcessParsing(processes, budget_seconds) if processes > 0 else ThreadParsing(budget_seconds)


_pools: dict[int, ProcessPool] = {}
_pools_lock = threading.Lock()


def _shared_pool(workers: int) -> ProcessPool:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None or not pool.active:
            # forkserver: workers are forked from a clean server process, never from this one with its threads
            # and open database connections. Each worker is replaced after 500 inputs to bound its memory.
            context = multiprocessing.get_context("forkserver")
            pool = _pools[workers] = ProcessPool(
                max_workers=workers, max_tasks=500, initializer=_warm_up, context=context
            )
        return pool


def _warm_up() -> None:
    """Load the parsers' libraries once per worker, not on its first input."""
    try:
        parse_hl7v2(b"MSH|^~\\&|W|W|W|W|20240101||ADT^A01|1|P|2.5\rPID|1||0101010101^^^CPR\rPV1|1|I", limits=Limits())
    except IssueError:
        pass


@atexit.register
def stop_pools() -> None:
    """Stop the worker processes (at exit, and when a server shuts down: a signal may end it before atexit)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.stop()  # type: ignore[no-untyped-call]  # pebble leaves it unannotated
            pool.join(timeout=5)
        _pools.clear()
