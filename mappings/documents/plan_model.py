"""The plan document's structure: the shared citizen plan (koordinerende indsatsplan, KIP) as pydantic models.

Designed from the KIP practice (the project's domain notes) and the Region Sjælland principles for
supported-housing collaboration: the plan starts from the citizen's own wishes, dreams and needs; goals are
short- or long-term; interventions are agreed at a coordination meeting with a responsible team member each;
a coordinator is chosen until the next meeting; the citizen chooses the team and consents to who may see it.

Format checks follow DK-core 3.4.0 invariants (`cpr`, `min-digits-sor`, `gln-length` + `gln-modulus-10`,
municipality codes from `dk-core-municipality-codes`). The models hold structure and formats only; the cross-field
rules are in `plan_rules`, and `plan.parse_plan_document` runs both and reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from mappings.conceptmaps import load_table

# --- constrained scalars -----------------------------------------------------------------------------------

# FHIR strings should not start or end with whitespace (R4 datatypes, "string"); we refuse them so that the
# FHIR round trip is the identity.
Text = Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"^\S(?:[\s\S]*\S)?$")]
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9\-.]{1,64}$", description="Local key, unique in its list")]

# DK-core 3.4.0 invariant `cpr` (dk-core-cpr-identifier): DDMM must be a calendar day; no modulus-11 check,
# so synthetic test numbers such as 0101010101 pass.
_CPR = re.compile(
    r"^((((0[1-9]|1[0-9]|2[0-9]|3[0-1])(01|03|05|07|08|10|12))|((0[1-9]|1[0-9]|2[0-9]|30)(04|06|09|11))"
    r"|((0[1-9]|1[0-9]|2[0-9])(02)))[0-9]{6})$"
)


@cache
def municipality_codes() -> dict[str, str]:
    """DK-core 3.4.0 municipality codes (code -> name), copied into `mappings/conceptmaps/`."""
    return dict(load_table("dk-core-municipality-codes")["codes"])


def _check_cpr(value: str) -> str:
    if not _CPR.match(value):
        raise PydanticCustomError("plan.cpr-invalid", "CPR number must be 10 digits starting with a valid DDMM")
    return value


def _check_sor(value: str) -> str:
    # DK-core 3.4.0 `min-digits-sor`: matches('^([0-9]){11,}$')
    if not re.fullmatch(r"[0-9]{11,}", value):
        raise PydanticCustomError("plan.sor-invalid", "SOR code must be at least 11 digits")
    return value


def gln_check_digit_ok(value: str) -> bool:
    """GS1 mod-10 check digit (https://www.gs1.org/services/how-calculate-check-digit-manually)."""
    if not re.fullmatch(r"[0-9]{13}", value):
        return False
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(value[:12]))
    return (10 - total % 10) % 10 == int(value[12])


def _check_gln(value: str) -> str:
    if not gln_check_digit_ok(value):
        raise PydanticCustomError("plan.gln-invalid", "GLN must be 13 digits with a valid GS1 check digit")
    return value


def _check_municipality(value: str) -> str:
    if value not in municipality_codes():
        raise PydanticCustomError(
            "plan.municipality-unknown",
            "Municipality code {code} is not in DK-core's dk-core-municipality-codes",
            {"code": value},
        )
    return value


def _check_provider_number(value: str) -> str:
    # Ydernummer: a number of up to 6 digits (DK-core Organization slice `Ydernummer`).
    if not re.fullmatch(r"[0-9]{1,6}", value):
        raise PydanticCustomError("plan.provider-number-invalid", "Provider number must be 1-6 digits")
    return value


Cpr = Annotated[str, AfterValidator(_check_cpr)]
Sor = Annotated[str, AfterValidator(_check_sor)]
Gln = Annotated[str, AfterValidator(_check_gln)]
MunicipalityCode = Annotated[str, AfterValidator(_check_municipality)]
ProviderNumber = Annotated[str, AfterValidator(_check_provider_number)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ]{6,18}[0-9]$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Relationship = Literal[
    "FAMMEMB", "CHILD", "DAUC", "SONC", "GRNDCHILD", "CHLDINLAW", "PRN", "FTH", "MTH", "SIB", "BRO", "SIS",
    "GRMTH", "GRFTH", "AUNT", "UNCLE", "COUSN", "DOMPART", "SPS", "FRND", "NBOR", "ROOM", "GUARD", "NOK",
    "POWATT", "ECON",
]  # fmt: skip
TeamRole = Literal[
    "fact-contact", "housing-contact", "housing-support", "general-practitioner", "social-worker", "job-centre",
    "relative", "volunteer", "discharge-mentor", "psychiatrist", "nurse", "psychologist",
    "substance-abuse-counsellor", "other",
]  # fmt: skip
PlanStatus = Literal["draft", "active", "on-hold", "revoked", "completed"]
GoalStatus = Literal["proposed", "accepted", "active", "on-hold", "completed", "cancelled"]
InterventionStatus = Literal["not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled"]
DataCategory = Literal["careplan", "careteam", "followup", "crisisplan"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class SourceIdentifier(_Model):
    """Identifies the plan in the sending EHR; the gateway's identity of a plan (conditional create/update)."""

    system: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+.\-]*:[^\s|]+$", description="Absolute URI")]
    value: Annotated[str, Field(pattern=r"^[^\s|]{1,200}$")]


class Period(_Model):
    start: date
    end: date | None = None


class PersonName(_Model):
    given: Annotated[list[Text], Field(min_length=1)]
    family: Text


class Organisation(_Model):
    """An organisation by SOR code, GLN (EAN location number), GP provider number and/or municipality code."""

    name: Text
    sor: Sor | None = None
    gln: Gln | None = None
    provider_number: ProviderNumber | None = None
    municipality_code: MunicipalityCode | None = None

    def primary_identifier(self) -> tuple[str, str]:
        """(kind, value) of the identifier the gateway keys this organisation by: SOR > GLN > provider number."""
        for kind in ("sor", "gln", "provider_number"):
            value = getattr(self, kind)
            if value is not None:
                return kind, value
        raise ValueError("organisation without identifier")  # excluded by the document rules


class Citizen(_Model):
    cpr: Cpr
    name: PersonName
    municipality_code: MunicipalityCode
    gp: Organisation | None = Field(default=None, description="The citizen's own GP (egen læge)")


class Wish(_Model):
    kind: Literal["wish", "dream", "need"]
    text: Text


class Goal(_Model):
    key: Key
    description: Text
    term: Literal["short-term", "long-term"]
    status: GoalStatus
    start_date: date | None = None
    target_date: date | None = None


class Intervention(_Model):
    key: Key
    description: Text
    responsible: Key = Field(description="Key of the responsible team member")
    until: date | None = None
    status: InterventionStatus
    goals: list[Key] = Field(default_factory=list, description="Keys of the goals this intervention serves")


class Coordination(_Model):
    meeting_date: date = Field(description="The coordination meeting that agreed this version of the plan")
    coordinator: Key = Field(description="Key of the team member who coordinates until the next meeting")
    next_meeting: date | None = None


class TeamMember(_Model):
    key: Key
    role: TeamRole
    name: PersonName | None = None
    organisation: Organisation | None = None
    relationship: Relationship | None = Field(default=None, description="v3-RoleCode, for relatives only")
    phone: Phone | None = None
    email: Email | None = None
    period: Period


class CrisisPlan(_Model):
    kind: Literal["crisis-plan", "advance-directive"]
    made_on: date
    text: Text


class DeniedParty(_Model):
    """Someone the citizen explicitly does not want to see the plan ("not my father")."""

    relationship: Relationship | None = None
    name: PersonName | None = None
    organisation: Organisation | None = None


class PlanConsent(_Model):
    decision: Literal["given", "refused", "withdrawn"]
    decided_on: date
    period: Period
    data: Annotated[list[DataCategory], Field(min_length=1)]
    permitted: list[Key] = Field(default_factory=list, description="Keys of team members who may see the plan")
    denied: list[DeniedParty] = Field(default_factory=list)


class PlanDocument(_Model):
    """The shared citizen plan (KIP): see the module docstring and the README's "The plan document"."""

    source: SourceIdentifier
    status: PlanStatus
    citizen: Citizen
    wishes: list[Wish] = Field(default_factory=list)
    goals: list[Goal] = Field(default_factory=list)
    interventions: list[Intervention] = Field(default_factory=list)
    coordination: Coordination
    team: Annotated[list[TeamMember], Field(min_length=1)]
    crisis_plans: list[CrisisPlan] = Field(default_factory=list)
    consent: PlanConsent


# --- walking the document ----------------------------------------------------------------------------------


def organisations_of(
    citizen: Citizen | None, team: Iterable[tuple[int, TeamMember]], consent: PlanConsent | None
) -> Iterator[tuple[str, Organisation]]:
    """Every organisation in these parts with its JSON pointer, in document order (`team` as (index, member))."""
    if citizen is not None and citizen.gp is not None:
        yield "/citizen/gp", citizen.gp
    for index, member in team:
        if member.organisation is not None:
            yield f"/team/{index}/organisation", member.organisation
    for index, party in enumerate(consent.denied if consent is not None else ()):
        if party.organisation is not None:
            yield f"/consent/denied/{index}/organisation", party.organisation


def iter_organisations(doc: PlanDocument) -> Iterator[tuple[str, Organisation]]:
    """Every organisation in the document with its JSON pointer, in document order."""
    return organisations_of(doc.citizen, enumerate(doc.team), doc.consent)


def plan_document_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12, as pydantic emits it) of the plan document; published as a file and in OpenAPI."""
    schema = PlanDocument.model_json_schema(mode="validation")
    schema["$id"] = "https://careplan-gateway.example/schemas/plan-document.schema.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
