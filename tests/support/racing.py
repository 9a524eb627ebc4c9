"""Conditional creates racing from separate processes (issue 14): each process opens its own engine on the same
database, waits at a barrier, then sends one conditional create; the result goes back on a queue. Spawned (not
forked) processes, so nothing of the parent's engine, threads or event loop is shared."""

from __future__ import annotations

import multiprocessing
from typing import Any

from gateway.clock import SystemClock, UuidSource
from gateway.fhir.interactions import FhirService
from gateway.store.database import make_engine
from gateway.store.sql import SqlResourceStore

CRITERIA = "identifier=urn:oid:1.2.208.176.1.2|2509479989"
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "2509479989"}],
    "name": [{"family": "Østergård", "given": ["Søren", "Ærling"]}],
}


def create_once(url: str, barrier: Any, results: Any) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        service = FhirService(SqlResourceStore(engine, SystemClock()), SystemClock(), UuidSource())
        with engine.connect():  # connected before the barrier: the race is the create, not the connect
            pass
        barrier.wait(timeout=60)
        response = service.create("http://gateway.test/fhir", dict(PATIENT), if_none_exist=CRITERIA)
        results.put((response.status, response.body["id"] if response.body else None))
    except Exception as error:  # the parent asserts on what every process said
        results.put((0, repr(error)))
    finally:
        engine.dispose()


def race(url: str, processes: int) -> list[tuple[int, str | None]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    started = [context.Process(target=create_once, args=(url, barrier, results)) for _ in range(processes)]
    for process in started:
        process.start()
    said = [results.get(timeout=120) for _ in started]
    for process in started:
        process.join(timeout=60)
    return said
