"""The R4 core Bundle invariants (bdl-1..bdl-4, bdl-7, bdl-9..bdl-12) written out in Python.

They run once on every Bundle we validate, and every MedCom message is a Bundle; as FHIRPath they cost 5-50 µs
each (bdl-7 builds a `select` over every entry), as Python about a microsecond. Each function returns the verdict
fhirpathpy gives for the published R4 expression (http://hl7.org/fhir/R4/bundle.html#invs, quoted by each
function), including FHIRPath's empty-result rules: an empty `type` makes `type = 'x'` empty, so `implies` and
`or` over it are empty, which satisfies the constraint. `tests/gateway/validation/test_bundle_invariants.py`
holds them to fhirpathpy over the reference examples and systematic variations. They are keyed by the exact
expression, so a profile that rewrites an invariant under the same key is evaluated as FHIRPath.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Resource = dict[str, Any]
Check = Callable[[Any, Resource, Resource], bool]


def _text(value: Any) -> str | None:
    """A FHIRPath string singleton's value; None for empty (absent, null or `[]`) and for anything else."""
    return value if isinstance(value, str) else None


def _entries(bundle: Resource) -> list[Any]:
    entries = bundle.get("entry")
    if isinstance(entries, list):
        return entries
    return [] if entries is None else [entries]


def _present(container: Any, key: str) -> bool:
    """`key.exists()` on one item: FHIRPath drops nulls and empty arrays."""
    if not isinstance(container, dict):
        return False
    value = container.get(key)
    return value is not None and value != []


def _bdl_1(bundle: Any, _resource: Resource, _root: Resource) -> bool:
    """`total.empty() or (type = 'searchset') or (type = 'history')`"""
    if not isinstance(bundle, dict) or not _present(bundle, "total"):
        return True
    kind = bundle.get("type")
    return kind is None or kind in ("searchset", "history")


def _bdl_2(bundle: Any, _resource: Resource, _root: Resource) -> bool:
    """`entry.search.empty() or (type = 'searchset')`"""
    if not isinstance(bundle, dict) or not any(_present(entry, "search") for entry in _entries(bundle)):
        return True
    kind = bundle.get("type")
    return kind is None or kind == "searchset"


def _request_or_response(element: str, kinds: tuple[str, ...]) -> Check:
    def check(bundle: Any, resource: Resource, _root: Resource) -> bool:
        if not isinstance(bundle, dict):
            return True
        entries = _entries(bundle)
        if not entries:
            return True  # `all` over nothing is true
        kind = _text(resource.get("type")) if isinstance(resource, dict) else None
        if kind is None:
            return False  # `x = {}` is empty, and `all` counts an empty criterion as not true
        expected = kind in kinds
        return all(_present(entry, element) == expected for entry in entries)

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


def _bdl_7(bundle: Any, _resource: Resource, _root: Resource) -> bool:
    """`(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()`"""
    if not isinstance(bundle, dict):
        return True
    kind = bundle.get("type")
    if kind == "history":
        return True
    keys: list[str] = []
    for entry in _entries(bundle):
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if full_url is None or full_url == []:
            continue
        resource = entry.get("resource")
        meta = resource.get("meta") if isinstance(resource, dict) else None
        version = meta.get("versionId") if isinstance(meta, dict) else None
        keys.append(f"{full_url}{version or ''}")
    # an empty `type` makes the `or` empty (satisfied) unless the duplicates check holds
    return len(keys) == len(set(keys)) or kind is None


def _type_implies(kind: str, rule: Callable[[Resource], bool | None]) -> Check:
    """`type = '<kind>' implies <rule>`: violated only when the rule is false (not empty) for that kind."""

    def check(bundle: Any, _resource: Resource, _root: Resource) -> bool:
        if not isinstance(bundle, dict) or bundle.get("type") != kind:
            return True
        return rule(bundle) is not False

    return check


def _first_resource_is(resource_type: str) -> Callable[[Resource], bool | None]:
    def rule(bundle: Resource) -> bool | None:
        entries = _entries(bundle)
        first = entries[0] if entries else None
        resource = first.get("resource") if isinstance(first, dict) else None
        if not isinstance(resource, dict):
            return None  # `is` on an empty collection is empty
        return resource.get("resourceType") == resource_type

    return rule


def _identifier_complete(bundle: Resource) -> bool | None:
    identifier = bundle.get("identifier")
    if identifier is None:
        return False
    if not isinstance(identifier, dict):
        return None  # malformed: reported by the structure checks
    return _present(identifier, "system") and _present(identifier, "value")


def _has_timestamp(bundle: Resource) -> bool:
    # `hasValue()` as the compiled FHIRPath has it: a string, integer or boolean singleton
    return isinstance(bundle.get("timestamp"), str | int)


_bdl_9 = _type_implies("document", _identifier_complete)
_bdl_9.__doc__ = "`type = 'document' implies (identifier.system.exists() and identifier.value.exists())`"
_bdl_10 = _type_implies("document", _has_timestamp)
_bdl_10.__doc__ = "`type = 'document' implies (timestamp.hasValue())`"
_bdl_11 = _type_implies("document", _first_resource_is("Composition"))
_bdl_11.__doc__ = "`type = 'document' implies entry.first().resource.is(Composition)`"
_bdl_12 = _type_implies("message", _first_resource_is("MessageHeader"))
_bdl_12.__doc__ = "`type = 'message' implies entry.first().resource.is(MessageHeader)`"

#: (key, expression with whitespace collapsed) → the native check. Expressions as published in R4 4.0.1.
BUNDLE_INVARIANTS: dict[tuple[str, str], Check] = {
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


def _plain_fields(element: dict[str, Any], fields: dict[str, type]) -> bool:
    if any(key[:1] == "_" for key in element):
        return False
    for name, json_type in fields.items():
        value = element.get(name)
        if value is not None and (not isinstance(value, json_type) or isinstance(value, bool)):
            return False
    return True


def plain_bundle(bundle: Any, resource: Any) -> bool:
    """Whether what the Bundle invariants read is in plain JSON form, the form the Python checks are written for:
    no `_name` (a primitive's id and extensions, which FHIRPath counts as the element being there) and each value
    of the JSON type FHIR R4 gives it. Anything else is evaluated as FHIRPath."""
    if not isinstance(bundle, dict) or not _plain_fields(bundle, {"type": str, "total": int, "timestamp": str}):
        return False
    if resource is not bundle and not (isinstance(resource, dict) and _plain_fields(resource, {"type": str})):
        return False
    identifier = bundle.get("identifier")
    if identifier is not None and not (
        isinstance(identifier, dict) and _plain_fields(identifier, {"system": str, "value": str})
    ):
        return False
    entries = bundle.get("entry")
    if entries is None:
        return True
    if not isinstance(entries, list):
        return False
    for entry in entries:
        if not isinstance(entry, dict) or not _plain_fields(entry, {"fullUrl": str}):
            return False
        entry_resource = entry.get("resource")
        if entry_resource is None:
            continue
        if not isinstance(entry_resource, dict) or not _plain_fields(entry_resource, {}):
            return False
        meta = entry_resource.get("meta")
        if meta is not None and not (isinstance(meta, dict) and _plain_fields(meta, {"versionId": str})):
            return False
    return True


def bundle_invariant(key: str, expression: str, general: Callable[[], Check]) -> Check | None:
    """The check for an R4 Bundle invariant with exactly its published expression, else None: Python for a plain
    Bundle (`plain_bundle`), else `general()` (the FHIRPath evaluation, made on first need)."""
    native = BUNDLE_INVARIANTS.get((key, " ".join(expression.split())))
    if native is None:
        return None
    fallback: list[Check] = []

    def check(bundle: Any, resource: Resource, root: Resource) -> bool:
        if plain_bundle(bundle, resource):
            return native(bundle, resource, root)
        if not fallback:
            fallback.append(general())
        return fallback[0](bundle, resource, root)

    return check
