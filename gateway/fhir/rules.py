"""What the FHIR layer refuses before it touches a resource: malformed ids, client-assigned ids, writes that are not
the caller's to make, and the one answer for a resource the caller may not see (exactly a missing one's).

Hidden = missing: a resource the caller may not see answers every interaction as a resource that does not exist,
with the same status, the same OperationOutcome and the same headers, after the same queries (the store decides
visibility in the one query that also finds the row). Nothing reveals that the id exists, nor how many versions
it has.
"""

from __future__ import annotations

import re
from typing import Literal

from gateway.errors import NotFound
from gateway.fhir.access import Access, AuditAction, AuditRecord, Denied
from gateway.store.ports import Resource, ResourceTransaction, StoredResource
from gateway.store.search_params import GATEWAY_WRITTEN
from mappings.issues import Issue, IssueError

_ETAG = re.compile(r'^(W/)?"?(?P<version>\d+)"?$')
#: FHIR R4 datatypes.html#id: `[A-Za-z0-9\-\.]{1,64}`.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: The types `/plans` writes under ids it derives (UUID v5). Clients may not choose ids for them, as HAPI FHIR's
#: `ClientIdStrategyEnum.NOT_ALLOWED` answers (`BaseHapiFhirResourceDao.validateResourceIdCreation`: HAPI-0959
#: "failedToCreateWithClientAssignedIdNotAllowed", a ResourceNotFoundException, 404), so nobody can occupy an id a
#: plan will use. Organization, an open directory, keeps update-as-create.
SERVER_ASSIGNED_TYPES = frozenset(
    {"CarePlan", "CareTeam", "Consent", "Goal", "Patient", "Practitioner", "PractitionerRole", "RelatedPerson"}
)
#: Types anybody with the read scope sees; a write to one authored by someone else is refused openly (403).
OPEN_WRITE_REFUSED = frozenset({"Organization"})
SOR_SOURCE = "https://sor2.sum.dsdn.dk/#id="  # MedCom's SOR endpoint form (NOTES.md §2)


def require_id(resource_id: str, expression: str = "id") -> None:
    if not _FHIR_ID.fullmatch(resource_id):
        raise IssueError.single(
            "invalid",
            f"{resource_id[:80]!r} is not a FHIR id (1-64 of A-Z a-z 0-9 - .; FHIR R4 datatypes.html#id)",
            expression=expression,
            message_id="fhir.invalid-id",
            status=400,
        )


def missing(
    access: Access,
    action: AuditAction,
    subtype: str,
    resource_type: str,
    resource_id: str,
    version: int | None = None,
    *,
    creating: bool = False,
) -> IssueError:
    """The error for a resource that does not exist, or that the caller may not see: the same either way.

    `creating` (a PUT that would create a server-assigned type) adds HAPI's reason. With a caller, the attempt is
    audited (a denial: the audit cannot tell which of the two it was without a query that only one path makes)."""
    error: IssueError = NotFound.of(resource_type, resource_id, version)
    if creating:
        error = IssueError(
            (
                Issue(
                    "error",
                    "not-found",
                    f"{resource_type}/{resource_id} is not known, and clients may not assign {resource_type} ids: "
                    "create it with POST",
                    message_id="fhir.not-found",
                ),
            ),
            status=404,
        )
    if not access.audits:
        return error
    record = AuditRecord(
        action,
        subtype,
        [{"resourceType": resource_type, "id": resource_id}],
        outcome="4",
        detail="not found, or not disclosed to this caller",
    )
    return Denied.of(error.issues[0], 404, record)


def check_write(
    tx: ResourceTransaction,
    access: Access,
    current: StoredResource,
    action: Literal["U", "D"],
    *,
    plan_write: bool,
) -> None:
    """May the caller change `current` (which it can see) through `/fhir`?

    A resource of a shared plan is written only through `/plans`: its author is told so, anyone else gets what a
    missing resource gets. An organisation's own resources are its own: an Organization someone else wrote is
    refused openly (it is visible anyway); any other type by someone else cannot be visible here."""
    if plan_write:
        return
    subtype = "update" if action == "U" else "delete"
    mine = access.viewer is None or current.author == access.author
    plan_id = tx.plan_of(current.resource_type, current.id)
    if plan_id is not None and mine:
        raise IssueError.single(
            "business-rule",
            f"{current.resource_type}/{current.id} is part of the shared plan {plan_id}: change the plan with "
            f"PUT /plans/{plan_id}",
            expression=current.resource_type,
            message_id="fhir.plan-resource",
            status=422,
        )
    if mine:
        return
    if plan_id is None and current.resource_type in OPEN_WRITE_REFUSED:
        record = AuditRecord(action, subtype, [current], outcome="4", detail="not the author")
        issue = Issue(
            "error",
            "forbidden",
            f"{current.resource_type}/{current.id} was written by another organisation; only its author changes it",
            message_id="fhir.not-author",
        )
        raise Denied.of(issue, 403, record)
    creating = action == "U" and current.resource_type in SERVER_ASSIGNED_TYPES
    raise missing(access, action, subtype, current.resource_type, current.id, creating=creating)


def writable(resource_type: str) -> None:
    if resource_type in GATEWAY_WRITTEN:
        raise IssueError.single(
            "forbidden",
            f"{resource_type} resources are written by the gateway only",
            message_id="fhir.read-only-type",
            status=403,
        )


def stamped(resource: Resource, author: str | None) -> Resource:
    """The resource as stored: `meta.source` names its author's SOR endpoint (the author column is the fact; this
    shows it to readers). Without an author the client's own `meta.source` stays."""
    if author is None:
        return resource
    meta = dict(resource.get("meta") or {})
    meta["source"] = f"{SOR_SOURCE}{author}"
    return {**resource, "meta": meta}


def care_plan_sources(resource: Resource) -> list[str]:
    """The identifier systems of a CarePlan (a plan's source system is its identity)."""
    if resource.get("resourceType") != "CarePlan":
        return []
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return []
    return [str(item["system"]) for item in identifiers if isinstance(item, dict) and item.get("system")]


def check_body_id(resource: Resource, resource_id: str) -> None:
    resource_type = resource["resourceType"]
    body_id = resource.get("id")
    if body_id is None:
        raise IssueError.single(
            "required",
            "An update must carry the resource id in the body (FHIR R4 http.html#update)",
            expression=f"{resource_type}.id",
            message_id="fhir.update-without-id",
            status=400,
        )
    if body_id != resource_id:
        raise IssueError.single(
            "invalid",
            f"The body's id {body_id!r} does not match the id {resource_id!r} in the URL",
            expression=f"{resource_type}.id",
            message_id="fhir.id-mismatch",
            status=400,
        )


def parse_etag(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise IssueError.single(
            "invalid",
            f'If-Match {value!r} is not an ETag of the form W/"<version>"',
            expression="If-Match",
            message_id="fhir.invalid-etag",
            status=400,
        )
    return int(match["version"])
