"""Code systems, identifier systems and code tables of the shared citizen plan (KIP) mapping.

Real systems are used wherever one exists; each is cited where it is used:
- identifier systems from DK-core 3.4.0 / MedCom (`/work/shared/domain.md`, "Identifier systems");
- HL7 terminology (THO 7.0.1, `hl7.terminology.r4`): `consentscope`, `consentcategorycodes`, `v3-ActCode`,
  `v3-ParticipationType`, `v3-RoleCode` (relatives, as DK-core's `dk-core-RelatedPersonRelationshipTypes`);
- LOINC `LA28865-6` "Longitudinal care-coordination focused care team" (R4 ValueSet `care-team-category`);
- SNOMED CT occupations from the R4 ValueSet `participant-role` (hl7.fhir.r4.expansions 4.0.1).

Codes that no published system has (team roles such as the housing-facility contact person, the plan category
"koordinerende indsatsplan", wish/dream/need, ...) are ours: `TABLES` below is the single source, from which
`mappings.plan.conformance` renders the CodeSystem/ValueSet resources shipped in `profiles/` under a canonical
base that the caller chooses (`PlanContext.base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings.documents.plan import municipality_codes

# --- identifier systems (DK-core 3.4.0, MedCom) ------------------------------------------------------------
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
#: MedCom IGs and DK-core <= 3.4 write GLN with https; DK-core >= 3.5 with http (hl7dk/dk-core#166). We emit
#: the MedCom form and accept both.
GLN_SYSTEM = "https://www.gs1.org/gln"
GLN_SYSTEMS = frozenset({GLN_SYSTEM, "http://www.gs1.org/gln"})
PROVIDER_NUMBER_SYSTEM = "urn:oid:1.2.208.176.1.4"
MUNICIPALITY_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-core-municipality-codes"
MUNICIPALITY_EXTENSION = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes"
#: RFC 3986 URIs as identifiers (FHIR R4 "Identifier.system": `urn:ietf:rfc:3986`).
URI_SYSTEM = "urn:ietf:rfc:3986"

# --- profiles --------------------------------------------------------------------------------------------
DK_CORE_PATIENT = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-patient"
DK_CORE_ORGANIZATION = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-organization"
DK_CORE_PRACTITIONER = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-practitioner"
DK_CORE_RELATED_PERSON = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-related-person"

# --- HL7 terminology -------------------------------------------------------------------------------------
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY = "http://terminology.hl7.org/CodeSystem/consentcategorycodes"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

#: Relationship codes allowed for relatives: the v3-RoleCode part of DK-core's
#: `dk-core-RelatedPersonRelationshipTypes` plus common kin (THO 7.0.1 displays).
RELATIONSHIP_CODES: dict[str, str] = {
    "FAMMEMB": "family member",
    "CHILD": "child",
    "DAUC": "daughter",
    "SONC": "son",
    "GRNDCHILD": "grandchild",
    "CHLDINLAW": "child-in-law",
    "PRN": "parent",
    "FTH": "father",
    "MTH": "mother",
    "SIB": "sibling",
    "BRO": "brother",
    "SIS": "sister",
    "GRMTH": "grandmother",
    "GRFTH": "grandfather",
    "AUNT": "aunt",
    "UNCLE": "uncle",
    "COUSN": "cousin",
    "DOMPART": "domestic partner",
    "SPS": "spouse",
    "FRND": "unrelated friend",
    "NBOR": "neighbor",
    "ROOM": "roommate",
    "GUARD": "guardian",
    "NOK": "next of kin",
    "POWATT": "power of attorney",
    "ECON": "emergency contact",
}

#: SNOMED CT occupations for team roles that have one (R4 ValueSet `participant-role`).
ROLE_SNOMED: dict[str, tuple[str, str]] = {
    "general-practitioner": ("62247001", "Family medicine specialist"),
    "psychiatrist": ("80584001", "Psychiatrist"),
    "nurse": ("106292003", "Nurse"),
    "volunteer": ("276037005", "Volunteer helper"),
}


@dataclass(frozen=True, slots=True)
class Concept:
    code: str
    display: str
    danish: str
    definition: str


@dataclass(frozen=True, slots=True)
class Table:
    """One code system of ours: `id` is the resource id and the last path segment of its canonical URL."""

    id: str
    name: str
    title: str
    description: str
    concepts: tuple[Concept, ...]

    def codes(self) -> tuple[str, ...]:
        return tuple(concept.code for concept in self.concepts)

    def display(self, code: str) -> str:
        for concept in self.concepts:
            if concept.code == code:
                return concept.display
        raise KeyError(code)


TEAM_ROLE = Table(
    "team-role",
    "TeamRole",
    "Roles in the patient's team (Patientens team)",
    "The role a member plays in the citizen's team around the coordinating plan (KIP).",
    (
        Concept(
            "coordinator",
            "Coordinator",
            "Koordinator (stafetholder)",
            "Chosen at a coordination meeting until the next one.",
        ),
        Concept(
            "fact-contact", "FACT contact", "Kontaktperson i FACT-team", "Fixed contact in the regional FACT team."
        ),
        Concept(
            "housing-contact",
            "Housing facility contact person",
            "Kontaktperson på botilbud",
            "The citizen's named contact person at the supported-housing facility.",
        ),
        Concept(
            "housing-support", "Housing support worker", "Bostøttemedarbejder", "Municipal housing support (bostøtte)."
        ),
        Concept("general-practitioner", "General practitioner", "Egen læge", "The citizen's own GP."),
        Concept("social-worker", "Social worker", "Socialrådgiver", "Social worker (municipal or regional)."),
        Concept("job-centre", "Job centre", "Jobcenter", "Caseworker or contact at the municipal job centre."),
        Concept("relative", "Relative", "Pårørende", "A relative or other person from the citizen's own network."),
        Concept(
            "volunteer", "Volunteer / third sector", "Frivillig / 3. sektor", "Volunteer or voluntary organisation."
        ),
        Concept(
            "discharge-mentor",
            "Discharge mentor",
            "Udskrivelsesmentor",
            "Follows the citizen for up to 6 months after discharge.",
        ),
        Concept("psychiatrist", "Psychiatrist", "Psykiater", "Psychiatrist (regional psychiatry)."),
        Concept("nurse", "Nurse", "Sygeplejerske", "Nurse (regional psychiatry or municipality)."),
        Concept("psychologist", "Psychologist", "Psykolog", "Psychologist."),
        Concept(
            "substance-abuse-counsellor",
            "Substance abuse counsellor",
            "Rusmiddelbehandler",
            "Municipal substance abuse treatment.",
        ),
        Concept("other", "Other", "Anden", "Any other role; describe it in the member's name or organisation."),
    ),
)

PLAN_CATEGORY = Table(
    "plan-category",
    "PlanCategory",
    "Plan categories",
    "Kinds of plan the gateway exchanges.",
    (
        Concept(
            "kip",
            "Coordinating intervention plan",
            "Koordinerende indsatsplan (KIP)",
            "The shared citizen plan agreed at coordination meetings.",
        ),
    ),
)

WISH_KIND = Table(
    "wish-kind",
    "WishKind",
    "The citizen's own wishes, dreams and needs",
    "What the citizen expressed as the starting point of the plan (borgerens drømme, ønsker og behov).",
    (
        Concept("wish", "Wish", "Ønske", "Something the citizen wishes for."),
        Concept("dream", "Dream", "Drøm", "A longer-term dream of the citizen."),
        Concept("need", "Need", "Behov", "A need the citizen expresses."),
    ),
)

GOAL_TERM = Table(
    "goal-term",
    "GoalTerm",
    "Goal horizon",
    "Whether a goal is short-term ('a good day today and tomorrow') or long-term.",
    (
        Concept(
            "short-term",
            "Short-term goal",
            "Kortsigtet mål",
            "A goal for the near future, e.g. a good day today and tomorrow.",
        ),
        Concept(
            "long-term", "Long-term goal", "Langsigtet mål", "A goal towards which the plan works over months or years."
        ),
    ),
)

PLAN_ACTIVITY = Table(
    "plan-activity",
    "PlanActivity",
    "Plan activities",
    "Activities of a coordinating plan that are not interventions.",
    (
        Concept(
            "coordination-meeting",
            "Next coordination meeting",
            "Næste koordinationsmøde",
            "The next coordination meeting of the patient's team.",
        ),
    ),
)

DISCLOSURE_DATA = Table(
    "disclosure-data",
    "DisclosureData",
    "Data the citizen consents to disclose",
    "Categories of plan data named in the citizen's consent (Consent.provision.code).",
    (
        Concept(
            "careplan", "Coordinating plan", "Indsatsplan", "The plan: wishes, goals, interventions, coordination."
        ),
        Concept("careteam", "Patient's team", "Patientens team", "Who is in the team, with roles and contact data."),
        Concept(
            "followup", "Follow-up", "Opfølgning", "Follow-up after admission or discharge (notices, meeting calls)."
        ),
        Concept("crisisplan", "Crisis plan", "Kriseplan", "The crisis plan and advance directive."),
    ),
)

CRISIS_PLAN_KIND = Table(
    "crisis-plan-kind",
    "CrisisPlanKind",
    "Crisis plan kinds",
    "Kinds of document the citizen made in a stable phase for use at admission.",
    (
        Concept(
            "crisis-plan", "Crisis plan", "Kriseplan", "What helps and what to avoid in a crisis; early warning signs."
        ),
        Concept(
            "advance-directive",
            "Advance directive",
            "Forhåndstilkendegivelse",
            "The citizen's statement in advance about treatment at admission.",
        ),
    ),
)

TABLES: tuple[Table, ...] = (
    TEAM_ROLE,
    PLAN_CATEGORY,
    WISH_KIND,
    GOAL_TERM,
    PLAN_ACTIVITY,
    DISCLOSURE_DATA,
    CRISIS_PLAN_KIND,
)

#: Extension holding a plan document's local key on Goal, CareTeam.participant and CarePlan.activity.
ITEM_KEY_EXTENSION = "plan-item-key"


def code_system_url(base: str, table: Table) -> str:
    return f"{base}/CodeSystem/{table.id}"


def value_set_url(base: str, table: Table) -> str:
    return f"{base}/ValueSet/{table.id}"


def profile_url(base: str, profile_id: str) -> str:
    return f"{base}/StructureDefinition/{profile_id}"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        result["display"] = display
    return result


def our_coding(base: str, table: Table, code: str) -> dict[str, Any]:
    return coding(code_system_url(base, table), code, table.display(code))


# re-exported for the mapping modules
__all__ = ["municipality_codes"]
