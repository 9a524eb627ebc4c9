"""What validation on write costs the FHIR API: the same writes with the write validator and without it.

Run: .venv/bin/python bench/bench_write_validation.py   (prints per-request times and their ratio, one run)

Measured in-process (ASGI, SQLite in a temporary folder): a single CarePlan create, and the transaction Bundle of a
whole shared plan (`fixtures/samples/plans/kip-slagelse-botilbud.json` through `transaction_from_plan`), each as
the gateway runs them (validation against R4 core and the declared profiles, referential integrity) and with the
validator taken out of `FhirService`.
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.api import create_app
from gateway.config import Settings
from mappings.documents.plan import parse_plan_document
from mappings.plan import PlanContext, transaction_from_plan

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "samples" / "plans" / "kip-slagelse-botilbud.json"
PATIENT = {"resourceType": "Patient", "id": "bench", "gender": "female"}
CAREPLAN = {"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": {"reference": "Patient/bench"}}


async def per_request(http: httpx.AsyncClient, method: str, url: str, body: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            response = await http.request(method, url, json=copy.deepcopy(body))
            assert response.status_code in (200, 201), response.text
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


async def measure(validating: bool, bundle: dict[str, Any]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(data_dir=Path(folder), insecure_no_auth=True))
        if not validating:
            app.state.fhir.validator = None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as http:
            await http.put("/fhir/Patient/bench", json=PATIENT)
            create = await per_request(http, "POST", "/fhir/CarePlan", CAREPLAN, 30)
            transaction = await per_request(http, "POST", "/fhir", bundle, 10)
    return create, transaction


async def main() -> None:
    document = parse_plan_document(orjson.loads(SAMPLE.read_bytes()))
    bundle = transaction_from_plan(document, PlanContext())
    await measure(True, bundle)  # warm: compile the plans once
    runs = [(await measure(True, bundle), await measure(False, bundle)) for _ in range(3)]  # alternated: fair noise
    on = tuple(min(run[0][i] for run in runs) for i in range(2))
    off = tuple(min(run[1][i] for run in runs) for i in range(2))
    print(f"plan transaction: {len(bundle['entry'])} entries")
    for label, with_validation, without in zip(("CarePlan create", "plan transaction"), on, off, strict=True):
        print(
            f"  {label:18} validated {with_validation * 1000:7.2f} ms   not validated {without * 1000:7.2f} ms   "
            f"ratio {with_validation / without:4.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
