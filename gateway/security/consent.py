"""The consent choke point: who the caller is to the access rule, and whose plans it may write.

One rule decides what an authenticated caller sees (HAPI FHIR's consent service and SearchNarrowingInterceptor:
decide at one place, narrow the query): a resource is visible to an organisation when

| the resource                                              | is visible to                                        |
|-----------------------------------------------------------|------------------------------------------------------|
| an Organization (the open directory)                      | every caller with the read scope                     |
| an AuditEvent                                             | callers with `system/AuditEvent.rs` (its own scope)  |
| anything it wrote itself (`fhir_resource.author`)         | its author                                           |
| part of a shared plan, under a data category              | organisations the plan's *own* active Consent names  |
|                                                           | by SOR code for that category, at the request's time |
| anything else (e.g. a Patient written straight to /fhir)  | its author only                                      |

`may_disclose` (mappings.plan) is the only code that decides a consent; the store holds its materialisation
(`plan_grants`, written with every plan write) and applies the rule in SQL (`gateway.store.visibility`) for every
read, search, include and history, with the `Viewer` made here. A withdrawal or an expiry therefore takes effect on
the next request.

Authorship is a fact: the author of a resource is the organisation that first wrote it, and a plan's source
identifier is in its author's namespace (`ClientRegistry.owners_of`), so another organisation can neither write a
plan under it, nor capture or block the author's writes. Likewise a message's sender: notices go out in the name
of the organisation a message names (MSH-4, a letter's `Sender`, `MessageHeader.sender`), so a client may name only
its own organisation and those the registry lets it send for (`sends_as`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway.fhir.access import AuditRecord, Denied
from gateway.security.auth import Caller
from gateway.store.dates import format_instant
from gateway.store.ports import Resource, Viewer
from gateway.store.search_params import parse_reference
from mappings.issues import Issue

#: SOR codes owning a plan source system (`ClientRegistry.owners_of`).
SourceOwners = Callable[[str], frozenset[str]]


def patient_of(resource: Resource) -> str | None:
    """The id of the citizen a resource is about (subject / patient), or None."""
    for element in ("subject", "patient"):
        target = parse_reference((resource.get(element) or {}).get("reference"))
        if target is not None and target[0] == "Patient":
            return target[1]
    return None


def source_of(caller: Caller) -> str:
    """The `meta.source` the gateway stamps on what the caller's organisation authors (its SOR endpoint)."""
    return f"https://sor2.sum.dsdn.dk/#id={caller.organisation.sor}"


def viewer_of(caller: Caller, now: datetime) -> Viewer:
    """The caller as the access rule sees it: its organisation's SOR code, at the request's instant."""
    return Viewer(caller.organisation.sor, format_instant(now))


def require_source(caller: Caller, owners: SourceOwners, system: str, *, owned: bool) -> None:
    """403 unless the caller's organisation may use the plan source system `system`.

    `owned` (writing a plan through `/plans`): its organisation must own the system. Otherwise (a CarePlan written
    through `/fhir`): no other organisation may own it."""
    holders = owners(system)
    mine = caller.organisation.sor in holders
    if mine or (not owned and not holders):
        return
    reason = "is another organisation's" if holders else "is not registered for your organisation"
    issue = Issue(
        "error",
        "forbidden",
        f"The plan source system {system[:200]} {reason} (client registry `plan_sources`; every organisation owns "
        f"https://sor2.sum.dsdn.dk/#id=<its SOR code>)",
        message_id="plan.source-not-yours",
    )
    record = AuditRecord("C", "create", outcome="4", detail=f"plan source system {system[:200]} {reason}")
    raise Denied.of(issue, 403, record)


def require_sender(caller: Caller, sor: str, where: str) -> None:
    """403 unless the caller's organisation may post a message that names SOR code `sor` as its sender."""
    if caller.may_send_as(sor):
        return
    issue = Issue(
        "error",
        "forbidden",
        f"The message names {sor[:40] or 'no SOR code'} as its sender; client {caller.client_id} may send only as "
        f"its own organisation ({caller.organisation.sor}) and those its registry entry lists in `sends_as`",
        where,
        "intake.sender-not-yours",
    )
    record = AuditRecord("C", "create", outcome="4", detail=f"message in the name of {sor[:40]}: not this client's")
    raise Denied.of(issue, 403, record)
