"""Patient from the plan's citizen, per DK-core 3.4.0 `dk-core-patient`."""

from __future__ import annotations

from typing import Any

from mappings.documents.plan import PlanDocument
from mappings.plan.codes import (
    CPR_SYSTEM,
    DK_CORE_PATIENT,
    MUNICIPALITY_EXTENSION,
    MUNICIPALITY_SYSTEM,
    SOR_SYSTEM,
    municipality_codes,
)
from mappings.plan.common import Resource, human_name, meta, organization_id, patient_id, reference
from mappings.plan.context import PlanContext


def patient_from_plan(doc: PlanDocument, ctx: PlanContext) -> Resource:
    """`identifier:cpr` (use official), `name:official`, the municipality as DK-core's address extension
    `dk-core-municipalityCodes`, and the own GP as `generalPractitioner:referencedSORUnit` when it has a SOR code."""
    citizen = doc.citizen
    code = citizen.municipality_code
    patient: Resource = {
        "resourceType": "Patient",
        "id": patient_id(doc, ctx),
        "meta": meta(DK_CORE_PATIENT),
        "identifier": [{"use": "official", "system": CPR_SYSTEM, "value": citizen.cpr}],
        "name": [human_name(citizen.name)],
        "address": [
            {
                "extension": [
                    {
                        "url": MUNICIPALITY_EXTENSION,
                        "valueCodeableConcept": {
                            "coding": [
                                {"system": MUNICIPALITY_SYSTEM, "code": code, "display": municipality_codes()[code]}
                            ]
                        },
                    }
                ]
            }
        ],
    }
    if citizen.gp is not None:
        gp: dict[str, Any] = reference(organization_id(citizen.gp, ctx), citizen.gp.name)
        if citizen.gp.sor is not None:
            gp["identifier"] = {"use": "official", "system": SOR_SYSTEM, "value": citizen.gp.sor}
        patient["generalPractitioner"] = [gp]
    return patient
