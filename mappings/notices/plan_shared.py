"""The shared plan sent after a coordination meeting: a MedCom CareCommunication 5.0.2 with the plan as PDF.

The citizen's plan is today mailed to the meeting's participants by hand (domain.md: "After the meeting the plan is
shared with the participants"). The gateway sends it as a correspondence message to every team organisation the
plan's consent permits for `careplan`:

- category `carecoordination` ("Forløbskoordinering", MedCom CodeSystem medcom-careCommunication-categoryCodes):
  the message carries the coordination of the citizen's course across sectors, as the municipality follow-up does
  (`care_communication.municipality_care_communication` gives the reasoning);
- `topic.text` names the plan and the meeting ("Fælles plan KIP-2025-000417: koordinationsmøde 3. juni 2025");
- one text payload: what was decided (coordinator until the next meeting, the next meeting, the interventions
  with who and by when);
- one attachment payload: the plan as `application/pdf` (in MedCom's `medcom-core-attachmentMimeTypes`), with a
  title, base64 data.

MessageHeader and resource ids are UUID v5 of (plan, meeting date, recipient), so the same meeting sent to the same
organisation is the same message (the outbox and MedCom's receiver rules make a repeat harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mappings.context import MappingContext
from mappings.documents.discharge import Author, Citizen, Party
from mappings.documents.plan import PlanDocument
from mappings.explain import CONSTANT, Origin, Text
from mappings.notices.care_communication import CLOCK, Attachment, CareMessage, Payload, care_communication
from mappings.notices.danish_text import danish_date
from mappings.notices.messaging import Resource

CATEGORY = "carecoordination"
PDF = "application/pdf"
#: Every fact of the shared plan's texts comes from the plan document.
PLAN = Origin("plan", "the plan document (coordination, interventions, team)")


@dataclass(frozen=True, slots=True)
class SharedPlan:
    """One plan version to send to one organisation after a coordination meeting."""

    plan_id: str
    document: PlanDocument
    sender: Party
    receiver: Party
    author: Author
    pdf_base64: str


def _long_date(value: date) -> str:
    """One date format across our Danish texts (`danish_text`: dd.mm.åååå, as MedCom's examples write dates)."""
    return danish_date(value)


def _member_name(document: PlanDocument, key: str) -> str:
    for member in document.team:
        if member.key == key:
            if member.name is not None:
                return " ".join((*member.name.given, member.name.family))
            if member.organisation is not None:
                return member.organisation.name
    return key


def plan_topic(document: PlanDocument) -> str:
    return f"Fælles plan {document.source.value}: koordinationsmøde {_long_date(document.coordination.meeting_date)}"


def decisions_text(document: PlanDocument) -> str:
    """What the meeting decided, in Danish: coordinator, next meeting, interventions with who and by when."""
    coordination = document.coordination
    lines = [
        f"Aftalt på koordinationsmødet {_long_date(coordination.meeting_date)}:",
        f"Stafetholder indtil næste møde: {_member_name(document, coordination.coordinator)}",
        "Næste koordinationsmøde: "
        + (_long_date(coordination.next_meeting) if coordination.next_meeting else "ikke fastlagt"),
    ]
    open_items = [item for item in document.interventions if item.status not in ("completed", "cancelled")]
    if open_items:
        lines.append("Indsatser:")
        for item in open_items:
            due = f", senest {_long_date(item.until)}" if item.until else ""
            lines.append(f"- {item.description} (ansvarlig: {_member_name(document, item.responsible)}{due})")
    lines.append("Hele planen er vedhæftet som PDF.")
    return "\n".join(lines)


def care_communication_from_shared_plan(shared: SharedPlan, ctx: MappingContext) -> Resource:
    """The CareCommunication message Bundle for one recipient (see the module docstring)."""
    document = shared.document
    citizen = Citizen(
        cpr=document.citizen.cpr, family=document.citizen.name.family, given=tuple(document.citizen.name.given)
    )
    meeting = document.coordination.meeting_date.isoformat()
    meeting_field = ("coordination.meeting_date", meeting)
    decisions = Text(decisions_text(document), (meeting_field, ("coordination", "coordinator, next_meeting")))
    pdf = Attachment(
        PDF,
        shared.pdf_base64,
        f"Fælles plan {document.source.value} {meeting}.pdf",
        origins=(
            ("contentType", CONSTANT),
            ("data", Origin("plan", "the plan version rendered as PDF")),
            ("title", Origin("plan", "source.value, coordination.meeting_date", (meeting_field,))),
        ),
    )
    message = CareMessage(
        source_key=f"plan-shared|{shared.plan_id}|{meeting}|{shared.receiver.sor}",
        sent=ctx.now,
        sender=shared.sender,
        receiver=shared.receiver,
        citizen=citizen,
        category=CATEGORY,
        topic=Text(plan_topic(document), (("source.value", document.source.value), meeting_field)),
        topic_kind="plan",
        author=shared.author,
        payloads=(
            Payload("decisions", ctx.now, CLOCK, text=decisions, text_kind="plan"),
            Payload("plan-pdf", ctx.now, CLOCK, attachment=pdf),
        ),
    )
    return care_communication(message, ctx)
