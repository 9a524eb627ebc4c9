"""A database of N shared plans, as the REST benchmarks and the query-plan document read it.

100 seed plans (the Slagelse sample, one citizen each) are written through `PlanService` as the region, the
citizen's consent naming Slagelse's social worker in one plan of a hundred; each seed CarePlan then gets a period
(start spread over 2025-01 to 2027-09: KIP plans carry none, and `CarePlan?date=` should match some) and one in ten
the status `completed`, written through the store so its index rows follow. The seeds' rows are then copied (every
table a search, a read and the access rule read; ids suffixed `.k`) until there are N plans: a plan write costs
~0.2 s on a busy machine, and searches care about rows, not how they came. A copied row's JSON keeps the seed's ids.

Used by `bench.http_load` and `bench.query_plans`; not a test fixture (tests build their own small stores).
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, text

from gateway.api import create_app
from gateway.clock import SystemClock, UuidSource
from gateway.config import Settings
from gateway.fhir.access import OpenAccess
from gateway.security.tokens import LocalSigningKey, issue_token
from gateway.store.dates import format_instant
from gateway.store.ports import Viewer
from gateway.store.tables import metadata

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "samples" / "plans" / "kip-slagelse-botilbud.json"
REGION = "265161000016000"
#: The plans' author (sees all), the organisation named in one plan of a hundred, and one named nowhere.
CLIENTS = {"region": REGION, "slagelse": "375431000016008", "x": "111111111111"}
SEED = 100
#: Every table a search, a read and the access rule read, with the columns holding resource (or plan) ids.
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


class Author(OpenAccess):
    """The region writing without audit events (the corpus is data for the benchmarks, not their subject)."""

    author = REGION

    def __init__(self, now: datetime) -> None:
        self.viewer = Viewer(REGION, format_instant(now))


def plan_document(number: int) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(json.loads(SAMPLE.read_text("utf-8")))
    document["source"]["value"] = f"KIP-BENCH-{number:06d}"
    document["citizen"]["cpr"] = f"{number % 28 + 1:02d}01{number % 100:02d}{number // 100 % 10000:04d}"
    document["crisis_plans"] = []
    document["consent"]["period"] = {"start": "2025-03-04", "end": "2099-12-31"}
    document["consent"]["permitted"] = ["soc1"] if number % 100 == 0 else ["fact1"]
    for member in document["team"]:
        if member["key"] == "fact1":  # a psychiatric team of its own per seed: grants spread over 100 organisations
            member["organisation"]["sor"] = f"3296310{number:05d}003"
    document["consent"]["denied"] = []
    return document


def settings_for(folder: Path, database_url: str) -> Settings:
    """Settings of a gateway on `database_url` whose clients (`clients.yaml` in `folder`) are `CLIENTS`."""
    clients = [
        {
            "client_id": name,
            "organisation": {"name": name, "sor": sor, "gln": "5790000209354"},
            "scopes": ["system/*.rs"],
        }
        for name, sor in CLIENTS.items()
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clients.yaml").write_text(yaml.safe_dump({"clients": clients}), "utf-8")
    return Settings(
        data_dir=folder,
        database_url=database_url,
        rate_limit_per_minute=1e9,
        rate_limit_burst=10**9,
        worker_enabled=False,
    )


def bearer(settings: Settings, client: str, now: datetime) -> dict[str, str]:
    token = issue_token(
        LocalSigningKey.load_or_create(settings.data_dir),
        client_id=client,
        scopes="system/*.rs",
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        now=now,
        lifetime=timedelta(hours=6),
    )
    return {"Authorization": f"Bearer {token}"}


def build(settings: Settings, plans: int, *, already: int = 0) -> Engine:
    """Write the seed plans and copy them to `plans` plans; returns the app's engine (analysed). `already`: a
    corpus of that many plans is in the database (built here before), only the copies beyond it are added."""
    app = create_app(settings, clock=SystemClock(), ids=UuidSource())
    engine: Engine = app.state.engine
    if already:
        _copy(engine, range(-(-already // SEED), -(-plans // SEED)))
        settle(engine)
        return engine
    author = Author(datetime.now(UTC))
    seeds = min(plans, SEED)
    plan_ids = []
    for number in range(seeds):
        plan_ids.append(app.state.plans.accept("http://bench/fhir", plan_document(number), access=author).plan_id)
        if number % 10 == 0:  # PostgreSQL plans the writes' lookups by statistics: keep them current while loading
            analyse(engine)
    store = app.state.fhir.store
    with store.writing() as tx:
        for number, plan_id in enumerate(plan_ids):
            current = tx.read("CarePlan", plan_id).resource
            assert current is not None
            start = date(2025, 1, 1) + timedelta(days=10 * number)
            changed = current | {
                "period": {"start": start.isoformat(), "end": (start + timedelta(days=365)).isoformat()}
            }
            if number % 10 == 9:
                changed["status"] = "completed"
            tx.update(changed, resource_id=plan_id)
    _copy(engine, range(1, -(-plans // SEED)))
    settle(engine)
    return engine


def _copy(engine: Engine, numbers: range) -> None:
    """Copies `numbers` of the seed rows (ids suffixed `.n`)."""
    with engine.begin() as connection:
        # One INSERT per table over (seed rows x copy numbers): linear in N, where a statement per copy re-reads
        # the growing table each time.
        connection.execute(text("CREATE TEMPORARY TABLE bench_copy (n INTEGER PRIMARY KEY)"))
        copies = [{"n": n} for n in numbers]
        if copies:
            connection.execute(text("INSERT INTO bench_copy (n) VALUES (:n)"), copies)
        for table, id_columns in COPIED.items():
            columns = [column.name for column in metadata.tables[table].columns]
            chosen = ", ".join(f"{c} || '.' || bench_copy.n" if c in id_columns else c for c in columns)
            connection.execute(
                text(
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table} CROSS JOIN bench_copy "
                    f"WHERE {id_columns[0]} NOT LIKE :seeded"
                ),
                {"seeded": "%.%"},
            )
        connection.execute(text("DROP TABLE bench_copy"))


def analyse(engine: Engine) -> None:
    """PostgreSQL: fresh planner statistics, as autovacuum keeps them on a running server. SQLite: none, as the
    gateway never runs ANALYZE there (its planner then goes by its own rules, not by this corpus's skew)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def settle(engine: Engine) -> None:
    """PostgreSQL after a bulk copy: `VACUUM (ANALYZE)`, the state autovacuum leaves a loaded table in. Without it
    the visibility map is empty, so index-only scans visit the heap, and autovacuum starts on the new rows while
    the first cases run: the same `status` case measured 114 and 272 requests/s per core at 10,000 plans in two
    runs of 1 Dec 2026 (bench/README.md, tenth pass). VACUUM cannot run inside a transaction block."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))


def one_of_each(engine: Engine) -> dict[str, str]:
    """Ids a benchmark asks for: a CarePlan and its Patient of the last copy (the deepest rows)."""
    with engine.connect() as connection:
        row = connection.execute(text("SELECT plan_id, patient_id FROM plan ORDER BY plan_id DESC LIMIT 1")).one()
    return {"careplan": row[0], "patient": row[1]}


def timed_build(settings: Settings, plans: int) -> tuple[Engine, float]:
    started = time.perf_counter()
    engine = build(settings, plans)
    return engine, time.perf_counter() - started
