"""Validation on write: what the FHIR API stores is valid R4, against the profiles it claims, and refers to
resources that exist.

`FhirService` asks its `WriteValidator` before every create and update (single, conditional, transaction and batch
entries alike); a refusal is an `IssueError` carrying the validator's issues, rendered as an OperationOutcome with
400 (structure) or 422 (codes, invariants, profiles) by `gateway.errors`. `ProfileWriteValidator` validates
against the R4 core definitions and every `meta.profile` the gateway knows (an unknown one is a warning, and the
base type is still checked), and, unless switched off (`GATEWAY_ENFORCE_REFERENTIAL_INTEGRITY=false`), refuses a
reference to a resource of a stored type that does not exist: HAPI FHIR's referential integrity on write, on by
default there too (JpaStorageSettings `enforceReferentialIntegrityOnWrite`; a missing target is 422 "HAPI-1095").
A reference must resolve to a resource the writer may see (the access rule): one it may not see is refused as a
missing one is, so a write cannot test whether a hidden resource exists (the gateway's own plan writer excepted).
References to resources a transaction writes itself count as existing (`pending_writes`); references that name
no resource here (a contained `#id`, a `urn:`, another server's URL, a type this server does not store) are not
checked. A conditional reference (`Patient?identifier=…`) outside a transaction, which resolves them, is refused.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from gateway.errors import http_status
from gateway.store.ports import ResourceTransaction, Viewer
from gateway.validation import Validator
from gateway.validation.reference_checks import named_type
from mappings.issues import Issue, IssueError

Resource = dict[str, Any]

#: `Type/id` of the resources the running transaction writes (references to them are resolved in it).
_PENDING: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("pending_writes", default=frozenset())


@contextmanager
def pending_writes(targets: Iterable[str]) -> Iterator[None]:
    """While a transaction runs: references to `targets` (`Type/id`) exist, though not written yet."""
    token = _PENDING.set(frozenset(targets))
    try:
        yield
    finally:
        _PENDING.reset(token)


class WriteValidator(Protocol):
    """Decides whether a resource may be written; raises `IssueError` (the OperationOutcome) when it may not."""

    def check(self, tx: ResourceTransaction, resource: Resource, viewer: Viewer | None = None) -> None: ...


class ProfileWriteValidator:
    """`check`: the profile validator's errors, then referential integrity against the store."""

    def __init__(self, validator: Validator, stored_types: Iterable[str], *, referential_integrity: bool = True):
        self.validator = validator
        self.stored_types = frozenset(stored_types)
        self.referential_integrity = referential_integrity

    def check(self, tx: ResourceTransaction, resource: Resource, viewer: Viewer | None = None) -> None:
        """`viewer`: whom a referenced resource must be visible to, so that a reference to one the writer may not
        see is refused as one to a resource that does not exist (no existence test for hidden resources)."""
        result = self.validator.validate(resource)
        if not result.ok:
            # the status pinned, so a batch entry answers what a single write would (400 structure, 422 rules)
            raise IssueError(result.issues, status=http_status(IssueError(result.errors)))
        if self.referential_integrity:
            missing = list(self._missing_targets(tx, resource, viewer))
            if missing:
                raise IssueError(tuple(missing), status=422)

    def _missing_targets(self, tx: ResourceTransaction, resource: Resource, viewer: Viewer | None) -> Iterator[Issue]:
        pending = _PENDING.get()
        for where, reference in _references(resource, str(resource.get("resourceType"))):
            text = reference.get("reference")
            if not isinstance(text, str) or text.startswith(("#", "urn:")) or "://" in text:
                continue
            if "?" in text:
                if text.partition("?")[0] in self.stored_types:
                    # a transaction resolves these before anything is written (`BundleProcessor`); anywhere else
                    # it would be stored as text that names nothing
                    yield Issue(
                        "error",
                        "not-found",
                        f"{text[:200]} is a conditional reference: only a transaction resolves those "
                        "(FHIR R4 http.html#trules); name the resource as Type/id",
                        where,
                        "fhir.conditional-reference",
                    )
                continue
            resource_type = named_type(text)
            if resource_type is None or resource_type not in self.stored_types:
                continue
            target = "/".join(text.split("/")[:2])
            if target in pending:
                continue
            current = tx.read_current(resource_type, text.split("/")[1], viewer)
            if current is None or current.deleted:
                yield Issue(
                    "error",
                    "not-found",
                    f"{text} does not exist here, and references to resources of this server must resolve "
                    "(referential integrity on write)",
                    where,
                    "fhir.reference-not-found",
                )


def _references(node: Any, expr: str) -> Iterator[tuple[str, Resource]]:
    """(expression, Reference) of every Reference-shaped object in a resource, its contained resources included."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield expr, node
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _references(value, f"{expr}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _references(item, f"{expr}[{index}]")
