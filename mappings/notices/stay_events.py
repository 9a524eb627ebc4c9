"""From parsed inputs to the notice inputs: `HospitalStayEvent` (municipality) and `DischargeEvent` (GP).

The parties (`sender`, `receiver`) and the stay's `history` come from the caller: the SOR directory knows the
SOR/GLN pair of a hospital unit, a municipality or a GP clinic, the store knows which notices were already sent.
Trigger to use case: ConceptMap `adt-trigger-to-hospital-notification` (A01 → STIN/STAA by PV1-2, A03 → SLHJ or
MORS when PID-30 = Y, A13 → AN_SLHJ, A21 → STOR, A22 → SLOR).

Episode-of-care identifier (MedCom: a UUID with hyphens in FHIR, without in OIOXML/EDIFACT): PV1-19 is used as is
when it is a UUID (hyphens restored); any other visit number becomes a UUID v5 of sending facility + visit number,
so every message about the same visit carries the same identifier.

A stay this gateway did not see begin (`first_of_stay`, the operator's word for it): with no earlier notice, a
correction (RE_x) is sent as the notice it corrects (x): MedCom's clinical guidelines define a correction as "a
new correct notification that replaces previous notifications", and the receiver has none to replace. A
cancellation (AN_x) has nothing to cancel: MedCom's use case S.CANC starts from "Der er afsendt advis af typen
[STIN] [STAA] [SLHJ] [MORS] [STOR] [SLOR]" (a notice has been sent), so no notice is made (`None`).
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
from mappings.explain import Origin, Text
from mappings.issues import IssueError
from mappings.notices.danish_text import stay_text
from mappings.notices.messaging import GATEWAY_NAMESPACE
from mappings.uuids import uuid5_text

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
    return uuid5_text(GATEWAY_NAMESPACE, f"episode|{facility}|{visit_number}")


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
    adt: AdtEvent,
    *,
    sender: Party,
    receiver: Party,
    history: tuple[PriorNotice, ...] = (),
    first_of_stay: bool = False,
) -> HospitalStayEvent | None:
    """The HospitalNotification input for an ADT message; `receiver` is the citizen's home municipality.

    `None` when there is nothing to notify: a cancellation of a stay no notice was sent for (`first_of_stay`).
    """
    if adt.encounter_class is None:
        raise IssueError.single(
            "not-supported",
            f"patient class {adt.patient_class!r} is neither inpatient (I) nor emergency (E)",
            expression="PV1-2",
            message_id="notice.class-not-notified",
        )
    use_case = _use_case(adt)
    if first_of_stay and not history and use_case.startswith(("RE_", "AN_")):
        if use_case.startswith("AN_"):
            return None
        use_case = use_case.removeprefix("RE_")
    admitted = adt.admitted
    if admitted is None:
        raise IssueError.single(
            "required", "PV1-44 (admit date/time) is empty", expression="PV1-44", message_id="notice.admit-missing"
        )
    occurred = adt.event_occurred or adt.message_time
    occurred_from = "EVN-6 (event occurred), else EVN-2, else MSH-7"
    leave_start = leave_end = None
    leave_from = Origin("input", occurred_from)
    if use_case.endswith("STOR"):
        leave_start = occurred
    elif use_case.endswith("SLOR"):
        leave_start = _leave_start(history)
        leave_end = occurred
        leave_from = Origin("history", "the leave start reported by the stay's STOR notice")
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
        first_of_stay=first_of_stay and not history,
        sources=(
            ("encounter_class", Origin("input", "PV1-2 (patient class, ConceptMap v2-0004-to-medcom-encounter-class)")),
            ("episode", EPISODE_ORIGIN),
            ("admitted", Origin("input", "PV1-44")),
            ("discharged", Origin("input", "PV1-45")),
            ("occurred", Origin("input", occurred_from)),
            ("leave_start", leave_from),
            ("leave_end", Origin("input", occurred_from)),
        ),
    )


#: How the episode-of-care identifier is made from PV1-19 (see the module docstring).
EPISODE_ORIGIN = Origin("input", "PV1-19 (as is when a UUID, else a UUID v5 of MSH-4 and PV1-19)")


def _leave_start(history: tuple[PriorNotice, ...]) -> datetime | None:
    starts = [
        notice.leave_start or notice.occurred for notice in history if notice.activity.endswith("start-leave-inpatient")
    ]
    return starts[-1] if starts else None


def discharge_event_from_adt(adt: AdtEvent, *, sender: Party, receiver: Party, author: Author) -> DischargeEvent:
    """The GP CareCommunication input for an ADT^A03: ADT carries no letter, so the text says only what the
    message does (who, from where, when): `Søren er udskrevet fra Psykiatrisk Center Øst 01.03.2024 kl. 10:10.`"""
    if adt.trigger != "A03" or adt.discharged is None:
        raise IssueError.single(
            "business-rule",
            "a discharge CareCommunication needs an ADT^A03 with PV1-45 (discharge date/time)",
            expression="PV1-45",
            message_id="notice.not-a-discharge",
        )
    who = adt.patient.given[0] if adt.patient.given else "Borgeren"
    text = stay_text(
        who,
        "udskrevet fra",
        sender.name or "sygehuset",
        adt.discharged,
        (
            ("PID-5.2", who),
            ("sending organisation's name (directory, by MSH-4)", sender.name or ""),
            ("PV1-45", adt.discharged.isoformat()),
        ),
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
        sources=(
            ("discharged", Origin("input", "PV1-45")),
            ("episode", EPISODE_ORIGIN),
            ("encounter_class", Origin("input", "PV1-2")),
        ),
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
        text=Text(letter.text, (("/Emessage/DischargeLetter/ClinicalInformation/Text01", letter.text),)),
        encounter_class="IMP" if letter.admitted is not None else None,
        sources=(
            (
                "discharged",
                Origin("input", "/Emessage/DischargeLetter/Discharge" if letter.discharged else "Letter/Authorisation"),
            ),
            ("encounter_class", Origin("constant", "IMP: the letter reports an admission")),
        ),
    )
