"""The plan's codes in plain Danish: one table, used by the pages, the FHIR narratives and the PDF alike.

Plain language (Klarsprog, the Danish government's guidance): short words the citizen uses about their own life,
"du" and "dig" on the citizen's page. Terms follow the practice in `/work/shared/domain.md`: "stafetholder" for the
coordinator, "forhåndstilkendegivelse" for the psychiatric advance directive, "koordinationsmøde".
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

WISH_KIND = {"wish": "Ønske", "dream": "Drøm", "need": "Behov"}
GOAL_TERM = {"short-term": "Kort sigt", "long-term": "Lang sigt"}
GOAL_STATUS = {
    "proposed": "Foreslået",
    "accepted": "Aftalt",
    "active": "I gang",
    "on-hold": "Sat på pause",
    "completed": "Nået",
    "cancelled": "Droppet",
}
INTERVENTION_STATUS = {
    "not-started": "Ikke startet",
    "scheduled": "Planlagt",
    "in-progress": "I gang",
    "on-hold": "Sat på pause",
    "completed": "Færdig",
    "cancelled": "Aflyst",
}
PLAN_STATUS = {
    "draft": "Udkast",
    "active": "Gældende",
    "on-hold": "Sat på pause",
    "revoked": "Trukket tilbage",
    "completed": "Afsluttet",
}
ROLE = {
    "fact-contact": "Kontaktperson i FACT-teamet",
    "housing-contact": "Kontaktperson på bostedet",
    "housing-support": "Bostøtte",
    "general-practitioner": "Egen læge",
    "social-worker": "Sagsbehandler",
    "job-centre": "Jobcenter",
    "relative": "Pårørende",
    "volunteer": "Frivillig",
    "discharge-mentor": "Udskrivningsmentor",
    "psychiatrist": "Psykiater",
    "nurse": "Sygeplejerske",
    "psychologist": "Psykolog",
    "substance-abuse-counsellor": "Rusmiddelbehandler",
    "other": "Andet",
}
#: HL7 v3 RoleCode (the document's `relationship`) in everyday Danish.
RELATIONSHIP = {
    "FAMMEMB": "familie",
    "CHILD": "barn",
    "DAUC": "datter",
    "SONC": "søn",
    "GRNDCHILD": "barnebarn",
    "CHLDINLAW": "svigerbarn",
    "PRN": "forælder",
    "FTH": "far",
    "MTH": "mor",
    "SIB": "søskende",
    "BRO": "bror",
    "SIS": "søster",
    "GRMTH": "bedstemor",
    "GRFTH": "bedstefar",
    "AUNT": "moster eller faster",
    "UNCLE": "morbror eller farbror",
    "COUSN": "fætter eller kusine",
    "DOMPART": "samlever",
    "SPS": "ægtefælle",
    "FRND": "ven",
    "NBOR": "nabo",
    "ROOM": "bofælle",
    "GUARD": "værge",
    "NOK": "nærmeste pårørende",
    "POWATT": "fuldmagtshaver",
    "ECON": "nødkontakt",
}
DATA_CATEGORY = {
    "careplan": "din plan: ønsker, mål og indsatser",
    "careteam": "hvem der er i dit team",
    "followup": "den aftalte opfølgning, når du bliver udskrevet",
    "crisisplan": "din kriseplan og din forhåndstilkendegivelse",
}
CONSENT_DECISION = {
    "given": "Du har givet samtykke",
    "refused": "Du har sagt nej til at dele din plan",
    "withdrawn": "Du har trukket dit samtykke tilbage",
}
CRISIS_KIND = {"crisis-plan": "Kriseplan", "advance-directive": "Forhåndstilkendegivelse"}
#: AuditEvent.action (R4 audit-event-action) as what happened to the plan.
AUDIT_ACTION = {"C": "oprettede", "R": "læste", "U": "ændrede", "D": "slettede", "E": "søgte i"}
MONTHS = (
    "januar", "februar", "marts", "april", "maj", "juni",
    "juli", "august", "september", "oktober", "november", "december",
)  # fmt: skip
DANISH_TIME = ZoneInfo("Europe/Copenhagen")


def long_date(value: date | None) -> str:
    """`4. marts 2025` (Dansk Sprognævn's form of a date in running text)."""
    if value is None:
        return ""
    return f"{value.day}. {MONTHS[value.month - 1]} {value.year}"


def short_date(value: date | None) -> str:
    """`04.03.2025` for tables."""
    return "" if value is None else value.strftime("%d.%m.%Y")


def local_time(value: datetime) -> str:
    """`4. marts 2025 kl. 09.30`, Danish time (the audit trail is stored in UTC)."""
    local = value.astimezone(DANISH_TIME)
    return f"{long_date(local.date())} kl. {local:%H.%M}"
