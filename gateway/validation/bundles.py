"""Bundle rules beyond the Bundle invariants: entry URLs, links, and what documents and messages must hold.

FHIR R4 §2.36 (http://hl7.org/fhir/R4/bundle.html), as the FHIR validator applies it (org.hl7.fhir.validation,
`BundleValidator`):
* `fullUrl` is absolute (§2.36.4: "fullUrl SHALL be an absolute URL"); one that looks like a RESTful URL
  (`[base]/[Type]/[id]`) names its resource, so the resource has an id and the URL ends with its type and id
  (§2.36.4: "the fullUrl SHALL NOT disagree with the id in the resource");
* every entry has a `fullUrl`, except in transactions, batches and their responses;
* a link relation `self` occurs once; `first`, `previous`, `next` and `last` belong to searches and histories
  only (and occur once there);
* a document's stylesheet link inside the Bundle points at an entry, and what its Composition refers to
  (subject, author, encounter, custodian, attester, event detail, each section's author, focus and entries)
  is in the Bundle, exactly once (§3.3.1 "Document Content"); so is what a message's MessageHeader focuses on.

References resolve within the Bundle as §2.36.4.1 says: an absolute reference by `fullUrl` (`/_history/n` by
`meta.versionId` too); a relative one against the base of the referring entry's RESTful `fullUrl`, else by the
type and id of the entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from mappings.issues import Severity

Resource = dict[str, Any]
#: (severity, message id, expression, diagnostics).
Problem = tuple[Severity, str, str, str]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: A RESTful URL (FHIR R4 §2.3.0, "literal reference"): `http(s)://base/Type/id[/_history/version]`.
_RESTFUL = re.compile(
    # the base is `(?:[chars]*/)+` written as `[chars/]*/`: the same strings, without nested repetition to backtrack
    r"(https?://[A-Za-z0-9\-\\.:%$/]*/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?"
)
_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?")
_PAGING = ("first", "previous", "next", "last")
_FULL_URL_OPTIONAL = ("transaction", "transaction-response", "batch", "batch-response")


def bundle_problems(bundle: Resource, expr: str, is_resource_type: Callable[[str], bool]) -> list[Problem]:
    """What breaks the rules above in one Bundle (`expr` is its expression)."""
    kind = str(bundle["type"]) if isinstance(bundle.get("type"), str) else ""
    entries = (
        [e for e in bundle.get("entry", []) if isinstance(e, dict)] if isinstance(bundle.get("entry"), list) else []
    )
    problems = [*_links(bundle, expr, kind, entries)]
    for index, entry in enumerate(entries):
        problems.extend(_full_url(entry, f"{expr}.entry[{index}]", kind, is_resource_type))
    first = entries[0].get("resource") if entries else None
    if kind == "document" and isinstance(first, dict) and first.get("resourceType") == "Composition":
        for where, reference in _composition_references(first, f"{expr}.entry[0].resource"):
            problems.extend(_resolves(reference, where, entries[0], entries, "the document"))
    if kind == "message" and isinstance(first, dict) and first.get("resourceType") == "MessageHeader":
        for index, focus in enumerate(_items(first.get("focus"))):
            where = f"{expr}.entry[0].resource.focus[{index}]"
            problems.extend(_resolves(focus, where, entries[0], entries, "the message"))
    return problems


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _links(bundle: Resource, expr: str, kind: str, entries: list[Resource]) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, link in enumerate(_items(bundle.get("link"))):
        relation = link.get("relation") if isinstance(link, dict) else None
        if not isinstance(relation, str):
            continue
        at = f"{expr}.link[{index}]"
        searching = kind in ("searchset", "history")
        if relation in _PAGING and not searching and kind:
            yield "error", "validation.bundle-link", at, f"a {kind} Bundle has no paging link '{relation}'"
        if (relation == "self" or (searching and relation in _PAGING)) and relation in seen:
            yield "error", "validation.bundle-link", at, f"the link relation '{relation}' occurs only once"
        seen.add(relation)
        url = link.get("url")
        if kind == "document" and relation == "stylesheet" and isinstance(url, str) and not _SCHEME.match(url):
            names = {
                f"{e['resource'].get('resourceType')}/{e['resource'].get('id')}"
                for e in entries
                if isinstance(e.get("resource"), dict)
            }
            if url not in names:
                yield "error", "validation.bundle-link", f"{at}.url", f"the stylesheet {url!r} is not in the Bundle"


def _full_url(entry: Resource, at: str, kind: str, is_resource_type: Callable[[str], bool]) -> Iterator[Problem]:
    full_url = entry.get("fullUrl")
    resource = entry.get("resource")
    if not isinstance(full_url, str):
        if full_url is None and kind and kind not in _FULL_URL_OPTIONAL and isinstance(resource, dict):
            yield (
                "error",
                "validation.bundle-full-url",
                at,
                (
                    "each entry of a Bundle other than a transaction or batch has a fullUrl, the identity of its "
                    "resource"
                ),
            )
        return
    if not _SCHEME.match(full_url):
        yield "error", "validation.bundle-full-url", at, f"the fullUrl {full_url!r} must be an absolute URL"
        return
    restful = _RESTFUL.fullmatch(full_url)
    if restful is None or not isinstance(resource, dict) or not is_resource_type(restful.group(2)):
        return
    resource_type, identifier = resource.get("resourceType"), resource.get("id")
    if not isinstance(identifier, str):
        yield (
            "error",
            "validation.bundle-full-url",
            at,
            (f"the fullUrl {full_url!r} is a RESTful URL, so it names the resource's id, but the resource has none"),
        )
    elif not full_url.endswith(f"/{resource_type}/{identifier}"):
        yield (
            "error",
            "validation.bundle-full-url",
            at,
            (
                f"the fullUrl {full_url!r} is a RESTful URL, so it must end with the resource's "
                f"/{resource_type}/{identifier}"
            ),
        )


def _composition_references(composition: Resource, expr: str) -> Iterator[tuple[str, Any]]:
    """(expression, Reference) of what a document's Composition refers to that must be in the document."""
    for name in ("subject", "author", "encounter", "custodian"):
        for index, reference in enumerate(_items(composition.get(name))):
            yield (
                (f"{expr}.{name}[{index}]" if isinstance(composition.get(name), list) else f"{expr}.{name}"),
                reference,
            )
    for index, attester in enumerate(_items(composition.get("attester"))):
        if isinstance(attester, dict) and "party" in attester:
            yield f"{expr}.attester[{index}].party", attester["party"]
    for index, event in enumerate(_items(composition.get("event"))):
        for position, detail in enumerate(_items(event.get("detail")) if isinstance(event, dict) else []):
            yield f"{expr}.event[{index}].detail[{position}]", detail
    yield from _section_references(composition, expr)


def _section_references(holder: Resource, expr: str) -> Iterator[tuple[str, Any]]:
    for index, section in enumerate(_items(holder.get("section"))):
        if not isinstance(section, dict):
            continue
        at = f"{expr}.section[{index}]"
        for position, author in enumerate(_items(section.get("author"))):
            yield f"{at}.author[{position}]", author
        if "focus" in section:
            yield f"{at}.focus", section["focus"]
        for position, entry in enumerate(_items(section.get("entry"))):
            yield f"{at}.entry[{position}]", entry
        yield from _section_references(section, at)


def _resolves(reference: Any, at: str, referrer: Resource, entries: list[Resource], what: str) -> Iterator[Problem]:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str) or not text or text.startswith("#"):
        return
    found = matches(text, referrer.get("fullUrl"), entries)
    if not found:
        yield "error", "validation.bundle-reference", at, f"{text} is not in {what}'s Bundle"
    elif len(found) > 1:
        yield "error", "validation.bundle-reference", at, f"{text} matches {len(found)} entries of {what}'s Bundle"


def matches(reference: str, referrer_url: Any, entries: list[Resource]) -> list[Resource]:
    """The entries a reference resolves to (FHIR R4 §2.36.4.1)."""
    absolute = reference
    if not _SCHEME.match(reference):
        restful = _RESTFUL.fullmatch(referrer_url) if isinstance(referrer_url, str) else None
        if restful is None:  # relative to nothing: by type and id (and version)
            relative = _RELATIVE.fullmatch(reference)
            if relative is None:
                return []
            kind, identifier, version = relative.groups()
            return [
                e
                for e in entries
                if isinstance(e.get("resource"), dict)
                and e["resource"].get("resourceType") == kind
                and e["resource"].get("id") == identifier
                and (version is None or _version(e) == version)
            ]
        absolute = restful.group(1) + reference
    base, _, version = absolute.partition("/_history/")
    return [e for e in entries if e.get("fullUrl") == base and (not version or _version(e) == version)]


def _version(entry: Resource) -> Any:
    resource = entry.get("resource")
    meta = resource.get("meta") if isinstance(resource, dict) else None
    return meta.get("versionId") if isinstance(meta, dict) else None
