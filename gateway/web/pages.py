"""What each page shows, assembled from the services with the signed-in person's `Access` (no second data path).

`PageServices` is built once by `create_app`; every method takes the caller's `Access`, so the access rule, the
audit trail and the 404 for what may not be seen are exactly the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.delivery.outbox import NoticeRecord
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.fhir.access import Access
from gateway.fhir.interactions import FhirService
from gateway.security.citizen import CitizenAccess
from gateway.services.plan_history import PlanHistory, PlanVersions
from gateway.services.plan_sharing import shared_inbound_id
from gateway.services.plans import PlanService
from gateway.web import words
from gateway.web.changes import Change, plan_changes
from gateway.web.views import PlanView, plan_view
from mappings.documents.plan import PlanDocument
from mappings.plan.codes import CPR_SYSTEM

#: How far back "who looked at my plan" goes (the page says so).
LOG_PERIOD = timedelta(days=365)
NOTICE_STATE = {
    "pending": "venter på at blive sendt",
    "sending": "sendes nu",
    "sent": "sendt, venter på kvittering",
    "acknowledged": "modtaget og kvitteret",
    "dead": "kunne ikke sendes",
}
NOTICE_KIND = {
    "hospital-notification": "Sygehusadvis",
    "care-communication": "Korrespondance",
    "care-communication-discharge": "Udskrivning til egen læge",
    "care-communication-followup": "Opfølgning til kommunen",
    "care-communication-plan": "Planen efter koordinationsmøde",
}
#: Plan content types in the citizen's words, for "who looked at my plan".
WHAT = {
    "CarePlan": "din plan",
    "Goal": "dine ønsker og mål",
    "CareTeam": "dit team",
    "Consent": "dit samtykke eller din kriseplan",
    "Patient": "dine oplysninger",
}


@dataclass(frozen=True)
class LogRow:
    when: str
    who: str
    what: str


@dataclass(frozen=True)
class NoticeRow:
    when: str
    kind: str
    recipient: str
    state: str


@dataclass(frozen=True)
class SharedRow:
    recipient: str
    state: str


@dataclass(frozen=True)
class TeamPage:
    plan: PlanView
    versions: PlanVersions
    changes: list[Change]
    previous: str | None


class PageServices:
    def __init__(
        self,
        plans: PlanService,
        history: PlanHistory,
        fhir: FhirService,
        outbox: SqlOutbox,
        citizen_key: Callable[[str], str],
    ) -> None:
        self.plans = plans
        self.history = history
        self.fhir = fhir
        self.outbox = outbox
        self.citizen_key = citizen_key

    # -- reading ---------------------------------------------------------------------------------------------

    def citizen_plan_id(self, access: CitizenAccess) -> str | None:
        stored = self.plans.current_plan_for(access.cpr, access, paused=True)
        return stored.plan_id if stored else None

    def plan(self, plan_id: str, access: Access) -> TeamPage:
        versions = self.history.with_previous_meeting(plan_id, access)
        view = plan_view(versions.current, plan_id, versions.version)
        previous = versions.previous
        return TeamPage(
            plan=view,
            versions=versions,
            changes=plan_changes(previous, versions.current) if previous else [],
            previous=words.long_date(previous.coordination.meeting_date) if previous else None,
        )

    def audit_log(self, base: str, plan_id: str, document: PlanDocument, access: CitizenAccess) -> list[LogRow]:
        """Who looked at or changed the citizen's plan `plan_id` (`citizen_plan_id`), newest first, from the
        AuditEvents about their Patient (sundhed.dk's "Min log"). The citizen's own visits are left out."""
        patient = self.plans.patient_of(plan_id) or ""
        since = (self.fhir.clock.now() - LOG_PERIOD).date().isoformat()
        pairs = [
            ("patient", patient),
            ("date", f"ge{since}"),
            ("agent-identifier:not", f"{CPR_SYSTEM}|{document.citizen.cpr}"),  # not the citizen's own visits
            ("_sort", "-_lastUpdated"),
            ("_count", "100"),
        ]
        bundle = self.fhir.search(base, "AuditEvent", pairs, access).body or {}
        rows: list[LogRow] = []
        for entry in bundle.get("entry", []):
            row = _log_row(entry["resource"])
            if row is not None and (not rows or rows[-1] != row):  # one line per operation, not per resource
                rows.append(row)
        return rows

    async def shared(self, plan_id: str, document: PlanDocument) -> list[SharedRow]:
        """Who received the plan after its current coordination meeting, and who did not and why."""
        inbound_id = shared_inbound_id(plan_id, document)
        notices = await self.outbox.for_inbound(inbound_id)
        rows = [SharedRow(_recipient_name(n), NOTICE_STATE.get(n.state.value, n.state.value)) for n in notices]
        found = await self.outbox.inbound(inbound_id)
        for note in (found[0] if found else {}).get("summary", {}).get("notes", []):
            name, _, why = str(note).partition(": ")
            rows.append(SharedRow(name, why))
        return rows

    async def notices(self, document: PlanDocument) -> list[NoticeRow]:
        records = await self.outbox.for_citizen(self.citizen_key(document.citizen.cpr))
        return [
            NoticeRow(
                words.local_time(n.created_at),
                NOTICE_KIND.get(n.kind, n.kind),
                _recipient_name(n),
                NOTICE_STATE.get(n.state.value, n.state.value),
            )
            for n in records
        ]


def _recipient_name(notice: NoticeRecord) -> str:
    """The receiving organisation's name, from the Organization `MessageHeader.destination.receiver` points at."""
    entries = notice.message.get("entry", [])
    header = entries[0].get("resource", {}) if entries else {}
    receiver = str((header.get("destination") or [{}])[0].get("receiver", {}).get("reference", ""))
    for entry in entries:
        resource = entry.get("resource", {})
        if f"{resource.get('resourceType')}/{resource.get('id')}" == receiver and resource.get("name"):
            return str(resource["name"])
    return notice.recipient


def _log_row(event: dict[str, Any]) -> LogRow | None:
    agents = event.get("agent", [])
    if any((a.get("who") or {}).get("identifier", {}).get("system") == CPR_SYSTEM for a in agents):
        return None  # the citizen's own visit
    organisation = next(
        (a.get("name") or (a.get("who") or {}).get("display") for a in agents if a.get("name")),
        None,
    )
    client = next(((a.get("who") or {}).get("identifier", {}).get("value") for a in agents if a.get("requestor")), None)
    who = organisation or (f"Systemet {client}" if client else "Ukendt")
    types = {
        str(e.get("what", {}).get("reference", "")).split("/")[0]
        for e in event.get("entity", [])
        if (e.get("role") or {}).get("code") != "1"  # the Patient entity names whose plan it is, not what
    }
    what = ", ".join(WHAT[t] for t in WHAT if t in types) or "din plan"
    action = words.AUDIT_ACTION.get(event.get("action", ""), "brugte")
    if event.get("outcome") not in (None, "0"):
        action = f"prøvede (uden lov) at {'se' if event.get('action') in ('R', 'E') else 'ændre'}"
    subtype = (event.get("subtype") or [{}])[0].get("code")
    if subtype in ("disclose", "transmit"):
        action = "sendte"
    recorded = datetime.fromisoformat(str(event["recorded"]).replace("Z", "+00:00"))
    return LogRow(words.local_time(recorded), who, f"{action} {what}")
