"""From parsed inputs to the notice inputs: `HospitalStayEvent` (municipality) and `DischargeEvent` (GP).

The parties (`sender`, `receiver`) and the stay's `history` come from the caller: the SOR directory knows the
SOR/GLN pair of a hospital unit, a municipality or a GP clinic, the store knows which notices were already sent.
Trigger to use case: ConceptMap `adt-trigger-to-hospital-notification` (A01 → STIN/STAA by PV1-2, A03 → SLHJ or
MORS when PID-30 = Y, A13 → AN_SLHJ, A21 → STOR, A22 → SLOR).

Episode-of-care identifier (MedCom: a UUID with hyphens in FHIR, without in OIOXML/EDIFACT): PV1-19 is used as is
when it is a UUID (hyphens restored); any other visit number becomes a UUID v5 of sending facility + visit number,
so every message about the same visit carries the same identifier.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from mappings.conceptmaps import targets
from mappings.documents.discharge import (
    AdtEvent,
    Author,
    DischargeEvent,
    DischargeLetter,
    HospitalStayEvent,
    Party,
    PriorNotice,
)
from mappings.issues import IssueError
from mappings.notices.messaging import GATEWAY_NAMESPACE

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def episode_of_care_identifier(visit_number: str | None, facility: str, location: str = "PV1-19") -> str:
    """The MedCom episode-of-care identifier for a visit (see the module docstring)."""
    if not visit_number:
        raise IssueError.single(
            "required",
            "the visit number (episode of care) is missing; MedCom notices need one",
            expression=location,
            message_id="notice.episode-missing",
        )
    compact = visit_number.replace("-", "")
    if _HEX32.match(compact):
        return str(uuid.UUID(compact))
    return str(uuid.uuid5(GATEWAY_NAMESPACE, f"episode|{facility}|{visit_number}"))


def _use_case(adt: AdtEvent) -> str:
    for target in targets("adt-trigger-to-hospital-notification", adt.trigger):
        conditions = {c["property"]: c["value"] for c in target.get("dependsOn", [])}
        if "PV1-2" in conditions and conditions["PV1-2"] != adt.patient_class:
            continue
        if "PID-30" in conditions and not adt.patient.deceased:
            continue
        if "PID-30" not in conditions and adt.patient.deceased and adt.trigger == "A03":
            continue
        return str(target["code"])
    raise IssueError.single(
        "not-supported",
        f"ADT^{adt.trigger} with patient class {adt.patient_class!r} has no HospitalNotification use case",
        expression="PV1-2",
        message_id="notice.no-use-case",
    )


def stay_event_from_adt(
    adt: AdtEvent, *, sender: Party, receiver: Party, history: tuple[PriorNotice, ...] = ()
) -> HospitalStayEvent:
    """The HospitalNotification input for an ADT message; `receiver` is the citizen's home municipality."""
    if adt.encounter_class is None:
        raise IssueError.single(
            "not-supported",
            f"patient class {adt.patient_class!r} is neither inpatient (I) nor emergency (E)",
            expression="PV1-2",
            message_id="notice.class-not-notified",
        )
    use_case = _use_case(adt)
    admitted = adt.admitted
    if admitted is None:
        raise IssueError.single(
            "required", "PV1-44 (admit date/time) is empty", expression="PV1-44", message_id="notice.admit-missing"
        )
    occurred = adt.event_occurred or adt.message_time
    leave_start = leave_end = None
    if use_case.endswith("STOR"):
        leave_start = occurred
    elif use_case.endswith("SLOR"):
        leave_start = _leave_start(history)
        leave_end = occurred
    return HospitalStayEvent(
        use_case=use_case,
        source_key=adt.source_key,
        patient=adt.patient,
        encounter_class=adt.encounter_class,
        episode_of_care_identifier=episode_of_care_identifier(adt.visit_number, adt.sending_facility),
        admitted=admitted,
        occurred=occurred,
        sender=sender,
        receiver=receiver,
        discharged=adt.discharged if use_case.endswith(("SLHJ", "MORS")) else None,
        leave_start=leave_start,
        leave_end=leave_end,
        history=history,
        sources=(
            ("source_key", "MSH-3, MSH-4, MSH-10"),
            ("cpr", "PID-3.1"),
            ("encounter_class", "PV1-2"),
            ("episode", "PV1-19"),
            ("admitted", "PV1-44"),
            ("discharged", "PV1-45"),
            ("sender", "MSH-4 (SOR directory)"),
            ("receiver", "PID-11 municipality (SOR directory)"),
        ),
    )


def _leave_start(history: tuple[PriorNotice, ...]) -> datetime | None:
    starts = [
        notice.leave_start or notice.occurred for notice in history if notice.activity.endswith("start-leave-inpatient")
    ]
    return starts[-1] if starts else None


def discharge_event_from_adt(
    adt: AdtEvent, *, sender: Party, receiver: Party, author: Author, text: str
) -> DischargeEvent:
    """The GP CareCommunication input for an ADT^A03; `text` is the discharge text (ADT carries none)."""
    if adt.trigger != "A03" or adt.discharged is None:
        raise IssueError.single(
            "business-rule",
            "a discharge CareCommunication needs an ADT^A03 with PV1-45 (discharge date/time)",
            expression="PV1-45",
            message_id="notice.not-a-discharge",
        )
    return DischargeEvent(
        source_key=adt.source_key,
        patient=adt.patient,
        sender=sender,
        receiver=receiver,
        author=author,
        discharged=adt.discharged,
        text=text,
        episode_of_care_identifier=episode_of_care_identifier(adt.visit_number, adt.sending_facility),
        encounter_class=adt.encounter_class,
    )


def discharge_event_from_letter(
    letter: DischargeLetter, *, sender: Party, receiver: Party, author: Author
) -> DischargeEvent:
    """The GP CareCommunication input for an XDIS01 discharge letter (its text and discharge time)."""
    discharged = letter.discharged or letter.authorised
    return DischargeEvent(
        source_key=letter.source_key,
        patient=letter.patient,
        sender=sender,
        receiver=receiver,
        author=author,
        discharged=discharged,
        text=letter.text,
        encounter_class="IMP" if letter.admitted is not None else None,
    )
