"""Intake under load, shared by the `bench` suites `intake_backlog` (1,000 posts, figures) and `intake_ack` (its
admissions) and by the functional test `tests/e2e/test_intake_under_load.py`.

Several senders post A01/A03 pairs (one stay each) for one citizen at once while a worker delivers: each sender
takes the next stay and posts its admission, then its discharge (a discharge before its admission is refused:
MedCom's SLHJ carries the stay's earlier notices), so the stays of the citizen interleave. The run records every
post's status and time, then waits until the gateway's queue is empty (read from `/metrics`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import scenario

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
UNFINISHED = ("pending", "sending", "sent", "dead")


def stays(posts: int, cpr: str = scenario.CPR, *, first: int = 0) -> list[tuple[bytes, bytes]]:
    """`posts / 2` stays, each an (A01, A03) pair of its own (MSH-10 and PV1-19 differ), numbered from `first`
    (stays of several citizens need numbers of their own: MSH-10 is the inbound message's identity)."""
    return [
        tuple(  # type: ignore[misc]
            scenario.adt_for(sample, cpr, f"LOAD{n:05d}{sample[4:7]}", f"{n:032x}")
            for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7")
        )
        for n in range(first, first + posts // 2)
    ]


def citizens(count: int) -> list[str]:
    """`count` synthetic CPR numbers besides the demo citizen's, odd last digit like his (male), for
    `scenario.plan_for`. Intake finds a stay's admission among a citizen's 50 newest notices to a recipient, so
    hundreds of open stays are spread over citizens rather than given to one."""
    return [f"{n % 28 + 1:02d}{n // 28 % 12 + 1:02d}80{n % 1000:03d}1" for n in range(count)]


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    started: float = 0.0
    last_post: float = 0.0
    queue_empty: float | None = None
    notices: int = 0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def unfinished(base: str) -> tuple[int, int]:
    """(notices not yet acknowledged, notices acknowledged so far... as counted by the queue gauges)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    depths = {
        sample.labels["state"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_outbox_notices"
    }
    return sum(depths.get(state, 0) for state in UNFINISHED), depths.get("dead", 0)


def drained(base: str, timeout: float, *, poll: float = 0.25) -> float | None:
    """When (`time.monotonic`, to within `poll`) the gateway's queue was seen empty; None if not within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left, _dead = unfinished(base)
        if left == 0:
            return time.monotonic()
        time.sleep(poll)
    return None


def run(base: str, inputs: Sequence[Sequence[bytes]], senders: int, *, drain_timeout: float = 300) -> LoadResult:
    """Post every input's messages in order (each input by one sender), `senders` at once; then wait for the queue."""
    result = LoadResult()
    work: queue.Queue[Sequence[bytes]] = queue.Queue()
    for stay in inputs:
        work.put(stay)
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                try:
                    stay = work.get_nowait()
                except queue.Empty:
                    return
                for body in stay:
                    started = time.perf_counter()
                    response = client.post("/messages", content=body, headers=HL7)
                    elapsed = time.perf_counter() - started
                    with lock:
                        result.latencies.append(elapsed)
                        result.statuses[response.status_code] += 1
                        if response.status_code == 202:
                            result.notices += len(response.json()["notices"])

    result.started = time.monotonic()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.last_post = time.monotonic()
    result.queue_empty = drained(base, drain_timeout)
    return result
