"""The CareCommunications about a hospital stay, beside the HospitalNotification the municipality always gets.

Category codes are MedCom's (CodeSystem `medcom-careCommunication-categoryCodes`, terminology 2.0.1 as
CareCommunication 5.0.2 binds it; Danish designations in brackets):
- `discharge` ("Udskrivelse"): the discharge letter to the citizen's GP;
- `carecoordination` ("Forløbskoordinering"): the plan's follow-up to the home municipality, and the admission and
  discharge to the coordinator's organisation. These messages carry the coordination of the course itself -
  coordinator, next coordination meeting, interventions across sectors - which is what "Forløbskoordinering"
  names; MedCom's own carecoordination example (Bundle k7bfbc0c) is likewise about a course shared between
  hospital and municipality;
- `psychiatry-social-disability` ("Psykiatri, social, handicap"): the crisis plan and advance directive to the
  admitting ward, psychiatric content made in psychiatric outpatient care.
Which of them is made, and for whom, is the caller's decision (`gateway.services.notices`), each behind the
citizen's consent (`may_disclose`); these functions only write what they are given. Every text says only what the
inputs say (`mappings.notices.danish_text`). Payload and message times are the time sent (`ctx.now`).
"""

from __future__ import annotations

from mappings.context import MappingContext
from mappings.documents.discharge import AdmissionEvent, Author, DischargeEvent, Party
from mappings.documents.plan_facts import CrisisPlan, PlanFollowUp
from mappings.explain import Origin, Text
from mappings.notices.care_communication import CLOCK, CareMessage, Payload, care_communication
from mappings.notices.danish_text import crisis_plan_text, follow_up_text
from mappings.notices.messaging import Resource

CARE_COORDINATION = "carecoordination"
CRISIS_PLAN_CATEGORY = "psychiatry-social-disability"
_CATEGORY = Origin("constant", "MedCom category code (medcom-careCommunication-categoryCodes)")


def _encounter_origin(status: str, encounter_class: Origin) -> Origin:
    return Origin(encounter_class.kind, f"status {status}; class {encounter_class.source}")


def _topic(words: str) -> Text:
    return Text(words, (("the topic this gateway gives this kind of message", words),))


def _discharge_message(
    event: DischargeEvent, category: str, topic: str, payloads: tuple[Payload, ...], role: str, ctx: MappingContext
) -> CareMessage:
    return CareMessage(
        source_key=f"{event.source_key}|{role}",
        sent=ctx.now,
        sender=event.sender,
        receiver=event.receiver,
        citizen=event.patient,
        category=category,
        category_origin=_CATEGORY,
        topic=_topic(topic),
        author=event.author,
        payloads=payloads,
        episode=event.episode_of_care_identifier,
        episode_origin=event.origin("episode"),
        encounter_status="finished",
        encounter_class=event.encounter_class or "IMP",
        encounter_origin=_encounter_origin("finished: the citizen is discharged", event.origin("encounter_class")),
    )


def discharge_care_communication(
    event: DischargeEvent, follow_up: PlanFollowUp | None, ctx: MappingContext
) -> Resource:
    """The discharge CareCommunication to the GP: category `discharge`, the discharge text and, only when the
    caller passes `follow_up` (the citizen's consent permits disclosure to this GP), the plan's follow-up as a
    second payload."""
    payloads = [Payload("discharge", ctx.now, CLOCK, text=event.text)]
    if follow_up is not None:
        payloads.append(Payload("follow-up", ctx.now, CLOCK, text=follow_up_text(follow_up), text_kind="plan"))
    message = _discharge_message(event, "discharge", "Udskrivelse", tuple(payloads), "gp", ctx)
    return care_communication(message, ctx)


def municipality_care_communication(event: DischargeEvent, follow_up: PlanFollowUp, ctx: MappingContext) -> Resource:
    """The plan's follow-up to the home municipality (`event.receiver`), category `carecoordination`: the discharge
    text, then the follow-up."""
    plan = follow_up_text(follow_up)
    text = Text(f"{event.text.text}\n{plan.text}", event.text.values + plan.values)
    payload = Payload("follow-up", ctx.now, CLOCK, text=text, text_kind="plan")
    message = _discharge_message(
        event, CARE_COORDINATION, "Opfølgning efter udskrivelse", (payload,), "municipality", ctx
    )
    return care_communication(message, ctx)


def coordinator_discharge_communication(event: DischargeEvent, ctx: MappingContext) -> Resource:
    """The discharge to the coordinator's organisation (`event.receiver`), category `carecoordination`."""
    payload = Payload("discharge", ctx.now, CLOCK, text=event.text)
    message = _discharge_message(event, CARE_COORDINATION, "Udskrivelse", (payload,), "coordinator", ctx)
    return care_communication(message, ctx)


def coordinator_admission_communication(
    event: AdmissionEvent, receiver: Party, author: Author, ctx: MappingContext
) -> Resource:
    """The admission to the coordinator's organisation, from the admitting organisation: `carecoordination`."""
    message = CareMessage(
        source_key=f"{event.source_key}|coordinator",
        sent=ctx.now,
        sender=event.hospital,
        receiver=receiver,
        citizen=event.patient,
        category=CARE_COORDINATION,
        category_origin=_CATEGORY,
        topic=_topic("Indlæggelse"),
        author=author,
        payloads=(Payload("admission", ctx.now, CLOCK, text=event.text),),
        episode=event.episode_of_care_identifier,
        episode_origin=event.origin("episode"),
        encounter_status="in-progress",
        encounter_class=event.encounter_class or "IMP",
        encounter_origin=_encounter_origin("in-progress: the citizen is admitted", event.origin("encounter_class")),
    )
    return care_communication(message, ctx)


def crisis_plan_communication(
    event: AdmissionEvent,
    crisis_plans: tuple[CrisisPlan, ...],
    sender: Party,
    author: Author,
    ctx: MappingContext,
) -> Resource:
    """The citizen's crisis plan and advance directive, one payload each, to the admitting organisation
    (`event.hospital`), category `psychiatry-social-disability`, sent by `sender` (the organisation that keeps
    the plan). No Encounter: the episode of care is the hospital's, and this message is not its sender's."""
    payloads = tuple(
        Payload(f"crisis-plan-{index}", ctx.now, CLOCK, text=crisis_plan_text(plan, index), text_kind="plan")
        for index, plan in enumerate(crisis_plans)
    )
    titles = " og ".join(
        dict.fromkeys(("Kriseplan" if p.kind == "crisis-plan" else "Forhåndstilkendegivelse") for p in crisis_plans)
    )
    message = CareMessage(
        source_key=f"{event.source_key}|crisisplan",
        sent=ctx.now,
        sender=sender,
        receiver=event.hospital,
        citizen=event.patient,
        category=CRISIS_PLAN_CATEGORY,
        category_origin=_CATEGORY,
        topic=_topic(f"{titles} ved indlæggelse"),
        author=author,
        payloads=payloads,
    )
    return care_communication(message, ctx)
