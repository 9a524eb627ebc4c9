"""Plan mapping and FHIR store costs, each as a ratio to the plain orjson parse + dump of the same bytes.

Run: .venv/bin/python bench/bench_plan_and_store.py   (prints per-operation times and ratios from one run)
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from gateway.api import create_app
from gateway.config import Settings
from mappings.documents.plan import parse_plan_document
from mappings.plan import PlanContext, plan_from_fhir, transaction_from_plan

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "samples" / "plans" / "kip-slagelse-botilbud.json"


def per_call(function: Callable[[], object], repeat: int) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def mapping() -> None:
    raw = SAMPLE.read_bytes()
    context = PlanContext()
    document = parse_plan_document(orjson.loads(raw))
    bundle = transaction_from_plan(document, context)
    baseline = per_call(lambda: orjson.dumps(orjson.loads(raw)), 2000)
    to_fhir = per_call(lambda: transaction_from_plan(parse_plan_document(orjson.loads(raw)), context), 200)
    back = per_call(lambda: plan_from_fhir(bundle, context), 200)
    print(f"plan document ({len(raw)} bytes, {len(bundle['entry'])} resources)")
    print(f"  orjson parse+dump        {baseline * 1e6:9.1f} µs   1.0x")
    print(f"  document -> FHIR Bundle  {to_fhir * 1e6:9.1f} µs  {to_fhir / baseline:5.1f}x")
    print(f"  FHIR Bundle -> document  {back * 1e6:9.1f} µs  {back / baseline:5.1f}x")


async def store() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(data_dir=Path(folder), insecure_no_auth=True))
        transport = httpx.ASGITransport(app=app)
        plan = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p"},
            "period": {"start": "2026-01-01"},
            "identifier": [{"system": "urn:x", "value": "1"}],
        }
        body = orjson.dumps(plan)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            n = 300
            start = time.perf_counter()
            ids = [
                (
                    await client.post("/fhir/CarePlan", content=body, headers={"content-type": "application/fhir+json"})
                ).json()["id"]
                for _ in range(n)
            ]
            create = (time.perf_counter() - start) / n
            start = time.perf_counter()
            for plan_id in ids:
                await client.get(f"/fhir/CarePlan/{plan_id}")
            read = (time.perf_counter() - start) / n
            start = time.perf_counter()
            for _ in range(50):
                await client.get("/fhir/CarePlan?patient=p&date=ge2025&_count=20")
            search = (time.perf_counter() - start) / 50
        baseline = per_call(lambda: orjson.dumps(orjson.loads(body)), 5000)
        print(f"FHIR store on SQLite through the ASGI app ({len(body)} byte CarePlan)")
        print(f"  orjson parse+dump        {baseline * 1e6:9.1f} µs   1.0x")
        print(f"  create (validate, write) {create * 1e6:9.1f} µs  {create / baseline:7.0f}x   {1 / create:6.0f}/s")
        print(f"  read                     {read * 1e6:9.1f} µs  {read / baseline:7.0f}x   {1 / read:6.0f}/s")
        print(f"  search page of 20 of {n}  {search * 1e6:9.1f} µs  {search / baseline:7.0f}x   {1 / search:6.0f}/s")


if __name__ == "__main__":
    mapping()
    asyncio.run(store())
