"""The read path in process: what an authenticated `GET /fhir/CarePlan/{id}` costs against an unauthenticated one.

No server and no sockets: each request goes through the whole ASGI app (middleware, routing, FastAPI's dependencies,
the threadpool hop, the store) by `httpx.ASGITransport` on one event loop, one request at a time, so the figures
are the gateway's CPU per request without uvicorn or a load generator sharing the machine's two cores.

Two apps on one SQLite file holding a few plans of `bench.plan_corpus`: one with authentication (a bearer token of
the plans' author: token check, client lookup, scopes, the access rule, an AuditEvent per read), one with
`insecure_no_auth` (no token, no audit). Their stages measured alone, on the same database:
  token      `TokenVerifier.verify` of the bearer token (ES256 signature, claims)
  caller     `access_of`, `access_for`'s whole work: failed-login check, registry, token, rate limit, `RequestGuard`
  service    `FhirService.read` with the guard (read transaction, access rule, AuditEvent written after)
  service_open  the same read without a guard (one read transaction, nothing written)
  audit      one read's AuditEvent built and written in a transaction of its own
  select     the CarePlan's row read in a read transaction, without and with the access rule (`select_visible`)
Figures are process CPU time (`time.process_time`, every thread) per request in ms, the median of interleaved
rounds (each round measures every figure once, in an order shuffled by the seed).

`run(seed, quick)` is the `python -m bench` suite; `python -m bench.read_path [--quick] [--profile N]` runs it alone
and prints JSON, or profiles N authenticated requests with pyinstrument (the bench extra) and prints the tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.requests import Request

from bench import plan_corpus
from gateway.api import create_app
from gateway.api.security import Authorities, access_of
from gateway.clock import SystemClock, UuidSource
from gateway.fhir.access import OPEN, AuditRecord
from gateway.security.guard import RequestGuard
from gateway.store.ports import Viewer

BASE = "http://gateway.test"


def run(seed: int, quick: bool) -> dict[str, Any]:
    rounds, per_round = (3, 20) if quick else (7, 200)
    with _apps(plans=1 if quick else 3) as (secured, open_app, plan_id, headers):
        figures = asyncio.run(_measure(secured, open_app, plan_id, headers, seed, rounds, per_round))
    authenticated, unauthenticated = figures["http_authenticated"], figures["http_unauthenticated"]
    return {
        "rounds": rounds,
        "requests_per_round": per_round,
        "ms_per_request": figures,
        "ratio_authenticated_to_unauthenticated": round(authenticated / unauthenticated, 2),
        "authenticated_reads_per_s_per_core": round(1000 / authenticated, 1),
        "headline": {
            "authenticated read ms": authenticated,
            "unauthenticated read ms": unauthenticated,
            "authenticated / unauthenticated": round(authenticated / unauthenticated, 2),
        },
    }


@contextmanager
def _apps(plans: int) -> Iterator[tuple[FastAPI, FastAPI, str, dict[str, str]]]:
    """A throw-away data folder with a few plans, and the two apps on it (authenticated and open)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-read-"))
    try:
        settings = plan_corpus.settings_for(folder, f"sqlite:///{folder / 'gateway.db'}")
        engine = plan_corpus.build(settings, plans)
        plan_id = plan_corpus.one_of_each(engine)["careplan"]
        secured = create_app(settings, engine=engine, clock=SystemClock(), ids=UuidSource(), migrate=False)
        open_settings = settings.model_copy(update={"insecure_no_auth": True})
        open_app = create_app(open_settings, engine=engine, clock=SystemClock(), ids=UuidSource(), migrate=False)
        yield secured, open_app, plan_id, plan_corpus.bearer(settings, "region", datetime.now(UTC))
        engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _request(app: FastAPI, headers: dict[str, str]) -> Request:
    """A Starlette request as `access_of` sees one (for the `caller` stage, without routing)."""
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {
        "type": "http",
        "app": app,
        "method": "GET",
        "path": "/fhir/CarePlan/x",
        "headers": raw,
        "client": ("127.0.0.1", 5000),
        "server": ("gateway.test", 80),
        "scheme": "http",
        "query_string": b"",
        "root_path": "",
    }
    return Request(scope)


async def _measure(
    secured: FastAPI, open_app: FastAPI, plan_id: str, headers: dict[str, str], seed: int, rounds: int, per_round: int
) -> dict[str, float]:
    path = f"/fhir/CarePlan/{plan_id}"
    authorities: Authorities = secured.state.authorities
    assert authorities.verifier is not None
    verifier = authorities.verifier
    token = headers["Authorization"].split(" ", 1)[1]
    request = _request(secured, headers)
    guard = access_of(request)
    assert isinstance(guard, RequestGuard)
    service = secured.state.fhir
    with service.store.reading() as tx:
        stored = tx.read_current("CarePlan", plan_id)
    record = AuditRecord("R", "read", (stored,))  # as a read records it

    transports = {
        "http_authenticated": (httpx.ASGITransport(app=secured), headers),
        "http_unauthenticated": (httpx.ASGITransport(app=open_app), {}),
    }
    clients = {
        name: httpx.AsyncClient(transport=transport, base_url=BASE, headers=given)
        for name, (transport, given) in transports.items()
    }

    async def over_http(name: str) -> None:
        response = await clients[name].get(path)
        assert response.status_code == 200, response.text

    stages: dict[str, Callable[[], object]] = {
        "token": lambda: verifier.verify(token),
        "caller": lambda: access_of(request),
        "service": lambda: service.read(BASE + "/fhir", "CarePlan", plan_id, guard),
        "service_open": lambda: service.read(BASE + "/fhir", "CarePlan", plan_id, OPEN),
        "audit": lambda: guard.record_alone(record),
        "select": lambda: _select(service.store, plan_id, None),
        "select_visible": lambda: _select(service.store, plan_id, guard.viewer),
    }
    names = [*clients, *stages]
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(seed)
    for _ in range(per_round // 4 or 1):  # warm-up: connections, compiled statements, the client registry
        for name in clients:
            await over_http(name)
        for stage in stages.values():
            stage()
    for _ in range(rounds):
        order.shuffle(names)
        for name in names:
            started = time.process_time()
            if name in clients:
                for _ in range(per_round):
                    await over_http(name)
            else:
                stage = stages[name]
                for _ in range(per_round):
                    stage()
            samples[name].append((time.process_time() - started) * 1000 / per_round)
    for client in clients.values():
        await client.aclose()
    return {name: round(statistics.median(values), 3) for name, values in sorted(samples.items())}


def _select(store: Any, plan_id: str, viewer: Viewer | None) -> None:
    with store.reading() as tx:
        tx.read_current("CarePlan", plan_id, viewer)


def profile(requests: int) -> str:
    """pyinstrument's trees of `requests` authenticated reads through the ASGI app (after a warm-up), and of the
    two stages alone (pyinstrument samples the main thread only, and the read runs on the threadpool)."""
    from pyinstrument import Profiler

    trees = []
    with _apps(plans=1) as (secured, _open_app, plan_id, headers):
        path = f"/fhir/CarePlan/{plan_id}"
        request = _request(secured, headers)
        guard = access_of(request)

        async def reads(count: int) -> None:
            transport = httpx.ASGITransport(app=secured)
            async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
                for _ in range(count):
                    (await client.get(path)).raise_for_status()

        work: dict[str, Callable[[], object]] = {
            "HTTP (main thread only)": lambda: asyncio.run(reads(requests)),
            "access_of": lambda: [access_of(request) for _ in range(requests)],
            "FhirService.read": lambda: [
                secured.state.fhir.read(BASE + "/fhir", "CarePlan", plan_id, guard) for _ in range(requests)
            ],
        }
        asyncio.run(reads(50))
        for title, job in work.items():
            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            job()
            profiler.stop()
            trees.append(f"=== {title}, {requests} requests\n" + profiler.output_text(unicode=True, show_all=False))
    return "\n".join(trees)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--profile", type=int, metavar="N", help="profile N authenticated reads instead")
    arguments = parser.parse_args()
    if arguments.profile:
        print(profile(arguments.profile))
        return
    print(json.dumps(run(arguments.seed, arguments.quick), indent=2), file=sys.stdout)


if __name__ == "__main__":
    main()
