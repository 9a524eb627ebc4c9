"""`CarePlan?status=active` under the access rule at N plans: what a filtered search costs against an unfiltered one.

Writes 100 shared plans (the Slagelse sample, one citizen each) through `PlanService` as the region, the
citizen's consent naming Slagelse's social worker in one of them, and copies their rows (every table the search and
the access rule read, ids suffixed `.k`) until there are N plans: a plan write costs ~0.2 s on a busy machine, and
the search cares about rows, not how they came. Then times the same search, through the app
with authentication on, for the author (sees all N), for Slagelse (sees N/100), for an organisation named nowhere
(sees none), and without authentication (no filter at all); and the store's search alone (the SQL, without token,
audit and HTTP) with and without the access rule. Prints medians and the ratio to the unfiltered search, measured
in one run. `--plans 0` measures a store loaded before (`--database` naming it).

Run: .venv/bin/python bench/bench_consent_search.py [--plans 10000] [--database postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text

from gateway.api import create_app
from gateway.clock import FixedClock, UuidSource
from gateway.config import Settings
from gateway.fhir.access import OpenAccess
from gateway.security.tokens import LocalSigningKey, issue_token
from gateway.store.dates import format_instant
from gateway.store.ports import ResourceStore, Viewer
from gateway.store.search_query import Criterion, SearchQuery
from gateway.store.tables import metadata

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SAMPLE = Path(__file__).parents[1] / "fixtures" / "samples" / "plans" / "kip-slagelse-botilbud.json"
REGION = "265161000016000"
CLIENTS = {  # the plan's author, the organisation named in one plan of a hundred, and one named nowhere
    "region": REGION,
    "slagelse": "375431000016008",
    "x": "111111111111",
}


class Author(OpenAccess):
    """The region writing without audit events (the bench measures searches, not the load)."""

    author = REGION
    viewer = Viewer(REGION, format_instant(NOW))


def plan_document(number: int) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(json.loads(SAMPLE.read_text("utf-8")))
    document["source"]["value"] = f"KIP-BENCH-{number:06d}"
    document["citizen"]["cpr"] = f"{number % 28 + 1:02d}01{number % 100:02d}{number // 100 % 10000:04d}"
    document["crisis_plans"] = []
    document["consent"]["period"] = {"start": "2025-03-04", "end": "2099-12-31"}
    document["consent"]["permitted"] = ["soc1"] if number % 100 == 0 else ["fact1"]
    document["consent"]["denied"] = []
    return document


def bearer(settings: Settings, client: str) -> dict[str, str]:
    token = issue_token(
        LocalSigningKey.load_or_create(settings.data_dir),
        client_id=client,
        scopes="system/CarePlan.rs",
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        now=NOW,
        lifetime=timedelta(days=1),
    )
    return {"Authorization": f"Bearer {token}"}


SEED = 100
#: Every table a search under the access rule reads, with the columns holding resource (or plan) ids.
COPIED = {
    "fhir_resource": ("id",),
    "fhir_search_token": ("id",),
    "fhir_search_reference": ("id", "target_id"),
    "fhir_search_date": ("id",),
    "fhir_search_string": ("id",),
    "plan": ("plan_id", "patient_id", "source_value"),
    "plan_member": ("id", "plan_id"),
    "plan_grant": ("plan_id",),
    "resource_access": ("id",),
}


def load(settings: Settings, plans: int) -> None:
    app = create_app(settings, clock=FixedClock(NOW), ids=UuidSource())
    started = time.perf_counter()
    for number in range(min(plans, SEED)):
        app.state.plans.accept("http://bench/fhir", plan_document(number), access=Author())
    print(f"  {min(plans, SEED)} plans written ({(time.perf_counter() - started) / SEED * 1000:.1f} ms each)")
    engine = app.state.engine
    with engine.begin() as connection:
        for copy_number in range(1, -(-plans // SEED)):
            for table, id_columns in COPIED.items():
                columns = [column.name for column in metadata.tables[table].columns]
                chosen = ", ".join(f"{c} || :suffix" if c in id_columns else c for c in columns)
                statement = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table}"
                connection.execute(
                    text(f"{statement} WHERE {id_columns[0]} NOT LIKE :seeded"),
                    {"suffix": f".{copy_number}", "seeded": "%.%"},
                )
    print(f"  copied to {plans} plans in {time.perf_counter() - started:.0f} s")


async def timed(settings: Settings, headers: dict[str, str], rounds: int) -> tuple[float, str]:
    app = create_app(settings, clock=FixedClock(NOW), ids=UuidSource(), migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        times, total = [], ""
        for _ in range(rounds + 3):
            started = time.perf_counter()
            response = await client.get("/fhir/CarePlan?status=active", headers=headers)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            # a search answers its total only where counting is cheap (issue 18): else the page's size is shown
            body = response.json()
            total = str(body["total"]) if "total" in body else f"page {len(body.get('entry', []))}"
    return statistics.median(times[3:]), total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--database", default=None)
    parser.add_argument("--rounds", type=int, default=50)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    clients = [
        {
            "client_id": name,
            "organisation": {"name": name, "sor": sor, "gln": "5790000209354"},
            "scopes": ["system/*.rs"],
        }
        for name, sor in CLIENTS.items()
    ]
    (folder / "clients.yaml").write_text(yaml.safe_dump({"clients": clients}), "utf-8")
    database = arguments.database or f"sqlite:///{folder / 'bench.db'}"
    settings = Settings(
        data_dir=folder, database_url=database, rate_limit_per_minute=1e9, rate_limit_burst=10**9, worker_enabled=False
    )
    print(f"writing {arguments.plans} plans to {database.split('://')[0]} ...")
    load(settings, arguments.plans)
    open_settings = settings.model_copy(update={"insecure_no_auth": True})
    unfiltered, all_plans = asyncio.run(timed(open_settings, {}, arguments.rounds))
    print(f"CarePlan?status=active, median of {arguments.rounds}:")
    print(f"  no authentication (no filter) {unfiltered * 1000:8.2f} ms  total {all_plans}")
    for client in CLIENTS:
        headers = bearer(settings, client)
        median, total = asyncio.run(timed(settings, headers, arguments.rounds))
        print(f"  as {client:<27} {median * 1000:8.2f} ms  total {total:<6} ratio {median / unfiltered:.2f}")
    print("the store's search alone (SQL: count and first page), the cases interleaved:")
    store = create_app(settings, clock=FixedClock(NOW), ids=UuidSource(), migrate=False).state.fhir.store
    viewers: dict[str, Viewer | None] = {"no access rule": None}
    viewers |= {f"as {client}": Viewer(sor, format_instant(NOW)) for client, sor in CLIENTS.items()}
    medians = sql_times(store, viewers, arguments.rounds)
    for name, median in medians.items():
        print(f"  {name:<29} {median * 1000:8.2f} ms  ratio {median / medians['no access rule']:.2f}")
    print(f"(database: {database})")


def sql_times(store: ResourceStore, viewers: dict[str, Viewer | None], rounds: int) -> dict[str, float]:
    query = SearchQuery("CarePlan", (Criterion("status", "token", "", ("active",)),))
    times: dict[str, list[float]] = {name: [] for name in viewers}
    with store.reading() as tx:
        for _ in range(rounds + 3):
            for name, viewer in viewers.items():
                started = time.perf_counter()
                tx.search(query, viewer)
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values[3:]) for name, values in times.items()}


if __name__ == "__main__":
    main()
