"""The R4 core Bundle invariants (bdl-1..bdl-4, bdl-7, bdl-9..bdl-12) written out in Python.

They run once on every Bundle we validate, and every MedCom message is a Bundle; as FHIRPath they cost 5-50 µs
each (bdl-7 builds a `select` over every entry), as Python about a microsecond. Each function returns the verdict
fhirpathpy gives for the published R4 expression (http://hl7.org/fhir/R4/bundle.html#invs, quoted by each
function), including FHIRPath's empty-result rules: an empty `type` makes `type = 'x'` empty, so `implies` and
`or` over it are empty, which satisfies the constraint. `tests/gateway/validation/test_bundle_invariants.py`
holds them to fhirpathpy over the reference examples and systematic variations. They are keyed by the exact
expression, so a profile that rewrites an invariant under the same key is evaluated as FHIRPath.

They are written for plain JSON: each returns None, and the FHIRPath evaluation decides, when what it reads has a
`_name` form (a primitive's id and extensions, which FHIRPath counts as the element being there) or a value not of
the JSON type FHIR R4 gives it. Those Bundles are rare and already wrong or unusual; the checks stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Resource = dict[str, Any]
Check = Callable[[Any, Resource, Resource], bool]
#: True or False for a plain Bundle; None when the FHIRPath evaluation must decide.
Verdict = bool | None
Native = Callable[[Any, Resource], Verdict]
#: Stands for "not plain JSON" where a value is expected.
_ODD: Any = object()


def _string(element: dict[str, Any], name: str) -> Any:
    """A string element's value (None when absent), or `_ODD` for a `_name` form or a value that is not a string."""
    if "_" + name in element:
        return _ODD
    value = element.get(name)
    return value if value is None or isinstance(value, str) else _ODD


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The entries (an empty list when absent), or None unless they are a JSON array of objects."""
    if "_entry" in bundle:
        return None
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(type(entry) is dict for entry in entries):
        return None
    return entries


def _present(entry: dict[str, Any], name: str) -> bool | None:
    """`name.exists()` on an entry's complex element; None for a `_name` form."""
    if "_" + name in entry:
        return None
    value = entry.get(name)
    return value is not None and value != []


def _bdl_1(bundle: Any, _resource: Resource) -> Verdict:
    """`total.empty() or (type = 'searchset') or (type = 'history')`"""
    kind = _string(bundle, "type")
    total = bundle.get("total")
    if kind is _ODD or "_total" in bundle or not (total is None or (type(total) is int)):
        return None
    return total is None or kind is None or kind in ("searchset", "history")


def _bdl_2(bundle: Any, _resource: Resource) -> Verdict:
    """`entry.search.empty() or (type = 'searchset')`"""
    kind = _string(bundle, "type")
    entries = _entries(bundle)
    if kind is _ODD or entries is None:
        return None
    found = [_present(entry, "search") for entry in entries]
    if None in found:
        return None
    return not any(found) or kind is None or kind == "searchset"


def _request_or_response(element: str, kinds: tuple[str, ...]) -> Native:
    def check(bundle: Any, resource: Resource) -> Verdict:
        entries = _entries(bundle)
        kind = _string(resource, "type") if isinstance(resource, dict) else _ODD
        if entries is None or kind is _ODD:
            return None
        found = [_present(entry, element) for entry in entries]
        if None in found:
            return None
        if not entries:
            return True  # `all` over nothing is true
        if kind is None:
            return False  # `x = {}` is empty, and `all` counts an empty criterion as not true
        return all(present == (kind in kinds) for present in found)

    return check


_bdl_3 = _request_or_response("request", ("batch", "transaction", "history"))
_bdl_3.__doc__ = (
    "`entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
    "%resource.type = 'history'))`"
)
_bdl_4 = _request_or_response("response", ("batch-response", "transaction-response", "history"))
_bdl_4.__doc__ = (
    "`entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' "
    "or %resource.type = 'history'))`"
)


def _bdl_7(bundle: Any, _resource: Resource) -> Verdict:
    """`(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()`"""
    kind = _string(bundle, "type")
    entries = _entries(bundle)
    if kind is _ODD or entries is None:
        return None
    keys: list[str] = []
    for entry in entries:
        full_url = _string(entry, "fullUrl")
        if full_url is _ODD or "_resource" in entry:
            return None
        if full_url is None:
            continue
        resource = entry.get("resource")
        meta = resource.get("meta") if type(resource) is dict and "_meta" not in resource else None
        if resource is not None and (type(resource) is not dict or "_meta" in resource):
            return None
        if meta is not None and type(meta) is not dict:
            return None
        version = _string(meta, "versionId") if meta is not None else None
        if version is _ODD:
            return None
        keys.append(full_url + (version or ""))
    # FHIRPath evaluates both sides of the `or`; an empty `type` makes it empty (satisfied) unless the right holds
    return kind == "history" or len(keys) == len(set(keys)) or kind is None


def _type_implies(kind: str, rule: Callable[[dict[str, Any]], Verdict]) -> Native:
    """`type = '<kind>' implies <rule>`: violated only when the rule is false (not empty) for that kind."""

    def check(bundle: Any, _resource: Resource) -> Verdict:
        actual = _string(bundle, "type")
        verdict = rule(bundle)  # even when the type makes it moot: FHIRPath evaluates both sides
        if actual is _ODD or verdict is None:
            return None
        return actual != kind or verdict

    return check


def _first_resource_is(resource_type: str) -> Callable[[dict[str, Any]], Verdict]:
    def rule(bundle: dict[str, Any]) -> Verdict:
        entries = _entries(bundle)
        if entries is None:
            return None
        first = entries[0] if entries else {}
        if "_resource" in first:
            return None
        resource = first.get("resource")
        if resource is None:
            return True  # `is` on an empty collection is empty, so the `implies` is empty
        if type(resource) is not dict:
            return None
        return resource.get("resourceType") == resource_type

    return rule


def _identifier_complete(bundle: dict[str, Any]) -> Verdict:
    if "_identifier" in bundle:
        return None
    identifier = bundle.get("identifier")
    if identifier is None:
        return False
    if type(identifier) is not dict:
        return None
    system, value = _string(identifier, "system"), _string(identifier, "value")
    if system is _ODD or value is _ODD:
        return None
    return system is not None and value is not None


def _has_timestamp(bundle: dict[str, Any]) -> Verdict:
    timestamp = _string(bundle, "timestamp")
    return None if timestamp is _ODD else timestamp is not None


_bdl_9 = _type_implies("document", _identifier_complete)
_bdl_9.__doc__ = "`type = 'document' implies (identifier.system.exists() and identifier.value.exists())`"
_bdl_10 = _type_implies("document", _has_timestamp)
_bdl_10.__doc__ = "`type = 'document' implies (timestamp.hasValue())`"
_bdl_11 = _type_implies("document", _first_resource_is("Composition"))
_bdl_11.__doc__ = "`type = 'document' implies entry.first().resource.is(Composition)`"
_bdl_12 = _type_implies("message", _first_resource_is("MessageHeader"))
_bdl_12.__doc__ = "`type = 'message' implies entry.first().resource.is(MessageHeader)`"

#: (key, expression with whitespace collapsed) → the Python check. Expressions as published in R4 4.0.1.
BUNDLE_INVARIANTS: dict[tuple[str, str], Native] = {
    ("bdl-1", "total.empty() or (type = 'searchset') or (type = 'history')"): _bdl_1,
    ("bdl-2", "entry.search.empty() or (type = 'searchset')"): _bdl_2,
    (
        "bdl-3",
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
        "%resource.type = 'history'))",
    ): _bdl_3,
    (
        "bdl-4",
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
        "'transaction-response' or %resource.type = 'history'))",
    ): _bdl_4,
    (
        "bdl-7",
        "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
    ): _bdl_7,
    ("bdl-9", "type = 'document' implies (identifier.system.exists() and identifier.value.exists())"): _bdl_9,
    ("bdl-10", "type = 'document' implies (timestamp.hasValue())"): _bdl_10,
    ("bdl-11", "type = 'document' implies entry.first().resource.is(Composition)"): _bdl_11,
    ("bdl-12", "type = 'message' implies entry.first().resource.is(MessageHeader)"): _bdl_12,
}


def bundle_invariant(key: str, expression: str, general: Callable[[], Check]) -> Check | None:
    """The check for an R4 Bundle invariant with exactly its published expression, else None: Python for a plain
    Bundle, `general()` (the FHIRPath evaluation, made on first need) for the rest."""
    native = BUNDLE_INVARIANTS.get((key, " ".join(expression.split())))
    if native is None:
        return None
    fallback: list[Check] = []

    def check(bundle: Any, resource: Resource, root: Resource) -> bool:
        verdict = native(bundle, resource) if type(bundle) is dict else None
        if verdict is not None:
            return verdict
        if not fallback:
            fallback.append(general())
        return fallback[0](bundle, resource, root)

    return check
