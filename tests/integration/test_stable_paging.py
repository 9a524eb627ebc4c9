"""Stable paging on SQLite and PostgreSQL: following `next` links returns every match exactly once while resources
are created, updated and deleted between pages (HAPI FHIR's stored search results)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import Engine, func, select

from gateway.api import create_app
from gateway.clock import SequenceIds, SystemClock
from gateway.config import Settings
from gateway.fhir.interactions import FhirService
from gateway.store import tables as t
from gateway.store.database import make_engine, upgrade
from gateway.store.ports import ResourceTransaction
from gateway.store.sql import SqlResourceStore
from gateway.store.tables import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    yield engine
    engine.dispose()


@pytest.fixture
async def client(engine: Engine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, insecure_no_auth=True, enforce_referential_integrity=False)
    app = create_app(settings, engine=engine, clock=SystemClock(), ids=SequenceIds())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


def plan(number: int) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "identifier": [{"system": "urn:test", "value": f"plan-{number:02d}"}],
        "subject": {"reference": "Patient/p1"},
    }


async def create(client: httpx.AsyncClient, number: int) -> dict[str, Any]:
    response = await client.post("/fhir/CarePlan", json=plan(number))
    assert response.status_code == 201
    return response.json()


def page_ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def next_link(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


async def test_writes_between_pages_neither_skip_nor_repeat_a_match(client: httpx.AsyncClient, engine: Engine) -> None:
    made = [await create(client, number) for number in range(10)]
    first = (await client.get("/fhir/CarePlan?status=active&_count=3&_total=accurate")).json()
    assert first["total"] == 10
    seen = page_ids(first)
    assert seen == [resource["id"] for resource in made[:3]]
    # Between pages: delete a match of page 1, update one of page 2 (it moves to the end of _lastUpdated order),
    # create a new match. An offset-paged search would now skip one and show the updated one twice.
    assert (await client.delete(f"/fhir/CarePlan/{seen[0]}")).status_code == 204
    updated = {**made[4], "description": "moved to the end by its new lastUpdated"}
    assert (await client.put(f"/fhir/CarePlan/{made[4]['id']}", json=updated)).status_code == 200
    newcomer = await create(client, 99)
    url = next_link(first)
    assert url is not None and "_getpages=" in url
    while url:
        bundle = (await client.get(url)).json()
        seen += page_ids(bundle)
        url = next_link(bundle)
    assert len(set(seen)) == len(seen), "no match twice (the updated one moved behind the cursor)"
    assert set(seen) == {resource["id"] for resource in made} | {newcomer["id"]}, "none skipped"
    assert seen[:4] == [resource["id"] for resource in made[:4]], "the first pass (a page and one) keeps its order"
    assert bundle["total"] == 10, "the deleted match is no longer counted; the newcomer, stored by a later pass, is"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.search_result)).scalar_one() == 1


async def test_an_updated_match_is_shown_as_it_is_now(client: httpx.AsyncClient) -> None:
    made = [await create(client, number) for number in range(4)]
    first = (await client.get("/fhir/CarePlan?_count=2")).json()
    changed = {**made[3], "description": "changed after the first page"}
    assert (await client.put(f"/fhir/CarePlan/{made[3]['id']}", json=changed)).status_code == 200
    second = (await client.get(next_link(first) or "")).json()
    assert [entry["resource"].get("description") for entry in second["entry"]] == [None, changed["description"]]


async def test_a_result_of_one_page_is_not_stored(client: httpx.AsyncClient, engine: Engine) -> None:
    for number in range(3):
        await create(client, number)
    bundle = (await client.get("/fhir/CarePlan?_count=3")).json()
    assert bundle["total"] == 3 and next_link(bundle) is None
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.search_result_entry)).scalar_one() == 0


class _CountingStore:
    """The store, counting the write transactions it opens."""

    def __init__(self, store: SqlResourceStore) -> None:
        self.store = store
        self.single_writer = store.single_writer
        self.writes = 0

    def reading(self) -> AbstractContextManager[ResourceTransaction]:
        return self.store.reading()

    def writing(self) -> AbstractContextManager[ResourceTransaction]:
        self.writes += 1
        return self.store.writing()


def test_only_a_search_that_stores_its_result_opens_a_write_transaction(engine: Engine) -> None:
    """On SQLite (one write lock) a search writes only to store a pass of its result. On PostgreSQL every search
    is one transaction, which writes what the search stores (`FhirService._read_audited`): the stored results
    show the same passes."""
    clock = SystemClock()
    store = _CountingStore(SqlResourceStore(engine, clock))
    service = FhirService(store, clock, SequenceIds())
    for number in range(5):
        service.create("http://gateway.test/fhir", plan(number))
    store.writes = 0
    searches = 0

    def expect(sqlite_writes: int, stored_results: int) -> None:
        assert store.writes == (sqlite_writes if store.single_writer else searches)
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(t.search_result)).scalar_one() == stored_results

    one_page = service.search("http://gateway.test/fhir", "CarePlan", [("status", "active"), ("_count", "10")])
    searches += 1
    assert len(page_ids(one_page.body or {})) == 5
    expect(0, 0)  # a result that fits one page is read, never stored

    first = service.search("http://gateway.test/fhir", "CarePlan", [("status", "active"), ("_count", "2")])
    searches += 1
    expect(1, 1)  # stored for stable paging: the one write
    url = next_link(first.body or {})
    assert url is not None and "_getpages=" in url
    later = service.search("http://gateway.test/fhir", "CarePlan", parse_qsl(url.split("?", 1)[1]))
    searches += 1
    assert len(page_ids(later.body or {})) == 2
    expect(2, 1)  # the first pass held a page and one id: this page stored a second pass
    again = service.search("http://gateway.test/fhir", "CarePlan", parse_qsl(url.split("?", 1)[1]))
    searches += 1
    assert page_ids(again.body or {}) == page_ids(later.body or {})
    expect(2, 1)  # a page within the stored ids only reads


async def test_a_result_stored_in_passes_neither_skips_nor_repeats_a_match(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """Pages of 2, so a first pass of 3 ids (a page and one more): the later matches are stored by later passes, in
    the order as it is then.
    A match stored already never comes again, one not stored yet is found wherever it moved, and a match created
    meanwhile may be found (HAPI FHIR's result loading by pre-fetch thresholds behaves alike)."""
    made = [await create(client, number) for number in range(8)]
    first = (await client.get("/fhir/CarePlan?status=active&_count=2")).json()
    assert "total" not in first, "not counted while the result is not stored to its end"
    assert [link["relation"] for link in first["link"]] == ["self", "first", "next"], "no last link yet"
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(t.search_result_entry)).scalar_one()
    assert stored == 3, "the first page stored one pass, not every match"
    seen = page_ids(first)
    # Between pages: a stored match moves to the end (it must not come again), one not stored yet moves to the end
    # (it must still come), one not stored yet is deleted, and a new match is created.
    for moved in (made[1], made[5]):
        changed = {**moved, "description": "moved to the end of _lastUpdated order"}
        assert (await client.put(f"/fhir/CarePlan/{moved['id']}", json=changed)).status_code == 200
    assert (await client.delete(f"/fhir/CarePlan/{made[6]['id']}")).status_code == 204
    newcomer = await create(client, 99)
    url = next_link(first)
    bundle = first
    while url:
        bundle = (await client.get(url)).json()
        seen += page_ids(bundle)
        url = next_link(bundle)
    assert len(seen) == len(set(seen)), "no match twice"
    expected = {resource["id"] for resource in made} - {made[6]["id"]} | {newcomer["id"]}
    assert set(seen) == expected, "every match that is still there, the moved ones included"
    assert seen[:3] == [made[0]["id"], made[1]["id"], made[2]["id"]], "the first pass keeps its order"
    assert bundle["total"] == len(expected), "counted once the result is stored to its end"
    assert bundle["link"][-1]["relation"] == "last"


async def test_a_total_asked_for_is_counted_before_the_result_is_stored_to_its_end(client: httpx.AsyncClient) -> None:
    for number in range(7):
        await create(client, number)
    bundle = (await client.get("/fhir/CarePlan?status=active&_count=2&_total=accurate")).json()
    assert bundle["total"] == 7
    deep = next_link(bundle) or ""
    jumped = (await client.get(deep.replace("_getpagesoffset=2", "_getpagesoffset=6"))).json()
    assert len(page_ids(jumped)) == 1, "a page past the stored ids stores what it needs first"
    assert next_link(jumped) is None


async def test_a_search_asked_with_an_offset_pages_by_offset_and_stores_nothing(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    made = [await create(client, number) for number in range(5)]
    bundle = (await client.get("/fhir/CarePlan?status=active&_count=2&_offset=2")).json()
    assert page_ids(bundle) == [made[2]["id"], made[3]["id"]]
    assert bundle["total"] == 5
    assert "_offset=4" in (next_link(bundle) or "") and "_getpages" not in (next_link(bundle) or "")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.search_result)).scalar_one() == 0


def test_page_requests_that_store_passes_at_once_each_get_their_page(engine: Engine) -> None:
    """Several pages past the stored ids asked at the same moment each store a pass; the result's lock serialises
    them (two passes would number the same positions), so every answer is a page and no id is stored twice."""
    clock = SystemClock()
    service = FhirService(SqlResourceStore(engine, clock), clock, SequenceIds())
    for number in range(30):
        service.create("http://gateway.test/fhir", plan(number))
    first = service.search("http://gateway.test/fhir", "CarePlan", [("status", "active"), ("_count", "2")])
    url = next_link(first.body or {}) or ""
    pairs = parse_qsl(url.split("?", 1)[1])
    offsets = [4, 8, 12, 16, 20, 24]
    barrier = threading.Barrier(len(offsets))

    def page(offset: int) -> list[str]:
        asked = [(name, str(offset) if name == "_getpagesoffset" else value) for name, value in pairs]
        barrier.wait()
        return page_ids(service.search("http://gateway.test/fhir", "CarePlan", asked).body or {})

    with ThreadPoolExecutor(len(offsets)) as pool:
        pages = list(pool.map(page, offsets))
    assert all(len(ids) == 2 for ids in pages)
    with engine.connect() as connection:
        stored = connection.execute(select(t.search_result_entry.c.resource_id)).scalars().all()
    assert len(stored) == len(set(stored)), "no id stored twice"
    assert {i for ids in pages for i in ids} <= set(stored)
