"""`SqlResourceStore`: the FHIR resource store on SQLAlchemy Core (SQLite or PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from gateway.clock import Clock
from gateway.errors import Gone, NotFound, VersionConflict
from gateway.lru import Lru
from gateway.store import access_sql, audit_log, generation, plans_sql
from gateway.store import tables as t
from gateway.store.database import IMMEDIATE
from gateway.store.dates import fhir_instant, format_instant
from gateway.store.ports import (
    CitizenPlan,
    FirstPass,
    HistoryPage,
    Method,
    MustStore,
    PlanRecord,
    Resource,
    SearchPage,
    StoredResource,
    StoredSearch,
    Viewer,
)
from gateway.store.search_params import (
    SEARCH_PARAMS,
    DateEntry,
    IndexEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    index_entries,
)
from gateway.store.search_plan import DRIVE_LIMIT, SearchConditions, capped_size, not_stored, search_conditions
from gateway.store.search_query import Include, SearchQuery, expired_search, sort_keys
from gateway.store.visibility import unviewed_reads, visible, visible_read
from mappings.issues import IssueError
from mappings.plan import Grant

MAX_INDEXED_TEXT = 512
#: AuditEvents are read from the audit trail's own table, not from the resource tables.
AUDIT = "AuditEvent"
#: How long a stored search result can be paged through: HAPI FHIR's default (`expireSearchResultsAfterMillis`,
#: one hour); `next` links of an expired result answer 410 Gone, as HAPI's do.
SEARCH_RESULT_LIFETIME = timedelta(hours=1)
#: How often a connection drops expired search results when it stores a new one.
SWEEP_EVERY = timedelta(minutes=1)
_SWEPT = "gateway_search_results_swept"
#: `keep_result`'s statements, built once with the values as parameters, as `audit_log.append`'s are: nothing of
#: SQLAlchemy's construction and cache-key walk per first pass (issue 18; with the sweep below, a 20-plan first
#: page 3.8 -> 3.1 ms in process).
_DELETE_EXPIRED_ENTRIES = delete(t.search_result_entry).where(
    t.search_result_entry.c.search_id.in_(
        select(t.search_result.c.search_id).where(t.search_result.c.expires < bindparam("now"))
    )
)
_DELETE_EXPIRED_RESULTS = delete(t.search_result).where(t.search_result.c.expires < bindparam("now"))
_INSERT_RESULT = insert(t.search_result)
_INSERT_ENTRIES = insert(t.search_result_entry)
#: Rounds of `_include:iterate` at most (the first round included).
MAX_INCLUDE_ROUNDS = 4


#: Sets' sizes kept per store (`SqlResourceTransaction.size`): a criterion's or an organisation's, by key.
SIZES_KEPT = 4096
#: memo key → (write generation, capped size).
SizeMemo = Lru[Hashable, tuple[int, int]]


class SqlResourceStore:
    """`drive_limit`: the size under which a search's smallest id set drives it (`search_plan`); tests set 0 to
    walk every search in sort order."""

    def __init__(self, engine: Engine, clock: Clock, *, drive_limit: int = DRIVE_LIMIT) -> None:
        self.engine = engine
        self.clock = clock
        self.drive_limit = drive_limit
        self.sizes: SizeMemo = Lru(SIZES_KEPT)
        self.single_writer = engine.dialect.name == "sqlite"

    @contextmanager
    def reading(self) -> Iterator[SqlResourceTransaction]:
        with self.engine.connect() as connection, connection.begin():
            yield SqlResourceTransaction(connection, self.clock, drive_limit=self.drive_limit, sizes=self.sizes)

    @contextmanager
    def writing(self) -> Iterator[SqlResourceTransaction]:
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{IMMEDIATE: True})
            with connection.begin():
                tx = SqlResourceTransaction(
                    connection, self.clock, stamp_at_commit=True, drive_limit=self.drive_limit, sizes=self.sizes
                )
                yield tx
                if tx.changed:
                    generation.move(connection)  # last, so its row lock lasts only for the commit


class SqlResourceTransaction:
    def __init__(
        self,
        connection: Connection,
        clock: Clock,
        *,
        stamp_at_commit: bool = False,
        drive_limit: int = DRIVE_LIMIT,
        sizes: SizeMemo | None = None,
    ) -> None:
        self.connection = connection
        self.drive_limit = drive_limit
        self._sizes = sizes
        #: The write generation as this transaction read it before its first kept size was used (`size`).
        self._sizes_generation: int | None = None
        #: resources or plan access data written: the store generation moves (`gateway.store.generation`)
        self.changed = False
        self._stamp_at_commit = stamp_at_commit
        self.clock = clock
        self._locking = connection.dialect.name == "postgresql"

    @property
    def writable(self) -> bool:
        """A write transaction (`writing()`, the one that stamps at commit): only it may store a search's result."""
        return self._stamp_at_commit

    @property
    def is_postgresql(self) -> bool:
        return self._locking

    # -- the audit trail (its own append-only table: gateway.store.audit_log) --------------------------------

    def audit(self, event: Resource, *, once: bool = False) -> bool:
        return audit_log.append(self.connection, event, once=once)

    # -- reads ---------------------------------------------------------------------------------------------

    def read_current(self, resource_type: str, resource_id: str, viewer: Viewer | None = None) -> StoredResource | None:
        if resource_type == AUDIT:  # the audit trail has its own table and its own (scope) rule
            return audit_log.read(self.connection, resource_id)
        statement, parameters = visible_read(resource_type, resource_id, viewer)
        row = self.connection.execute(statement, parameters).mappings().first()
        if row is None:
            return None
        return _stored(row, "DELETE" if row["deleted"] else "PUT")

    def read_current_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResource]:
        by_type: dict[str, list[str]] = {}
        for resource_type, resource_id in keys:
            by_type.setdefault(resource_type, []).append(resource_id)
        found: dict[tuple[str, str], StoredResource] = {}
        for resource_type, ids in by_type.items():
            if resource_type == AUDIT:
                events = (audit_log.read(self.connection, resource_id) for resource_id in ids)
                found.update(((AUDIT, event.id), event) for event in events if event is not None)
                continue
            for chunk in _chunks(ids, _IDS_PER_READ):
                rows = self.connection.execute(unviewed_reads(resource_type), {"read_ids": chunk}).mappings()
                for row in rows:
                    found[(resource_type, row["id"])] = _stored(row, "DELETE" if row["deleted"] else "PUT")
        return found

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        current = self.read_current(resource_type, resource_id)
        if current is None:
            raise NotFound.of(resource_type, resource_id)
        if current.deleted:
            raise Gone.of(resource_type, resource_id, current.version_id)
        return current

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredResource:
        if resource_type == AUDIT:
            event = audit_log.read(self.connection, resource_id) if version_id == 1 else None
            if event is None:
                raise NotFound.of(resource_type, resource_id, version_id)
            return event
        statement = select(t.resource_version).where(
            t.resource_version.c.resource_type == resource_type,
            t.resource_version.c.id == resource_id,
            t.resource_version.c.version_id == version_id,
        )
        row = self.connection.execute(statement).mappings().first()
        if row is None:
            raise NotFound.of(resource_type, resource_id, version_id)
        stored = _stored(row, row["method"])
        if stored.deleted:
            raise Gone.of(resource_type, resource_id, version_id)
        return stored

    # -- writes --------------------------------------------------------------------------------------------

    def create(self, resource: Resource, *, resource_id: str, author: str | None = None) -> StoredResource:
        resource_type = resource["resourceType"]
        stored = self._new_version(resource, resource_id, 1, "POST", author)
        try:
            with self.connection.begin_nested():
                self.connection.execute(insert(t.resource).values(**_current_row(stored), author=author))
        except IntegrityError as error:
            raise IssueError.single(
                "duplicate",
                f"{resource_type}/{resource_id} already exists",
                message_id="fhir.duplicate-id",
                status=409,
            ) from error
        self._write_version(stored)
        # A new resource may be a plan member already (named before it was written): its rows from every source.
        access_sql.refresh(self.connection, [(resource_type, resource_id)])
        return stored

    def update(
        self, resource: Resource, *, resource_id: str, if_match: int | None = None, author: str | None = None
    ) -> tuple[StoredResource, bool]:
        resource_type = resource["resourceType"]
        current = self._lock_current(resource_type, resource_id)
        if if_match is not None:
            current_version = current.version_id if current else 0
            if current is None or current_version != if_match:
                raise VersionConflict.of(resource_type, resource_id, if_match, current_version)
        if current is None:
            return self.create(resource, resource_id=resource_id, author=author), True
        if not current.deleted and _same_content(current.resource, resource):
            # An update that changes nothing keeps the version (as HAPI FHIR does): re-sending the same plan
            # must not grow its history.
            return current, False
        stored = self._new_version(resource, resource_id, current.version_id + 1, "PUT", current.author)
        self._replace_current(stored)
        return stored, current.deleted

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        current = self._lock_current(resource_type, resource_id)
        if current is None or current.deleted:
            return None
        stored = StoredResource(
            resource_type,
            resource_id,
            current.version_id + 1,
            format_instant(self.clock.now()),
            "DELETE",
            None,
            current.author,
        )
        self._replace_current(stored)
        return stored

    def _lock_current(self, resource_type: str, resource_id: str) -> StoredResource | None:
        statement = select(t.resource).where(
            t.resource.c.resource_type == resource_type, t.resource.c.id == resource_id
        )
        if self._locking:
            statement = statement.with_for_update()
        row = self.connection.execute(statement).mappings().first()
        return None if row is None else _stored(row, "DELETE" if row["deleted"] else "PUT")

    def _new_version(
        self, resource: Resource, resource_id: str, version_id: int, method: Method, author: str | None
    ) -> StoredResource:
        now = self.clock.now()
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = str(version_id)
        meta["lastUpdated"] = fhir_instant(now)
        content = {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta}
        content.update((key, value) for key, value in resource.items() if key not in content)
        return StoredResource(
            resource["resourceType"], resource_id, version_id, format_instant(now), method, content, author
        )

    def _replace_current(self, stored: StoredResource) -> None:
        row = _current_row(stored)
        self.connection.execute(
            update(t.resource)
            .where(t.resource.c.resource_type == stored.resource_type, t.resource.c.id == stored.id)
            .values(**row)
        )
        self._write_version(stored)
        # Its author and plans stay (only a plan write changes those, and rewrites the rows): its instant moves.
        access_sql.touch(self.connection, (stored.resource_type, stored.id), stored.last_updated)

    def _write_version(self, stored: StoredResource) -> None:
        self._changes()
        self.connection.execute(
            insert(t.resource_version).values(
                resource_type=stored.resource_type,
                id=stored.id,
                version_id=stored.version_id,
                last_updated=stored.last_updated,
                method=stored.method,
                content=_dump(stored.resource),
            )
        )
        self._reindex(stored)

    def _reindex(self, stored: StoredResource) -> None:
        for table in t.INDEX_TABLES:
            self.connection.execute(
                delete(table).where(table.c.resource_type == stored.resource_type, table.c.id == stored.id)
            )
        if stored.resource is None:
            return
        rows: dict[Any, list[dict[str, Any]]] = {table: [] for table in t.INDEX_TABLES}
        owner = {"resource_type": stored.resource_type, "id": stored.id}
        for entry in index_entries(stored.resource):
            table, values = _index_row(entry)
            rows[table].append(owner | values)
        for table, values_list in rows.items():
            if values_list:
                self.connection.execute(insert(table), values_list)

    def lock(self, key: str) -> None:
        """PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of `key` (`pg_advisory_xact_lock`,
        released at commit or rollback, so a crash cannot leave it held). SQLite: nothing to do, as every write
        transaction begins with `BEGIN IMMEDIATE` and so holds the database's one write lock from its first
        statement (`gateway.store.database`): two writers never interleave."""
        if not self._locking:
            return
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
        self.connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest, "big", signed=True)}
        )

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.connection.begin_nested():
            yield

    # -- history and search --------------------------------------------------------------------------------

    def history(
        self,
        resource_type: str | None,
        resource_id: str | None,
        *,
        since: str | None,
        count: int,
        offset: int,
        viewer: Viewer | None = None,
        types: Sequence[str] | None = None,
    ) -> HistoryPage:
        if resource_type == AUDIT:
            return audit_log.history(self.connection, resource_id, since=since, count=count, offset=offset)
        v, r = t.resource_version, t.resource
        conditions: list[ColumnElement[bool]] = []
        if resource_type:
            conditions.append(v.c.resource_type == resource_type)
        if resource_id:
            conditions.append(v.c.id == resource_id)
        if since:
            conditions.append(v.c.last_updated >= since)
        if types is not None:
            conditions.append(v.c.resource_type.in_(types))
        source: Any = v
        if viewer is not None:
            # A version is shown when its resource is: authorship and plan membership belong to the resource.
            source = v.join(r, and_(r.c.resource_type == v.c.resource_type, r.c.id == v.c.id))
            conditions.append(visible(viewer, resource_type or r.c.resource_type, v.c.id, r.c.author))
        total = self.connection.execute(select(func.count()).select_from(source).where(*conditions)).scalar_one()
        statement = (
            select(v)
            .select_from(source)
            .where(*conditions)
            .order_by(v.c.last_updated.desc(), v.c.resource_type, v.c.id, v.c.version_id.desc())
            .limit(count)
            .offset(offset)
        )
        rows = self.connection.execute(statement).mappings().all()
        return HistoryPage([_stored(row, row["method"]) for row in rows], total)

    def search(self, query: SearchQuery, viewer: Viewer | None = None) -> SearchPage:
        if query.resource_type == AUDIT:
            return audit_log.search(self.connection, query)
        if query.page_of is not None:
            return self._stored_page(query, viewer)
        r = t.resource
        shaped = search_conditions(query, viewer, self.size, self.drive_limit)
        conditions = shaped.where
        # A driven search sorts its few matches; bare sort columns would let SQLite walk the type in index order.
        ordering = _ordering(query, hide_index=shaped.shape != "walked", rows=shaped.order_rows)
        if query.snapshot is not None and query.offset == 0 and not query.summary_count and query.count > 0:
            # One page more than asked tells whether there is a next page: a result that fits one page is answered
            # without a count query and without storing anything; a longer one keeps what was read as its first
            # pass (the page and one id), so its first page costs the same at any number of matches.
            statement = select(r).where(*conditions).order_by(*ordering).limit(query.count + 1)
            rows = self.connection.execute(statement).mappings().all()
            matches = [_stored(row, "PUT") for row in rows[: query.count]]
            included = self._included(query.includes, matches, viewer)
            if len(rows) <= query.count:
                return SearchPage(matches, included, len(matches))
            total = self._live_total(shaped) if query.total_asked else None
            first = FirstPass(
                query.snapshot,
                query.resource_type,
                _owner(viewer),
                urlencode(query.raw),
                tuple(row["id"] for row in rows),
            )
            if self.writable:
                self.keep_result(first)  # a write transaction keeps it at once
            pending = None if self.writable else first
            return SearchPage(matches, included, total, query.snapshot, len(rows), complete=False, first_pass=pending)
        total = self._live_total(shaped) if query.counted else 0
        if query.summary_count or query.count == 0:
            return SearchPage([], [], total)
        statement = select(r).where(*conditions).order_by(*ordering).limit(query.count).offset(query.offset)
        matches = [_stored(row, "PUT") for row in self.connection.execute(statement).mappings()]
        return SearchPage(
            matches, self._included(query.includes, matches, viewer), total if query.counted else len(matches)
        )

    def _live_total(self, shaped: SearchConditions) -> int:
        """How many resources match now (the count query of a search's conditions)."""
        return self.connection.execute(
            select(func.count()).select_from(t.resource).where(*shaped.count_where())
        ).scalar_one()

    def size(self, ids: Select[tuple[str]], memo_key: Hashable | None = None) -> int:
        """How many ids `ids` selects, up to `drive_limit + 1` (what chooses a search's shape). A set named by
        `memo_key` is counted once per write generation (`gateway.store.generation`), read here first, before the
        count: a broad `status=active` is an index range of `drive_limit + 1` entries, about a quarter of its
        first page's time (issue 18), and a size only chooses the shape, never what a search finds. Not in a
        transaction that has written: its own writes are not the committed store the generation stands for."""
        sizes = self._sizes if memo_key is not None and not self.changed else None
        if sizes is not None:
            if self._sizes_generation is None:
                self._sizes_generation = generation.current(self.connection)
            kept = sizes.get(memo_key)
            if kept is not None and kept[0] == self._sizes_generation:
                return kept[1]  # without building the count statement either
        counted: int = self.connection.execute(capped_size(ids, self.drive_limit)).scalar_one()
        if sizes is not None and self._sizes_generation is not None:
            sizes.put(memo_key, (self._sizes_generation, counted))
        return counted

    # -- stored search results (stable paging) -------------------------------------------------------------

    def keep_result(self, first: FirstPass) -> None:
        """Store a result's header and its first pass (see `FirstPass`); drop the results that have expired, at most
        once a minute per connection (a first page of several is stored many times a second under load, and an
        expired result is refused when read whether or not its rows are gone: `stored_search`)."""
        now = self.clock.now()
        swept = self.connection.info.get(_SWEPT)
        if swept is None or now - swept >= SWEEP_EVERY:
            self.connection.execute(_DELETE_EXPIRED_ENTRIES, {"now": format_instant(now)})
            self.connection.execute(_DELETE_EXPIRED_RESULTS, {"now": format_instant(now)})
            self.connection.info[_SWEPT] = now
        header = {
            "search_id": first.search_id,
            "resource_type": first.resource_type,
            "owner": first.owner,
            "query": first.query,
            "size": len(first.ids),
            "complete": False,
            "expires": format_instant(now + SEARCH_RESULT_LIFETIME),
        }
        self.connection.execute(_INSERT_RESULT, header)
        self.connection.execute(
            _INSERT_ENTRIES,
            [{"search_id": first.search_id, "position": n, "resource_id": i} for n, i in enumerate(first.ids, 1)],
        )

    def _fill(self, query: SearchQuery, viewer: Viewer | None, search_id: str, needed: int) -> tuple[int, bool]:
        """Store passes of `search_id`'s matches until it holds `needed` ids or all of them; its (size, complete).

        A pass appends, in the search's order as it is now, the next matches not stored yet (HAPI FHIR loads a
        result the same way, by its search pre-fetch thresholds: 13, 503, 2,003, ..., JpaStorageSettings). A pass
        at least doubles what is stored, so a client paging through n ids costs about log2(n / page) passes, and a
        first page stores one page and one id whatever the number of matches. Stable paging holds:
        a stored id is never stored again (a match that moved in the order since is not repeated), and a match
        not stored yet is found by a later pass wherever it moved (it is not skipped). Passes of one result are
        serialised by its lock (two page requests at once would number the same positions)."""
        result, entry, r = t.search_result, t.search_result_entry, t.resource
        self.lock(f"search result {search_id}")
        header = self.connection.execute(
            select(result.c.size, result.c.complete).where(result.c.search_id == search_id)
        ).one()
        size, complete = int(header.size), bool(header.complete)
        if complete or size >= needed:
            return size, complete
        shaped = search_conditions(query, viewer, self.size, self.drive_limit)
        ordering = _ordering(query, hide_index=shaped.shape != "walked", rows=shaped.order_rows)
        wanted = max(needed - size, size)
        ids = (
            self.connection.execute(
                select(r.c.id).where(*shaped.where, not_stored(search_id)).order_by(*ordering).limit(wanted)
            )
            .scalars()
            .all()
        )
        if ids:
            self.connection.execute(
                insert(entry),
                [{"search_id": search_id, "position": size + n, "resource_id": i} for n, i in enumerate(ids, 1)],
            )
        size, complete = size + len(ids), len(ids) < wanted
        self.connection.execute(
            update(result).where(result.c.search_id == search_id).values(size=size, complete=complete)
        )
        return size, complete

    def stored_search(self, search_id: str, viewer: Viewer | None) -> StoredSearch | None:
        result = t.search_result
        row = (
            self.connection.execute(
                select(result).where(
                    result.c.search_id == search_id,
                    result.c.owner == _owner(viewer),
                    result.c.expires >= format_instant(self.clock.now()),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return StoredSearch(row["resource_type"], row["query"], row["size"])

    def _stored_page(self, query: SearchQuery, viewer: Viewer | None) -> SearchPage:
        """A page of a stored result: its ids at positions offset+1..offset+count, read now (a pass stores more
        first when the page reaches past what is stored: a write, so a read transaction raises `MustStore`). A
        resource deleted since, or one the caller may no longer see (a consent withdrawn), is left out.

        `total`: of a complete result, what is still there and visible, so a stored result never reveals more than
        a fresh search would; of a result not stored to its end, the live count when `_total` asks for one, else
        none (HAPI FHIR leaves `Bundle.total` out until its search has found every match: countSearchResultsUpTo)."""
        result, entry, r = t.search_result, t.search_result_entry, t.resource
        search_id = query.page_of or ""
        header = self.connection.execute(
            select(result.c.size, result.c.complete).where(result.c.search_id == search_id)
        ).first()
        if header is None:
            raise expired_search(search_id)
        size, complete = int(header.size), bool(header.complete)
        needed = query.offset + max(query.count, 0) + 1  # one more than the page: is there a next one?
        if not complete and size < needed:
            if not self.writable:
                raise MustStore(search_id)
            size, complete = self._fill(query, viewer, search_id, needed)
        joined = entry.join(r, and_(r.c.resource_type == query.resource_type, r.c.id == entry.c.resource_id))
        conditions = [entry.c.search_id == search_id, r.c.deleted.is_(False)]
        if viewer is not None:
            conditions.append(visible(viewer, query.resource_type, r.c.id, r.c.author))
        total: int | None = None
        if complete:
            total = self.connection.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one()
        elif query.total_asked or query.summary_count:
            total = self._live_total(search_conditions(query, viewer, self.size, self.drive_limit))
        if query.summary_count or query.count == 0:
            return SearchPage([], [], total or 0, search_id, size, complete)
        statement = (
            select(r)
            .select_from(joined)
            .where(*conditions, entry.c.position > query.offset, entry.c.position <= query.offset + query.count)
            .order_by(entry.c.position)
        )
        matches = [_stored(row, "PUT") for row in self.connection.execute(statement).mappings()]
        return SearchPage(matches, self._included(query.includes, matches, viewer), total, search_id, size, complete)

    def _included(
        self, includes: tuple[Include, ...], matches: Sequence[StoredResource], viewer: Viewer | None
    ) -> list[StoredResource]:
        """The resources `_include`/`_revinclude` bring in, of what `viewer` may see. `:iterate` includes are applied
        again to what the previous round brought in (R4 search.html#revinclude), until a round brings nothing new or
        `MAX_INCLUDE_ROUNDS` rounds have run (HAPI FHIR bounds iteration the same way)."""
        seen = {(m.resource_type, m.id) for m in matches}
        found: list[StoredResource] = []
        frontier = list(matches)
        for round_number in range(MAX_INCLUDE_ROUNDS):
            active = [i for i in includes if round_number == 0 or i.iterate]
            if not active or not frontier:
                break
            frontier = [stored for include in active for stored in self._include_round(include, frontier, viewer, seen)]
            found += frontier
        return found

    def _include_round(
        self,
        include: Include,
        sources: Sequence[StoredResource],
        viewer: Viewer | None,
        seen: set[tuple[str, str]],
    ) -> list[StoredResource]:
        ref, r = t.search_reference, t.resource
        if include.reverse:
            keys = or_(*(and_(ref.c.target_type == m.resource_type, ref.c.target_id == m.id) for m in sources))
            join_on = and_(r.c.resource_type == ref.c.resource_type, r.c.id == ref.c.id)
            condition = and_(ref.c.resource_type == include.source_type, ref.c.param == include.param, keys)
        else:
            ids = [m.id for m in sources if m.resource_type == include.source_type]
            if not ids:
                return []
            join_on = and_(r.c.resource_type == ref.c.target_type, r.c.id == ref.c.target_id)
            condition = and_(
                ref.c.resource_type == include.source_type,
                ref.c.param == include.param,
                ref.c.id.in_(ids),
            )
        if include.target_type:
            condition = and_(condition, r.c.resource_type == include.target_type)
        if viewer is not None:
            condition = and_(condition, visible(viewer, r.c.resource_type, r.c.id, r.c.author))
        statement = select(r).distinct().select_from(ref.join(r, join_on)).where(condition, r.c.deleted.is_(False))
        found = []
        for row in self.connection.execute(statement).mappings():
            key = (row["resource_type"], row["id"])
            if key not in seen:
                seen.add(key)
                found.append(_stored(row, "PUT"))
        return found

    def exists(self, resource_type: str, resource_id: str) -> bool:
        statement = select(exists().where(t.resource.c.resource_type == resource_type, t.resource.c.id == resource_id))
        return bool(self.connection.execute(statement).scalar())

    # -- shared plans (gateway.store.plans_sql) ---------------------------------------------------------------

    def plan(self, plan_id: str) -> PlanRecord | None:
        return plans_sql.plan(self.connection, plan_id)

    def plan_by_source(self, system: str, value: str) -> PlanRecord | None:
        return plans_sql.plan_by_source(self.connection, system, value)

    def plans_of_citizen(self, cpr: str) -> list[CitizenPlan]:
        return plans_sql.plans_of_citizen(self.connection, cpr)

    def plan_of(self, resource_type: str, resource_id: str) -> str | None:
        return plans_sql.plan_of(self.connection, resource_type, resource_id)

    def save_plan(self, record: PlanRecord, members: Iterable[tuple[str, str, str]], grants: Iterable[Grant]) -> None:
        self._changes()
        plans_sql.save_plan(self.connection, record, members, grants)

    def granted(self, plan_id: str, category: str, sor: str, at: str) -> bool:
        return plans_sql.granted(self.connection, plan_id, category, sor, at)

    def grant_window(self, sor: str, at: str) -> tuple[str, str]:
        return plans_sql.grant_window(self.connection, sor, at)

    def generation(self) -> int:
        return generation.current(self.connection)

    def _changes(self) -> None:
        if not self.changed and not self._stamp_at_commit:
            generation.move(self.connection)
        self.changed = True


def _index_row(entry: IndexEntry) -> tuple[Any, dict[str, Any]]:
    cut = MAX_INDEXED_TEXT
    if isinstance(entry, TokenEntry):
        system = entry.system[:cut] if entry.system else None
        return t.search_token, {"param": entry.param, "system": system, "code": entry.code[:cut]}
    if isinstance(entry, ReferenceEntry):
        return t.search_reference, {
            "param": entry.param,
            "target_type": entry.target_type[: t.TYPE_LEN],
            "target_id": entry.target_id[: t.ID_LEN],
        }
    if isinstance(entry, DateEntry):
        return t.search_date, {"param": entry.param, "low": entry.low, "high": entry.high}
    assert isinstance(entry, StringEntry)
    return t.search_string, {
        "param": entry.param,
        "normalized": entry.normalized[:cut],
        "exact": entry.exact[:cut],
    }


def _same_content(current: Resource | None, incoming: Resource) -> bool:
    def essence(resource: Resource) -> Resource:
        meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
        body = {k: v for k, v in resource.items() if k not in ("meta", "id")}
        return body | ({"meta": meta} if meta else {})

    return current is not None and essence(current) == essence(incoming)


def _current_row(stored: StoredResource) -> dict[str, Any]:
    return {
        "resource_type": stored.resource_type,
        "id": stored.id,
        "version_id": stored.version_id,
        "last_updated": stored.last_updated,
        "deleted": stored.deleted,
        "content": _dump(stored.resource),
    }


def _dump(resource: Resource | None) -> str | None:
    return None if resource is None else orjson.dumps(resource).decode()


_SORT_TABLES = {"string": t.search_string, "token": t.search_token, "date": t.search_date}
#: The index column a `_sort` key orders by, per search parameter type.
_SORT_COLUMNS = {"string": "normalized", "token": "code", "date": "low"}


def _ordering(query: SearchQuery, *, hide_index: bool = False, rows: Table = t.resource) -> list[Any]:
    """ORDER BY for `_sort` (R4 search.html#sort): each key in turn, then the id so that pages never tie.

    An indexed parameter sorts by its value read from the index (the lowest for ascending, the highest for
    descending when a resource has several; a date by its lower bound, as HAPI FHIR sorts dates); resources without
    a value come last in both directions, as in HAPI FHIR. `hide_index`: `_id` and `_lastUpdated` as expressions
    (`|| ''`: the same order) that no index serves, for a search whose few matches are sorted (`search_plan`).
    `rows`: the table whose `_id` and `_lastUpdated` columns order (`resource_access` for a walk of it)."""
    r = t.resource
    types = {name: param.type for name, param in SEARCH_PARAMS.get(query.resource_type, {}).items()}
    ordering: list[Any] = []
    for name, descending in sort_keys(query.sort):
        if name in ("_id", "_lastUpdated"):
            column: Any = rows.c.id if name == "_id" else rows.c.last_updated
            column = column + "" if hide_index else column
        else:
            table = _SORT_TABLES[types[name]]
            value = table.c[_SORT_COLUMNS[types[name]]]
            column = (
                select(func.max(value) if descending else func.min(value))
                .where(table.c.resource_type == r.c.resource_type, table.c.id == r.c.id, table.c.param == name)
                .scalar_subquery()
            )
            ordering.append(case((column.is_(None), 1), else_=0))
        ordering.append(column.desc() if descending else column.asc())
    return [*ordering, rows.c.id + "" if hide_index else rows.c.id]


def _owner(viewer: Viewer | None) -> str:
    """Whom a stored result belongs to: the organisation, or a citizen (their CPR number hashed: it is not stored in
    the clear), or no caller at all. Only the same owner may page through it."""
    if viewer is None:
        return "-"
    if viewer.cpr is not None:
        return "cpr:" + hashlib.sha256(viewer.cpr.encode()).hexdigest()[:64]
    return f"sor:{viewer.sor or ''}:{'own' if viewer.own_only else 'all'}"


#: Ids bound in one `IN` of `read_current_many`: below SQLite's and PostgreSQL's parameter limits with room to spare.
_IDS_PER_READ = 500


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored(row: Any, method: str) -> StoredResource:
    content = row["content"]
    resource = orjson.loads(content) if content is not None else None
    return StoredResource(
        row["resource_type"],
        row["id"],
        row["version_id"],
        row["last_updated"],
        method,  # type: ignore[arg-type]
        resource,
        row.get("author"),
    )
