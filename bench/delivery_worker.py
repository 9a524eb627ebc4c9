"""The delivery worker's own cost per notice (issue 18), in process: its settings before and after, in one run.

A gateway on SQLite with 4 citizens, each with a plan; every round queues 6 stays (an A01 and an A03 each: 4
notices per A03 to 3 recipients) through the real intake, untimed, and then times `Worker.run` (built by
`build_worker`, the AuditEvent per attempt included, as inside `gateway serve`) until every notice queued is
acknowledged. The receivers are an `httpx.MockTransport` that answers with a MedCom Acknowledgement after
`RECEIVER_MS` of waiting (what the fixtures' validation took over loopback), so the CPU time is the gateway's
worker plus building the acknowledgement, and the wall time shows what sends in parallel buy.

Figures per notice, medians over rounds, the variants interleaved in a seeded order: process CPU time and wall
time. The variants are `Settings`: `before` (no consent decision kept, the overdue-acknowledgement check after
every send, one send at a time) and the levers one by one.

    python -m bench.delivery_worker [--quick]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.api import create_app
from gateway.clock import SystemClock, UuidSource
from gateway.config import Settings
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.services.delivery import build_worker, delivery_audit
from mappings.notices.acknowledgement import acknowledgement_from_message
from tests.support import scenario

HL7 = "x-application/hl7-v2+er7"
RECEIVER_MS = 8.0
CITIZENS = tuple(f"01017{n:05d}" for n in range(4))

#: Settings changed per variant; `before` is the worker as issue 18 measured it.
_ONE_AT_A_TIME = {"delivery_concurrency": 1}
_BEFORE = _ONE_AT_A_TIME | {"delivery_kept_consent_decisions": 0, "delivery_ack_check_seconds": 0.0}
VARIANTS: dict[str, dict[str, Any]] = {
    "before": _BEFORE,
    "consent kept": _BEFORE | {"delivery_kept_consent_decisions": 4096},
    "acks 1/s": _BEFORE | {"delivery_ack_check_seconds": 1.0},
    "both": _ONE_AT_A_TIME,
    "both, 4 lanes": {"delivery_concurrency": 4},
}


def _receiver(clock: SystemClock) -> httpx.MockTransport:
    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(RECEIVER_MS / 1000)
        message = orjson.loads(request.content)
        ack = acknowledgement_from_message(message, code="ok", sent_at=clock.now(), base_url="http://receiver.test")
        return httpx.Response(200, json=ack)

    return httpx.MockTransport(answer)


async def _queue(app: Any, stays: int, first: int) -> int:
    """Queue `stays` stays (A01 then A03) over the citizens; the number of notices queued."""
    queued = 0
    for stay in range(first, first + stays):
        cpr = CITIZENS[stay % len(CITIZENS)]
        for sample, prefix in (("adt_a01_inpatient_8859-1.hl7", "A"), ("adt_a03_discharge_8859-1.hl7", "D")):
            body = scenario.adt_for(sample, cpr, f"{prefix}{stay:06d}", f"V{stay:06d}")
            result = await app.state.intake.accept(body, HL7)
            queued += len(result.notices)
    return queued


async def _deliver(app: Any, settings: Settings, expected: int) -> tuple[float, float]:
    """Run a worker until `expected` notices were sent; (CPU seconds, wall seconds)."""
    clock, ids = SystemClock(), UuidSource()
    outbox = SqlOutbox(app.state.engine, on_attempt=delivery_audit(clock, ids))
    stop = asyncio.Event()
    sent = 0

    def observe(*_: Any) -> None:
        nonlocal sent
        sent += 1
        if sent >= expected:
            stop.set()

    async with httpx.AsyncClient(transport=_receiver(clock)) as http:
        worker = build_worker(outbox, http, settings, clock, ids, observe=observe)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.wait_for(worker.run(stop), timeout=600)
        return time.process_time() - cpu, time.perf_counter() - wall


async def measure(seed: int, quick: bool) -> dict[str, Any]:
    rounds, stays = (1, 2) if quick else (5, 6)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        base = Settings(data_dir=Path(folder), insecure_no_auth=True)
        scenario.write_directory(Path(folder) / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
        app = create_app(base)
        for cpr in CITIZENS:
            app.state.plans.accept("http://gateway.test", scenario.plan_for(cpr))
        figures: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []} for name in VARIANTS}
        notices: dict[str, int] = {}
        first = 0
        for _ in range(rounds):
            order = list(VARIANTS)
            rng.shuffle(order)
            for name in order:
                queued = await _queue(app, stays, first)
                first += stays
                cpu, wall = await _deliver(app, base.model_copy(update=VARIANTS[name]), queued)
                figures[name]["cpu"].append(cpu * 1000 / queued)
                figures[name]["wall"].append(wall * 1000 / queued)
                notices[name] = queued
        app.state.engine.dispose()
    per_notice = {
        name: {kind: statistics.median(values) for kind, values in measured.items()}
        for name, measured in figures.items()
    }
    before = per_notice["before"]
    return {
        "rounds": rounds,
        "notices_per_round": notices,
        "receiver_ms": RECEIVER_MS,
        "ms_per_notice": per_notice,
        "vs_before": {
            name: {kind: value / before[kind] for kind, value in measured.items()}
            for name, measured in per_notice.items()
        },
        "headline": {f"{name} cpu ms/notice": measured["cpu"] for name, measured in per_notice.items()}
        | {f"{name} wall ms/notice": measured["wall"] for name, measured in per_notice.items()},
    }


def run(seed: int, quick: bool) -> dict[str, Any]:
    return asyncio.run(measure(seed, quick))


def main() -> None:
    result = run(18, "--quick" in sys.argv)
    print(f"per notice, median of {result['rounds']} rounds ({result['receiver_ms']} ms receiver wait):")
    for name, measured in result["ms_per_notice"].items():
        ratio = result["vs_before"][name]
        print(
            f"  {name:<14} cpu {measured['cpu']:6.2f} ms ({ratio['cpu']:4.2f}x)"
            f"   wall {measured['wall']:6.2f} ms ({ratio['wall']:4.2f}x)"
        )


if __name__ == "__main__":
    main()
