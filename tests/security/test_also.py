"""The "Also" paragraph of issue 11: smaller ways in, each as its own test through the app with authentication on."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from gateway.security.masking import PrivacyFilter
from tests.security.conftest import Headers
from tests.support import cast

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"


async def test_a_permitted_organisation_cannot_rewrite_the_citizens_consent(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    consent_id = plan["resources"]["Consent"][0]
    consent = (await client.get(f"/fhir/Consent/{consent_id}", headers=as_("slagelse"))).json()
    assert consent["scope"]["coding"][0]["code"] == "patient-privacy", "the municipality may read it"
    widened = {**consent, "provision": {**consent["provision"], "actor": consent["provision"]["actor"][:1]}}
    assert (await client.put(f"/fhir/Consent/{consent_id}", json=widened, headers=as_("slagelse"))).status_code == 404
    withdrawn = cast.plan_document(decision="withdrawn")
    assert (await client.put(f"/plans/{plan['planId']}", json=withdrawn, headers=as_("region"))).status_code == 200
    reactivated = {**consent, "status": "active"}
    assert (
        await client.put(f"/fhir/Consent/{consent_id}", json=reactivated, headers=as_("slagelse"))
    ).status_code == 404
    stored = (await client.get(f"/fhir/Consent/{consent_id}", headers=as_("region"))).json()
    assert stored["status"] == "inactive" and stored["meta"]["versionId"] == "2"


async def test_records_made_for_a_plan_are_not_read_by_organisations_the_citizen_never_named(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    patient = plan["resources"]["Patient"][0]
    queries = [
        f"/fhir/Patient?identifier={CPR_SYSTEM}|{cast.CPR}",
        f"/fhir/RelatedPerson?patient={patient}",
        "/fhir/Practitioner?name=Lykke",
    ]
    for query in queries:
        assert (await client.get(query, headers=as_("x"))).json()["total"] == 0, query
    history = (await client.get("/fhir/_history?_count=200", headers=as_("x"))).json()
    assert {e["resource"]["resourceType"] for e in history["entry"]} == {"Organization"}, "the open directory only"
    for resource_type in ("Patient", "RelatedPerson", "Practitioner", "CareTeam", "Goal"):
        for resource_id in plan["resources"][resource_type]:
            response = await client.get(f"/fhir/{resource_type}/{resource_id}", headers=as_("x"))
            assert response.status_code == 404, (resource_type, resource_id)
    father = f"/fhir/RelatedPerson?patient={patient}&relationship=FTH"
    assert (await client.get(father, headers=as_("slagelse"))).json()["total"] == 1, "the consent's own exception"
    assert (await client.get(father, headers=as_("x"))).json()["total"] == 0


async def test_validate_needs_a_scope(client: httpx.AsyncClient, as_: Headers) -> None:
    patient = {"resourceType": "Patient", "name": [{"family": "Østergård"}]}
    refused = await client.post("/fhir/$validate", json=patient, headers=as_("intake-only"))
    assert refused.status_code == 403
    assert (await client.post("/fhir/Patient/$validate", json=patient, headers=as_("intake-only"))).status_code == 403
    assert (await client.post("/fhir/$validate", json=patient, headers=as_("x"))).status_code == 200


@pytest.mark.parametrize("where", ["url", "body", "transaction", "plans"])
async def test_ids_outside_r4s_id_rule_are_400(client: httpx.AsyncClient, as_: Headers, where: str) -> None:
    long_id = "a" * 200
    organisation = {"resourceType": "Organization", "id": long_id, "name": "Lang"}
    if where == "url":
        response = await client.put(f"/fhir/Organization/{long_id}", json=organisation, headers=as_("x"))
    elif where == "body":
        response = await client.post("/fhir/Organization", json=organisation, headers=as_("x"))
    elif where == "transaction":
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": organisation, "request": {"method": "PUT", "url": f"Organization/{long_id}"}}],
        }
        response = await client.post("/fhir", json=bundle, headers=as_("x"))
    else:
        response = await client.get(f"/plans/{long_id}", headers=as_("x"))
    assert response.status_code == 400, response.text
    assert "fhir.invalid-id" in response.text
    assert (await client.get(f"/fhir/Organization?_id={long_id}", headers=as_("x"))).json()["total"] == 0


async def test_a_nul_byte_in_a_search_value_is_400(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    response = await client.get("/fhir/Patient?name:contains=%00", headers=as_("region"))
    assert response.status_code == 400
    assert "search.control-character" in response.text


def test_percent_encoded_cpr_numbers_are_masked_in_the_access_log() -> None:
    """uvicorn's access log line carries the raw path: `%32%35...` are the digits of a CPR number."""
    encoded = "".join(f"%{ord(digit):02X}" for digit in "2509479989")
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/fhir/Patient?identifier={CPR_SYSTEM}%7C{encoded}", "1.1", 200),
        None,
    )
    PrivacyFilter().filter(record)
    line = record.getMessage()
    assert encoded not in line and "2509479989" not in line
    assert "xxxxxx-xxxx" in line
    plus = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "GET /?q=250947+9989", None, None)
    PrivacyFilter().filter(plus)
    assert "250947+9989" not in plus.getMessage()
