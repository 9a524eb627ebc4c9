"""MedCom HospitalNotification 3.0.2 (sygehusadvis) to the citizen's home municipality.

One function per output: `hospital_notification_from_event(event, ctx)` builds the whole message Bundle for one
use case of the table in `mappings/conceptmaps/hospital-notification-use-cases.json` (STIN/STAA admit, STOR/SLOR
leave, SLHJ discharge, MORS death, each with its RE_ revise and AN_ cancel form), shaped like MedCom's examples
(`medcom-hospitalnotification/examples/Bundle-*.json`): MessageHeader (event `hospital-notification-message`, one
`primary` destination, focus = the Encounter), Patient (real CPR, inv medcom-hospitalNotification-4), Encounter
(status, class, episodeOfCare identifier under the sender's SOR endpoint, period, serviceProvider, leave period),
sender and receiver Organizations (GLN + SOR), and the Provenances of the whole stay: one per earlier notice
(unchanged, each targeting its own MessageHeader) and one for this notice, whose `entity` points at the
predecessor with role `revision` (updates and follow-ups) or `removal` (cancellations).
The notice is sent regardless of plan consent: it carries no plan content (Sundhedsloven basis, NOTES.md §10).
"""

from __future__ import annotations

from typing import Any

from mappings.conceptmaps import hospital_notification_use_cases, load_table
from mappings.context import MappingContext
from mappings.documents.discharge import CPR_SYSTEM, HospitalStayEvent, PriorNotice
from mappings.issues import IssueError
from mappings.notices.messaging import (
    ACT_CODE_SYSTEM,
    ACTIVITY_SYSTEM,
    EVENT_SYSTEM,
    SOR_ENDPOINT,
    Resource,
    derived_uuid,
    destination,
    entry,
    fhir_datetime,
    message_bundle,
    narrative,
    organization,
    patient,
    reference,
    require_sor_and_gln,
)

IG = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/"
MESSAGE_PROFILE = IG + "medcom-hospitalNotification-message"
HEADER_PROFILE = IG + "medcom-hospitalNotification-messageHeader"
ENCOUNTER_PROFILE = IG + "medcom-hospitalNotification-encounter"
PROVENANCE_PROFILE = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
LEAVE_PERIOD_URL = IG + "medcom-hospitalnotifiation-leave-period-extension"
REPORT_OF_ADMISSION_URL = IG + "medcom-messaging-reportOfAdmissionExtension"
REPORT_OF_ADMISSION_RECIPIENT_URL = IG + "medcom-messaging-reportOfAdmissionRecipientExtension"
FULL_URL_BASE = "https://medcomfhir.dk/ig/hospitalnotification/"
_FINISHED = ("finished",)
#: Use cases whose Encounter carries the leave period (a cancelled leave, AN_STOR, has none).
_LEAVE_USE_CASES = ("STOR", "RE_STOR", "SLOR", "RE_SLOR", "AN_SLOR")


def _fail(code: str, diagnostics: str, expression: str, message_id: str) -> IssueError:
    return IssueError.single(code, diagnostics, expression=expression, message_id=message_id)  # type: ignore[arg-type]


def _status_of_activity(activity: str) -> str:
    """The Encounter.status a stay has after a notice with `activity` (read from the use-case table)."""
    word = load_table("hospital-notification-use-cases")["classActivityWord"]
    for row in hospital_notification_use_cases().values():
        candidates = {row["activity"].replace("{class}", w) for w in word.values()}
        if activity in candidates and not row["encounterStatus"].startswith("("):
            return str(row["encounterStatus"])
    return "in-progress"


def _activity_and_status(event: HospitalStayEvent, row: dict[str, Any]) -> tuple[str, str]:
    word = load_table("hospital-notification-use-cases")["classActivityWord"][event.encounter_class]
    activity = str(row["activity"])
    if activity == "(current)":
        living = [notice.activity for notice in event.history]
        if not living:
            raise _fail(
                "business-rule",
                f"{event.use_case} reports the stay's current activity, but no earlier notice of this stay is known",
                "history",
                "hn.history-missing",
            )
        activity = living[-1]
    else:
        activity = activity.replace("{class}", word)
    status = str(row["encounterStatus"])
    if status == "(previous)":
        status = _status_of_activity(event.history[-1].activity) if event.history else "in-progress"
    return activity, status


def _encounter(event: HospitalStayEvent, status: str, ids: dict[str, str], sender_sor: str) -> Resource:
    period: dict[str, str] = {"start": fhir_datetime(event.admitted)}
    if status in _FINISHED:
        end = event.discharged or event.occurred
        period["end"] = fhir_datetime(end)
    encounter: Resource = {
        "resourceType": "Encounter",
        "id": ids["Encounter"],
        "meta": {"profile": [ENCOUNTER_PROFILE]},
        "text": narrative("Encounter", f"status = {status}", f"class = {event.encounter_class}", f"period = {period}"),
        "status": status,
        "class": {"system": ACT_CODE_SYSTEM, "code": event.encounter_class},
        "subject": {"reference": f"Patient/{ids['Patient']}"},
        "episodeOfCare": [
            {"identifier": {"system": f"{SOR_ENDPOINT}{sender_sor}", "value": event.episode_of_care_identifier}}
        ],
        "period": period,
        "serviceProvider": {"reference": f"Organization/{ids['sender']}"},
    }
    if event.leave_start is not None and (event.use_case in _LEAVE_USE_CASES or status == "onleave"):
        leave: dict[str, str] = {"start": fhir_datetime(event.leave_start)}
        if event.leave_end is not None and status == "in-progress":
            leave["end"] = fhir_datetime(event.leave_end)
        encounter["extension"] = [{"url": LEAVE_PERIOD_URL, "valuePeriod": leave}]
    if status == "onleave" and "extension" not in encounter:
        raise _fail(
            "required",
            "a notice with status 'onleave' needs the start of the leave (medcom-hospitalNotification-6)",
            "leave_start",
            "hn.leave-start-missing",
        )
    return encounter


def _provenance(
    provenance_id: str,
    header_id: str,
    activity: str,
    occurred: str,
    sender_id: str,
    entity: tuple[str, str] | None,
) -> Resource:
    resource: Resource = {
        "resourceType": "Provenance",
        "id": provenance_id,
        "meta": {"profile": [PROVENANCE_PROFILE]},
        "text": narrative("Provenance", f"activity = {activity}", f"target = MessageHeader/{header_id}"),
        "target": [{"reference": f"MessageHeader/{header_id}"}],
        "occurredDateTime": occurred,
        "recorded": occurred,
        "activity": {"coding": [{"system": ACTIVITY_SYSTEM, "code": activity}]},
        "agent": [{"who": {"reference": f"Organization/{sender_id}"}}],
    }
    if entity is not None:
        role, predecessor = entity
        resource["entity"] = [{"role": role, "what": {"reference": f"MessageHeader/{predecessor}"}}]
    return resource


def _history_provenance(notice: PriorNotice, sender_id: str) -> Resource:
    entity = None
    if notice.entity_role and notice.entity_reference:
        entity = (notice.entity_role, notice.entity_reference.removeprefix("MessageHeader/"))
    return _provenance(
        notice.provenance_id or derived_uuid(notice.message_header_id, "Provenance"),
        notice.message_header_id,
        notice.activity,
        fhir_datetime(notice.occurred),
        sender_id,
        entity,
    )


def _check(event: HospitalStayEvent) -> dict[str, Any]:
    row = hospital_notification_use_cases().get(event.use_case)
    if row is None:
        raise _fail(
            "not-supported",
            f"{event.use_case!r} is not a HospitalNotification use case "
            f"({', '.join(hospital_notification_use_cases())})",
            "use_case",
            "hn.use-case-unknown",
        )
    if event.encounter_class not in row["classes"]:
        raise _fail(
            "business-rule",
            f"{event.use_case} does not apply to encounter class {event.encounter_class}",
            "encounter_class",
            "hn.class-not-allowed",
        )
    if event.patient.cpr_system != CPR_SYSTEM:
        raise _fail(
            "business-rule",
            "HospitalNotification requires a real CPR number (medcom-hospitalNotification-4)",
            "patient.cpr",
            "hn.cpr-required",
        )
    if row["entityRole"] is not None and not event.history:
        raise _fail(
            "business-rule",
            f"{event.use_case} follows an earlier notice of the stay, but none is known "
            "(MedCom: every later notice carries the stay's Provenance history)",
            "history",
            "hn.history-missing",
        )
    return row


def hospital_notification_from_event(event: HospitalStayEvent, ctx: MappingContext) -> Resource:
    """The MedCom HospitalNotification message Bundle for `event` (see the module docstring)."""
    row = _check(event)
    activity, status = _activity_and_status(event, row)
    sender_sor, _ = require_sor_and_gln(event.sender, "sender")
    receiver_sor, _ = require_sor_and_gln(event.receiver, "receiver")
    header_id = derived_uuid(event.source_key, "MessageHeader")
    ids = {
        name: derived_uuid(event.source_key, name)
        for name in ("Patient", "Encounter", "sender", "receiver", "Provenance")
    }
    sender = organization(event.sender, ids["sender"], "sender")
    receiver = organization(event.receiver, ids["receiver"], "receiver")
    deceased = row["patientDeceased"]
    encounter = _encounter(event, status, ids, sender_sor)
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "meta": {"profile": [HEADER_PROFILE]},
        "text": narrative(
            f"HospitalNotification {event.use_case}",
            f"event = hospital-notification-message, activity = {activity}",
            f"sender = {event.sender.name or sender_sor}, receiver = {event.receiver.name or receiver_sor}",
        ),
        "eventCoding": {"system": EVENT_SYSTEM, "code": "hospital-notification-message"},
        "destination": [destination(receiver, receiver_sor)],
        "sender": reference(sender),
        "source": {"endpoint": f"{SOR_ENDPOINT}{sender_sor}"},
        "focus": [reference(encounter)],
    }
    if event.report_of_admission:
        header["extension"] = [
            {"url": REPORT_OF_ADMISSION_URL, "valueBoolean": True},
            {"url": REPORT_OF_ADMISSION_RECIPIENT_URL, "valueReference": reference(sender)},
        ]
    predecessor = event.history[-1].message_header_id if event.history else None
    entity = (row["entityRole"], predecessor) if row["entityRole"] and predecessor else None
    provenances = [_history_provenance(notice, ids["sender"]) for notice in event.history]
    provenances.append(
        _provenance(ids["Provenance"], header_id, activity, fhir_datetime(ctx.now), ids["sender"], entity)
    )
    resources = [
        header,
        patient(event.patient, ids["Patient"], deceased=deceased),
        encounter,
        sender,
        receiver,
        *provenances,
    ]
    bundle = message_bundle(MESSAGE_PROFILE, ctx.now, [entry(FULL_URL_BASE, r) for r in resources], ctx)
    _explain(event, ctx, len(provenances))
    return bundle


def _explain(event: HospitalStayEvent, ctx: MappingContext, provenances: int) -> None:
    if ctx.explain is None:
        return
    sources = dict(event.sources)
    pairs = {
        "Bundle.entry[0].resource.id": sources.get("source_key", "input identity"),
        "Bundle.entry[1].resource.identifier[0].value": sources.get("cpr", "patient.cpr"),
        "Bundle.entry[2].resource.status": f"use case {event.use_case}",
        "Bundle.entry[2].resource.class.code": sources.get("encounter_class", "encounter_class"),
        "Bundle.entry[2].resource.episodeOfCare[0].identifier.value": sources.get("episode", "episode"),
        "Bundle.entry[2].resource.period.start": sources.get("admitted", "admitted"),
        "Bundle.entry[2].resource.period.end": sources.get("discharged", "discharged"),
        "Bundle.entry[3].resource.identifier": sources.get("sender", "sender (SOR directory)"),
        "Bundle.entry[4].resource.identifier": sources.get("receiver", "receiver (SOR directory)"),
        f"Bundle.entry[{4 + provenances}].resource.activity": f"use case {event.use_case}",
    }
    for output, source in pairs.items():
        ctx.record(output, source)


def prior_notices_from_bundle(bundle: Resource) -> tuple[PriorNotice, ...]:
    """The stay's history after `bundle` (a HospitalNotification already sent): all its Provenances, oldest first.

    Feed the result as `HospitalStayEvent.history` of the stay's next notice.
    """
    from datetime import datetime

    resources = [item.get("resource", {}) for item in bundle.get("entry", [])]
    own_header = resources[0].get("id") if resources else None
    encounter: dict[str, Any] = next((r for r in resources if r.get("resourceType") == "Encounter"), {})
    leave: dict[str, Any] = next(
        (x.get("valuePeriod", {}) for x in encounter.get("extension", []) if x.get("url") == LEAVE_PERIOD_URL), {}
    )
    found: list[PriorNotice] = []
    for item in bundle.get("entry", []):
        resource = item.get("resource", {})
        if resource.get("resourceType") != "Provenance":
            continue
        entity = next(iter(resource.get("entity", [])), None)
        found.append(
            PriorNotice(
                message_header_id=resource["target"][0]["reference"].removeprefix("MessageHeader/"),
                activity=resource["activity"]["coding"][0]["code"],
                occurred=datetime.fromisoformat(resource["occurredDateTime"]),
                provenance_id=resource.get("id"),
                entity_role=entity["role"] if entity else None,
                entity_reference=entity["what"].get("reference") if entity else None,
                leave_start=datetime.fromisoformat(leave["start"])
                if leave.get("start") and resource["target"][0]["reference"] == f"MessageHeader/{own_header}"
                else None,
            )
        )
    return tuple(sorted(found, key=lambda notice: notice.occurred))
