"""Two FHIR client libraries, unmodified, against a real `gateway serve` on 127.0.0.1 (issue 14): SMART's
`fhirclient` (4.x: its own models parse every answer, the CapabilityStatement included) and `fhirpy` (2.x: its own
URL building, paging, `count()` with `_totalMethod=count`, conditional create on the query string, and `patch()`,
which sends the changed elements as a JSON merge patch). CRUD, search, paging, count, conditional create, patch."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.careplan import CarePlan
from fhirclient.models.organization import Organization
from fhirclient.models.patient import Patient
from fhirpy import SyncFHIRClient

from tests.support import processes

pytestmark = pytest.mark.e2e
CPR = "urn:oid:1.2.208.176.1.2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("gateway-clients")
    service = processes.gateway(data_dir, data_dir / "no-directory.yaml", worker_enabled="false").start(timeout=60)
    try:
        yield f"{service.url}/fhir"
    finally:
        service.stop()


def test_fhirclient_crud_search_paging_and_count(server: str) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "careplan-gateway-test", "api_base": server})
    statement = smart.server.capabilityStatement  # fetched and parsed by fhirclient's own models
    assert statement.fhirVersion == "4.0.1"
    assert {op.name for op in statement.rest[0].operation} == {"validate", "process-message"}
    created = Patient(
        {"resourceType": "Patient", "identifier": [{"system": CPR, "value": "0101709996"}], "birthDate": "1970-01-01"}
    ).create(smart.server)
    assert created is not None
    patient = Patient.read(created["id"], smart.server)
    assert patient.birthDate.isostring == "1970-01-01"
    patient.gender = "female"
    assert patient.update()["meta"]["versionId"] == "2"
    for month in range(1, 8):
        plan = CarePlan(
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": f"Patient/{patient.id}"},
                "period": {"start": f"2026-{month:02d}-01"},
            }
        )
        assert plan.create(smart.server) is not None
    search = CarePlan.where(struct={"subject": f"Patient/{patient.id}", "_count": "3"})
    pages = list(search.perform_iter(smart.server))
    assert [len(page.entry or []) for page in pages] == [3, 3, 1]
    assert len({entry.resource.id for page in pages for entry in page.entry or []}) == 7
    counted = Bundle.read_from(f"CarePlan?subject=Patient/{patient.id}&_summary=count", smart.server)
    assert counted.total == 7
    organisation = Organization({"resourceType": "Organization", "name": "Bostedet Fjordglimt"})
    organisation_id = organisation.create(smart.server)["id"]
    Organization.read(organisation_id, smart.server).delete()
    assert httpx.get(f"{server}/Organization/{organisation_id}").status_code == 410


def test_fhirpy_count_conditional_create_and_patch(server: str) -> None:
    client = SyncFHIRClient(server, extra_headers={"Content-Type": "application/fhir+json"})
    identifier = [{"system": CPR, "value": "2509479989"}]
    first = client.resource("Patient", identifier=identifier, name=[{"family": "Østergård"}])
    first.create(identifier=f"{CPR}|2509479989")  # fhirpy puts the criteria on the POST's query string
    again = client.resource("Patient", identifier=identifier, name=[{"family": "Østergård"}])
    again.create(identifier=f"{CPR}|2509479989")
    assert first.id and again.id == first.id, "the second conditional create found the first"
    found, created = (
        client.resources("Patient")
        .search(identifier=f"{CPR}|2509479989")
        .get_or_create(client.resource("Patient", identifier=identifier))
    )
    assert created is False and found.id == first.id
    assert client.resources("Patient").search(identifier=f"{CPR}|2509479989").count() == 1
    for month in ("01", "02", "03", "04", "05"):
        client.resource(
            "CarePlan",
            status="active",
            intent="plan",
            subject=first.to_reference(),
            period={"start": f"2026-{month}-01"},
        ).save()
    plans = client.resources("CarePlan").search(subject=f"Patient/{first.id}")
    assert plans.count() == 5
    assert len(plans.limit(2).fetch_all()) == 5
    first.patch(active=True)  # a JSON merge patch of the changed elements
    patched = client.reference("Patient", first.id).to_resource()
    assert patched["active"] is True and patched["name"][0]["family"] == "Østergård"
    assert patched["meta"]["versionId"] == "2"
