"""Bundles the REST API returns: searchset and history (FHIR R4 bundle.html, search.html#paging)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from gateway.fhir.subsetting import subset
from gateway.store.dates import fhir_instant
from gateway.store.ports import HistoryPage, SearchPage, StoredResource
from gateway.store.search_query import SearchQuery, query_pairs_without

Resource = dict[str, Any]


def resource_url(base: str, stored: StoredResource) -> str:
    return f"{base}/{stored.resource_type}/{stored.id}"


def version_url(base: str, stored: StoredResource) -> str:
    return f"{resource_url(base, stored)}/_history/{stored.version_id}"


def last_modified(stored: StoredResource) -> str:
    return (stored.resource or {}).get("meta", {}).get("lastUpdated") or stored.last_updated


def searchset(base: str, query: SearchQuery, page: SearchPage, bundle_id: str, now: Any) -> Resource:
    # `_summary` shapes every entry; `_elements` the matches (R4 search.html#elements names "the resources of the
    # type being searched"), so an included resource comes whole.
    entries: list[Resource] = [
        {
            "fullUrl": resource_url(base, m),
            "resource": subset(m.resource or {}, summary=query.summary, elements=query.elements),
            "search": {"mode": "match"},
        }
        for m in page.matches
    ]
    entries += [
        {
            "fullUrl": resource_url(base, i),
            "resource": subset(i.resource or {}, summary=query.summary),
            "search": {"mode": "include"},
        }
        for i in page.included
    ]
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": fhir_instant(now)},
        "type": "searchset",
        "total": page.total,
        "link": _search_links(f"{base}/{query.resource_type}", query, page),
    }
    if page.total is None or (query.total_mode == "none" and not query.summary_count):
        del bundle["total"]  # R4 search.html#total: not counted yet, or the client needs none
    if entries:
        bundle["entry"] = entries
    return bundle


def history_bundle(
    base: str,
    path: str,
    raw: Sequence[tuple[str, str]],
    page: HistoryPage,
    *,
    count: int,
    offset: int,
    bundle_id: str,
    now: Any,
) -> Resource:
    entries = [history_entry(base, version) for version in page.versions]
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": fhir_instant(now)},
        "type": "history",
        "total": page.total,
        "link": _page_links(f"{base}{path}", raw, count, offset, page.total),
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def history_entry(base: str, version: StoredResource) -> Resource:
    status = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[version.method]
    entry: Resource = {"fullUrl": resource_url(base, version)}
    if version.resource is not None:
        entry["resource"] = version.resource
    entry["request"] = {
        "method": version.method,
        "url": version.resource_type if version.method == "POST" else f"{version.resource_type}/{version.id}",
    }
    entry["response"] = {
        "status": status,
        "etag": version.etag,
        "lastModified": last_modified(version),
    }
    return entry


def _search_links(url: str, query: SearchQuery, page: SearchPage) -> list[dict[str, str]]:
    """Offset links over live data, or `_getpages` links into the stored result the page was read from (the first
    page's `self` is still the parameters used: R4 search.html#conformance)."""
    if page.snapshot is None:
        return _page_links(url, query.raw, query.count, query.offset, page.total or 0)
    count, offset = query.count, query.offset

    def link(relation: str, at: int) -> dict[str, str]:
        pairs = [("_getpages", page.snapshot or ""), ("_getpagesoffset", str(at)), ("_count", str(count))]
        return {"relation": relation, "url": f"{url}?{urlencode(pairs)}"}

    if query.page_of is None:
        first_self = _offset_link(url, query_pairs_without(query.raw, "_offset", "_count"), count)
        return _navigation(first_self("self", offset), link, count, offset, page.size, last=page.complete)
    return _navigation(link("self", offset), link, count, offset, page.size, last=page.complete)


def _page_links(url: str, raw: Sequence[tuple[str, str]], count: int, offset: int, total: int) -> list[dict[str, str]]:
    link = _offset_link(url, query_pairs_without(raw, "_offset", "_count"), count)
    return _navigation(link("self", offset), link, count, offset, total)


def _offset_link(url: str, kept: Sequence[tuple[str, str]], count: int) -> Callable[[str, int], dict[str, str]]:
    def link(relation: str, at: int) -> dict[str, str]:
        pairs = [*kept, ("_count", str(count)), ("_offset", str(at))]
        return {"relation": relation, "url": f"{url}?{urlencode(pairs)}"}

    return link


def _navigation(
    self_link: dict[str, str],
    link: Callable[[str, int], dict[str, str]],
    count: int,
    offset: int,
    size: int,
    *,
    last: bool = True,
) -> list[dict[str, str]]:
    """`self`, then first/previous/next/last over `size` matches in pages of `count` (none for `_count=0`).
    `last=False`: `size` is not the end yet (a stored result not stored to its end), so there is no `last` link."""
    links = [self_link]
    if count <= 0:
        return links
    links.append(link("first", 0))
    if offset > 0:
        links.append(link("previous", max(offset - count, 0)))
    if offset + count < size:
        links.append(link("next", offset + count))
    if last:
        links.append(link("last", max(((size - 1) // count) * count, 0)))
    return links
