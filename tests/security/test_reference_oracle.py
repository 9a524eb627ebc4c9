"""Referential integrity on write as an existence oracle, tried by Organisation X: X writes a resource of its own
that refers to the plan's hidden resources, and gets what a reference to a resource that does not exist gets (it
was 201 for a hidden one, 422 for a missing one: with the public id namespace, "does the region keep a plan for
this CPR number?")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.conftest import Headers
from tests.security.test_hidden_is_missing import both


@pytest.mark.parametrize("target", ["Patient", "CarePlan", "Consent", "Goal", "CareTeam", "Practitioner"])
async def test_a_reference_to_a_hidden_resource_answers_as_one_to_a_missing_resource(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any], target: str
) -> None:
    x = as_("x")
    hidden = plan["planId"] if target == "CarePlan" else plan["resources"][target][0]
    assert (await client.get(f"/fhir/{target}/{hidden}", headers=x)).status_code == 404

    async def refer(resource_id: str) -> httpx.Response:
        own = {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "proposal",
            "subject": {"display": "someone"},
            "supportingInfo": [{"reference": f"{target}/{resource_id}"}],  # Reference(Any)
        }
        return await client.post("/fhir/CarePlan", json=own, headers=x)

    seen_hidden, seen_missing = await both(client, hidden, refer)
    assert seen_hidden[0] == seen_missing[0], (
        f"X learns that {target}/{hidden} exists: {seen_hidden[0]} for it, {seen_missing[0]} for a missing id"
    )


async def test_x_cannot_learn_by_cpr_number_whether_the_region_holds_a_plan_for_a_citizen(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """With the default (public) id namespace, the Patient id of a CPR number under the region's SOR code can be
    computed; a reference to it then says whether the region keeps a plan for that citizen."""
    from mappings.documents.plan import parse_plan_document
    from mappings.plan import PlanContext
    from mappings.plan.common import patient_id
    from tests.support import cast

    def region_patient(cpr: str) -> str:
        document = cast.plan_document()
        document["citizen"]["cpr"] = cpr
        return patient_id(parse_plan_document(document), PlanContext(author=cast.REGION_SOR))

    assert region_patient(cast.CPR) == plan["resources"]["Patient"][0]

    async def probe(cpr: str) -> int:
        own = {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{region_patient(cpr)}"},
        }
        return (await client.post("/fhir/CareTeam", json=own, headers=as_("x"))).status_code

    assert await probe(cast.CPR) == await probe("0101709998"), "X tells a citizen with a plan from one without"
