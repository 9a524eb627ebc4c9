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

A stay whose earlier notices were never sent by this gateway (admitted before go-live, say) may still be reported:
with `HospitalStayEvent.first_of_stay`, a follow-up notice (STOR, SLOR, SLHJ, MORS) goes out as the stay's first
and only notice, one Provenance without `entity`, as MedCom's technical specification draws the first notice of a
stay ("only one instance of the Provenance resource is included, since only one HospitalNotification has been
sent"; the entity references the previous message only "in cases of a previously send message concerning the same
admission": Intro-Technical-Spec-ENG §3, HospitalNotification 3.0.2). A death reports the stay's current activity,
which for a stay known only from this message is its admission (`admit-<class>`, Overview of HospitalNotification
codes: "if a patient is admitted ... and dies during the admission, Provenance.activity must be admit-inpatient").
What happens to RE_ and AN_ forms of such a stay is decided in `mappings.notices.stay_events`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mappings.conceptmaps import hospital_notification_use_cases, load_table
from mappings.context import MappingContext
from mappings.documents.discharge import CPR_SYSTEM, HospitalStayEvent, PriorNotice
from mappings.explain import CONSTANT, Description, Origin, reference_to
from mappings.issues import IssueError
from mappings.notices.messaging import (
    ACT_CODE_SYSTEM,
    ACTIVITY_SYSTEM,
    EVENT_SYSTEM,
    RESOURCE_BASICS,
    SOR_ENDPOINT,
    Resource,
    derived_uuid,
    destination,
    destination_description,
    entry,
    fhir_datetime,
    message_bundle,
    narrative,
    organization,
    patient,
    reference,
    require_sor_and_gln,
    source_endpoint,
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
        if not living and event.first_of_stay:
            living = [f"admit-{word}"]
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


def _encounter(
    event: HospitalStayEvent, status: str, ids: dict[str, str], sender_sor: str | None, ctx: MappingContext
) -> Resource:
    period: dict[str, str] = {"start": fhir_datetime(event.admitted)}
    end_origin = event.origin("discharged")
    if status in _FINISHED:
        end = event.discharged or event.occurred
        end_origin = event.origin("discharged" if event.discharged else "occurred")
        period["end"] = fhir_datetime(end)
    episode: dict[str, str] = {"value": event.episode_of_care_identifier}
    if sender_sor:
        episode = {"system": f"{SOR_ENDPOINT}{sender_sor}", **episode}
    encounter: Resource = {
        "resourceType": "Encounter",
        "id": ids["Encounter"],
        "meta": {"profile": [ENCOUNTER_PROFILE]},
        "text": narrative(
            "Encounter",
            f"status = {status}",
            f"class = {event.encounter_class}",
            " ".join(f"period.{key} = {value}" for key, value in period.items()),
        ),
        "status": status,
        "class": {"system": ACT_CODE_SYSTEM, "code": event.encounter_class},
        "subject": {"reference": f"Patient/{ids['Patient']}"},
        "episodeOfCare": [{"identifier": episode}],
        "period": period,
        "serviceProvider": {"reference": f"Organization/{ids['sender']}"},
    }
    leave_origins: dict[str, Origin] = {}
    if event.leave_start is not None and (event.use_case in _LEAVE_USE_CASES or status == "onleave"):
        leave: dict[str, str] = {"start": fhir_datetime(event.leave_start)}
        leave_origins["start"] = event.origin("leave_start")
        if event.leave_end is not None and status == "in-progress":
            leave["end"] = fhir_datetime(event.leave_end)
            leave_origins["end"] = event.origin("leave_end")
        encounter["extension"] = [{"url": LEAVE_PERIOD_URL, "valuePeriod": leave}]
    if status == "onleave" and "extension" not in encounter:
        raise _fail(
            "required",
            "a notice with status 'onleave' needs the start of the leave (medcom-hospitalNotification-6)",
            "leave_start",
            "hn.leave-start-missing",
        )

    def describe() -> Description:
        return {
            **RESOURCE_BASICS,
            "status": Origin("constant", f"the status of use case {event.use_case} (MedCom's code overview)"),
            "class.system": CONSTANT,
            "class.code": event.origin("encounter_class"),
            "subject.reference": reference_to("the Patient"),
            "episodeOfCare[0].identifier.system": event.sender.origin("sor"),
            "episodeOfCare[0].identifier.value": event.origin("episode"),
            "period.start": event.origin("admitted"),
            "period.end": end_origin,
            "serviceProvider.reference": reference_to("the sender Organization"),
            "extension[0].url": CONSTANT,
            **{f"extension[0].valuePeriod.{key}": origin for key, origin in leave_origins.items()},
        }

    ctx.describe(encounter, describe)
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


_PROVENANCE_SHAPE = ("activity.coding[0].system", "agent[0].who.reference")


def _history_provenance(notice: PriorNotice, sender_id: str, ctx: MappingContext) -> Resource:
    entity = None
    if notice.entity_role and notice.entity_reference:
        entity = (notice.entity_role, notice.entity_reference.removeprefix("MessageHeader/"))
    resource = _provenance(
        notice.provenance_id or derived_uuid(notice.message_header_id, "Provenance"),
        notice.message_header_id,
        notice.activity,
        fhir_datetime(notice.occurred),
        sender_id,
        entity,
    )

    def describe() -> Description:
        earlier = Origin("history", f"the stay's earlier notice MessageHeader/{notice.message_header_id}")
        return {
            **RESOURCE_BASICS,
            "id": earlier,
            "text.div": NARRATIVE_OF_HISTORY,
            "target[0].reference": earlier,
            "occurredDateTime": earlier,
            "recorded": earlier,
            "activity.coding[0].system": CONSTANT,
            "activity.coding[0].code": earlier,
            "agent[0].who.reference": reference_to("the sender Organization"),
            "entity[0].role": earlier,
            "entity[0].what.reference": earlier,
        }

    ctx.describe(resource, describe)
    return resource


NARRATIVE_OF_HISTORY = Origin("derived", "generated narrative of the earlier notice's Provenance")


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
    if row["entityRole"] is not None and not event.history and not event.first_of_stay:
        raise _fail(
            "business-rule",
            f"{event.use_case}: this gateway sent no earlier notice of this stay; if the stay began before it "
            "reported it, send again with ?first-of-stay=true (gateway convert --first-of-stay; README: 'A stay this "
            "gateway did not see begin'). MedCom: every later notice carries the stay's Provenance history",
            "history",
            "hn.history-missing",
        )
    return row


def hospital_notification_from_event(event: HospitalStayEvent, ctx: MappingContext) -> Resource:
    """The MedCom HospitalNotification message Bundle for `event` (see the module docstring)."""
    row = _check(event)
    activity, status = _activity_and_status(event, row)
    sender_sor, _ = require_sor_and_gln(event.sender, "sender", ctx)
    receiver_sor, _ = require_sor_and_gln(event.receiver, "receiver", ctx)
    header_id = derived_uuid(event.source_key, "MessageHeader", namespace=ctx.header_namespace)
    ids = {
        name: derived_uuid(event.source_key, name)
        for name in ("Patient", "Encounter", "sender", "receiver", "Provenance")
    }
    sender = organization(event.sender, ids["sender"], "sender", ctx)
    receiver = organization(event.receiver, ids["receiver"], "receiver", ctx)
    deceased = row["patientDeceased"]
    encounter = _encounter(event, status, ids, sender_sor, ctx)
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
        "source": source_endpoint(sender_sor),
        "focus": [reference(encounter)],
    }
    if event.report_of_admission:
        header["extension"] = [
            {"url": REPORT_OF_ADMISSION_URL, "valueBoolean": True},
            {"url": REPORT_OF_ADMISSION_RECIPIENT_URL, "valueReference": reference(sender)},
        ]
    ctx.describe(header, lambda: _header_description(event))
    predecessor = event.history[-1].message_header_id if event.history else None
    entity = (row["entityRole"], predecessor) if row["entityRole"] and predecessor else None
    provenances = [_history_provenance(notice, ids["sender"], ctx) for notice in event.history]
    own = _provenance(ids["Provenance"], header_id, activity, fhir_datetime(ctx.now), ids["sender"], entity)
    ctx.describe(own, lambda: _own_provenance_description(event, predecessor))
    provenances.append(own)
    if deceased is None:
        patient_resource = patient(event.patient, ids["Patient"], ctx)
    else:
        patient_resource = patient(
            replace(event.patient, deceased=bool(deceased)),
            ids["Patient"],
            ctx,
            deceased=Origin("constant", f"Patient.deceased of use case {event.use_case} (MedCom's code overview)"),
        )
    resources = [header, patient_resource, encounter, sender, receiver, *provenances]
    return message_bundle(
        MESSAGE_PROFILE,
        ctx.now,
        [entry(FULL_URL_BASE, r) for r in resources],
        ctx,
        Origin("clock", "the time the notice was made (MedCom: the time sent)"),
    )


def _header_description(event: HospitalStayEvent) -> Description:
    return {
        **RESOURCE_BASICS,
        "eventCoding.system": CONSTANT,
        "eventCoding.code": CONSTANT,
        **destination_description(event.receiver.origin("sor")),
        "sender.reference": reference_to("the sender Organization"),
        "source.endpoint": event.sender.origin("sor"),
        "focus[0].reference": reference_to("the Encounter"),
        "extension[*].url": CONSTANT,
        "extension[0].valueBoolean": CONSTANT,
        "extension[1].valueReference.reference": reference_to("the sender Organization"),
    }


def _own_provenance_description(event: HospitalStayEvent, predecessor: str | None) -> Description:
    earlier = Origin("history", f"the stay's latest earlier notice MessageHeader/{predecessor}")
    activity = Origin("constant", f"the activity of use case {event.use_case} (MedCom's code overview)")
    if event.use_case.endswith("MORS"):
        activity = earlier if event.history else Origin("constant", "admit-<class>: the stay's current activity")
    return {
        **RESOURCE_BASICS,
        "target[0].reference": reference_to("this notice's MessageHeader"),
        "occurredDateTime": Origin("clock", "the time the notice was made"),
        "recorded": Origin("clock", "the time the notice was made"),
        "activity.coding[0].system": CONSTANT,
        "activity.coding[0].code": activity,
        "agent[0].who.reference": reference_to("the sender Organization"),
        "entity[0].role": Origin("constant", f"the predecessor's role for use case {event.use_case}"),
        "entity[0].what.reference": earlier,
    }


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
