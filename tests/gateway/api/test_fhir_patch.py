"""PATCH (FHIR R4 http.html#patch): JSON Patch (RFC 6902) and FHIRPath Patch (fhirpatch.html), If-Match, the
validation an update gets, and conditional patch."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from gateway.fhir.patch import apply_fhirpath_patch, apply_json_patch, apply_merge_patch
from gateway.validation import default_validator
from mappings.issues import IssueError

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
FHIR = {"Content-Type": "application/fhir+json"}


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0101010101"}],
        "name": [{"use": "official", "family": "Hansen", "given": ["Anne", "Marie"]}],
        "birthDate": "1990-04-01",
    }


def operation(
    kind: str, path: str, *, name: str | None = None, value: dict[str, Any] | None = None, **integers: int
) -> dict[str, Any]:
    """One FHIRPath Patch operation; `value` is the value part's body (`{"valueCode": ...}` or `{"part": [...]}`)."""
    part: list[dict[str, Any]] = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    if name is not None:
        part.append({"name": "name", "valueString": name})
    part += [{"name": key, "valueInteger": number} for key, number in integers.items()]
    if value is not None:
        part.append({"name": "value", **value})
    return {"name": "operation", "part": part}


def fhirpath_patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


async def stored_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/fhir/Patient", json=patient())
    assert response.status_code == 201
    created: dict[str, Any] = response.json()
    return created


# -- the pure functions ----------------------------------------------------------------------------------------


def test_json_patch_applies_every_operation_kind() -> None:
    patched = apply_json_patch(
        patient(),
        [
            {"op": "replace", "path": "/birthDate", "value": "1990-04-02"},
            {"op": "add", "path": "/name/0/given/-", "value": "Sofie"},
            {"op": "remove", "path": "/identifier"},
            {"op": "test", "path": "/name/0/family", "value": "Hansen"},
            {"op": "copy", "from": "/name/0/family", "path": "/name/0/text"},
            {"op": "add", "path": "/gender", "value": "female"},
            {"op": "move", "from": "/gender", "path": "/gender"},
        ],
    )
    assert patched["birthDate"] == "1990-04-02"
    assert patched["name"][0]["given"] == ["Anne", "Marie", "Sofie"]
    assert "identifier" not in patched
    assert patched["name"][0]["text"] == "Hansen"


def test_a_failed_json_patch_test_names_its_operation_and_changes_nothing() -> None:
    original = patient()
    with pytest.raises(IssueError) as caught:
        apply_json_patch(
            original,
            [
                {"op": "replace", "path": "/birthDate", "value": "2000-01-01"},
                {"op": "test", "path": "/name/0/family", "value": "Jensen"},
            ],
        )
    assert caught.value.status == 422
    assert caught.value.issues[0].expression == "/1"
    assert original == patient()


@pytest.mark.parametrize(
    "document",
    [{"op": "add"}, [{"path": "/x"}], [{"op": "frobnicate", "path": "/x"}], [{"op": "add", "path": "/x"}]],
)
def test_malformed_json_patches_are_400(document: Any) -> None:
    with pytest.raises(IssueError) as caught:
        apply_json_patch(patient(), document)
    assert caught.value.status == 400


def test_fhirpath_patch_add_insert_delete_replace_move() -> None:
    parameters = fhirpath_patch(
        operation("replace", "Patient.birthDate", value={"valueDate": "1990-04-03"}),
        operation("add", "Patient", name="gender", value={"valueCode": "female"}),
        operation("add", "Patient", name="telecom", value={"valueContactPoint": {"system": "phone", "value": "1"}}),
        operation("insert", "Patient.name[0].given", index=0, value={"valueString": "Lise"}),
        operation("move", "Patient.name[0].given", source=0, destination=2),
        operation("delete", "Patient.identifier.where(system='urn:oid:1.2.208.176.1.2')"),
        operation("delete", "Patient.deceased"),  # matches nothing: deletes nothing
        operation(
            "add",
            "Patient",
            name="contact",
            value={
                "part": [{"name": "gender", "valueCode": "male"}, {"name": "name", "valueHumanName": {"text": "B"}}]
            },
        ),
    )
    patched = apply_fhirpath_patch(patient(), parameters)
    assert patched["birthDate"] == "1990-04-03"
    assert patched["gender"] == "female"
    assert patched["telecom"] == [{"system": "phone", "value": "1"}]  # telecom repeats: a list
    assert patched["name"][0]["given"] == ["Anne", "Marie", "Lise"]
    assert "identifier" not in patched
    assert patched["contact"] == [{"gender": "male", "name": {"text": "B"}}]


@pytest.mark.parametrize(
    ("parameters", "status", "where"),
    [
        (fhirpath_patch(operation("replace", "Patient.name.given", value={"valueString": "x"})), 422, "parameter[0]"),
        (fhirpath_patch(operation("replace", "Patient.gender", value={"valueCode": "x"})), 422, "parameter[0]"),
        (fhirpath_patch(operation("insert", "Patient.name", index=5, value={"valueHumanName": {}})), 422, ""),
        (fhirpath_patch(operation("upsert", "Patient.name")), 400, "parameter[0]"),
        (fhirpath_patch(operation("add", "Patient", value={"valueCode": "x"})), 400, "parameter[0]"),
        (fhirpath_patch(operation("replace", "Patient.name.where(", value={"valueCode": "x"})), 400, "parameter[0]"),
        ({"resourceType": "Patient"}, 400, "resourceType"),
        (fhirpath_patch(), 400, "Parameters.parameter"),
    ],
)
def test_fhirpath_patch_errors_name_the_operation(parameters: Any, status: int, where: str) -> None:
    with pytest.raises(IssueError) as caught:
        apply_fhirpath_patch(patient(), parameters)
    assert caught.value.status == status
    assert where in (caught.value.issues[0].expression or "")


# -- over HTTP ---------------------------------------------------------------------------------------------------


async def test_json_patch_over_http_makes_a_new_version(client: httpx.AsyncClient) -> None:
    created = await stored_patient(client)
    response = await client.patch(
        f"/fhir/Patient/{created['id']}",
        json=[{"op": "replace", "path": "/birthDate", "value": "1990-05-01"}],
        headers={**JSON_PATCH, "If-Match": 'W/"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    body = response.json()
    assert body["birthDate"] == "1990-05-01" and body["meta"]["versionId"] == "2"
    assert not default_validator().validate(body).errors
    assert (await client.get(f"/fhir/Patient/{created['id']}/_history/1")).json()["birthDate"] == "1990-04-01"


async def test_fhirpath_patch_over_http(client: httpx.AsyncClient) -> None:
    created = await stored_patient(client)
    parameters = fhirpath_patch(operation("add", "Patient", name="gender", value={"valueCode": "female"}))
    response = await client.patch(f"/fhir/Patient/{created['id']}", json=parameters, headers=FHIR)
    assert response.status_code == 200, response.text
    assert response.json()["gender"] == "female"
    assert (await client.get(f"/fhir/Patient/{created['id']}")).json()["gender"] == "female"


async def test_a_stale_if_match_is_412_and_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await stored_patient(client)
    patch = [{"op": "replace", "path": "/birthDate", "value": "1990-05-01"}]
    assert (await client.patch(f"/fhir/Patient/{created['id']}", json=patch, headers=JSON_PATCH)).status_code == 200
    stale = await client.patch(
        f"/fhir/Patient/{created['id']}",
        json=[{"op": "replace", "path": "/birthDate", "value": "1970-01-01"}],
        headers={**JSON_PATCH, "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"/fhir/Patient/{created['id']}")).json()["birthDate"] == "1990-05-01"


async def test_a_patch_that_makes_the_resource_invalid_is_refused_with_the_path(client: httpx.AsyncClient) -> None:
    created = await stored_patient(client)
    for document in (
        [{"op": "replace", "path": "/birthDate", "value": "the first of April"}],
        [{"op": "add", "path": "/favouriteColour", "value": "blue"}],
        [{"op": "add", "path": "/gender", "value": "unknown-code"}],
    ):
        response = await client.patch(f"/fhir/Patient/{created['id']}", json=document, headers=JSON_PATCH)
        assert response.status_code in (400, 422), response.text
        errors = [issue for issue in response.json()["issue"] if issue["severity"] == "error"]
        assert errors and all(issue["expression"][0].startswith("Patient.") for issue in errors), errors
    assert (await client.get(f"/fhir/Patient/{created['id']}")).json()["meta"]["versionId"] == "1"


async def test_a_patch_may_not_change_the_id_or_type(client: httpx.AsyncClient) -> None:
    created = await stored_patient(client)
    for document in (
        [{"op": "replace", "path": "/id", "value": "other"}],
        [{"op": "replace", "path": "/resourceType", "value": "Organization"}],
    ):
        response = await client.patch(f"/fhir/Patient/{created['id']}", json=document, headers=JSON_PATCH)
        assert response.status_code == 422, response.text


async def test_patch_of_unknown_deleted_and_wrong_content_type(client: httpx.AsyncClient) -> None:
    patch = [{"op": "replace", "path": "/birthDate", "value": "1990-05-01"}]
    assert (await client.patch("/fhir/Patient/nobody", json=patch, headers=JSON_PATCH)).status_code == 404
    created = await stored_patient(client)
    assert (await client.delete(f"/fhir/Patient/{created['id']}")).status_code == 204
    assert (await client.patch(f"/fhir/Patient/{created['id']}", json=patch, headers=JSON_PATCH)).status_code == 410
    text = await client.patch(f"/fhir/Patient/{created['id']}", content=b"x", headers={"Content-Type": "text/plain"})
    assert text.status_code in (400, 415)
    assert text.json()["resourceType"] == "OperationOutcome"


async def test_conditional_patch(client: httpx.AsyncClient) -> None:
    created = await stored_patient(client)
    patch = [{"op": "replace", "path": "/birthDate", "value": "1990-05-01"}]
    query = "identifier=urn:oid:1.2.208.176.1.2|0101010101"
    response = await client.patch(f"/fhir/Patient?{query}", json=patch, headers=JSON_PATCH)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"] and response.json()["birthDate"] == "1990-05-01"
    none = await client.patch("/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|999", json=patch, headers=JSON_PATCH)
    assert none.status_code == 404
    await stored_patient(client)
    several = await client.patch(f"/fhir/Patient?{query}", json=patch, headers=JSON_PATCH)
    assert several.status_code == 412
    assert (await client.patch("/fhir/Patient", json=patch, headers=JSON_PATCH)).status_code == 400


def test_merge_patch_replaces_merges_and_removes() -> None:
    patched = apply_merge_patch(patient(), {"birthDate": None, "gender": "female", "name": [{"text": "A M Hansen"}]})
    assert "birthDate" not in patched and patched["gender"] == "female"
    assert patched["name"] == [{"text": "A M Hansen"}]  # arrays are replaced whole (RFC 7386)
    with pytest.raises(IssueError):
        apply_merge_patch(patient(), [{"op": "remove", "path": "/gender"}])


async def test_a_partial_resource_is_a_merge_patch(client: httpx.AsyncClient) -> None:
    """What fhirpy's `patch(active=True)` sends: the changed elements, as application/json."""
    created = await stored_patient(client)
    response = await client.patch(f"/fhir/Patient/{created['id']}", json={"active": True})
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True and response.json()["birthDate"] == "1990-04-01"
    merge = await client.patch(
        f"/fhir/Patient/{created['id']}",
        json={"active": None},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert merge.status_code == 200 and "active" not in merge.json()


def binary_patch(document: list[dict[str, Any]]) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(document).encode()).decode()
    return {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}


async def test_patch_entries_in_a_transaction(client: httpx.AsyncClient) -> None:
    """FHIR R4 http.html#transaction: a PATCH entry carries a Binary (JSON Patch) or a Parameters (FHIRPath)."""
    first, second = await stored_patient(client), await stored_patient(client)
    entries = [
        {
            "resource": binary_patch([{"op": "replace", "path": "/birthDate", "value": "1990-05-01"}]),
            "request": {"method": "PATCH", "url": f"Patient/{first['id']}", "ifMatch": 'W/"1"'},
        },
        {
            "resource": fhirpath_patch(operation("add", "Patient", name="gender", value={"valueCode": "female"})),
            "request": {"method": "PATCH", "url": f"Patient/{second['id']}"},
        },
    ]
    response = await client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert response.status_code == 200, response.text
    assert [entry["response"]["status"] for entry in response.json()["entry"]] == ["200 OK", "200 OK"]
    assert (await client.get(f"/fhir/Patient/{first['id']}")).json()["birthDate"] == "1990-05-01"
    assert (await client.get(f"/fhir/Patient/{second['id']}")).json()["gender"] == "female"


async def test_a_failing_patch_entry_rolls_the_transaction_back_and_fails_alone_in_a_batch(
    client: httpx.AsyncClient,
) -> None:
    created = await stored_patient(client)
    entries = [
        {
            "resource": fhirpath_patch(operation("add", "Patient", name="gender", value={"valueCode": "female"})),
            "request": {"method": "PATCH", "url": f"Patient/{created['id']}"},
        },
        {
            "resource": binary_patch([{"op": "test", "path": "/birthDate", "value": "2000-01-01"}]),
            "request": {"method": "PATCH", "url": f"Patient/{created['id']}"},
        },
        {"resource": {"resourceType": "Patient"}, "request": {"method": "PATCH", "url": f"Patient/{created['id']}"}},
    ]
    other = await stored_patient(client)
    # a transaction writes each resource once (http.html#trules): the patch that would apply is on another Patient
    applying = {**entries[0], "request": {"method": "PATCH", "url": f"Patient/{other['id']}"}}
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [applying, entries[1]]}
    refused = await client.post("/fhir", json=transaction)
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["expression"][0].startswith("Bundle.entry[1]")
    assert "gender" not in (await client.get(f"/fhir/Patient/{other['id']}")).json()
    twice = await client.post("/fhir", json={**transaction, "entry": entries[:2]})
    assert twice.status_code == 400
    assert twice.json()["issue"][0]["expression"] == ["Bundle.entry[1]"]
    batch = await client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": entries})
    assert batch.status_code == 200
    statuses = [entry["response"]["status"] for entry in batch.json()["entry"]]
    assert statuses[0] == "200 OK" and statuses[1].startswith("422") and statuses[2].startswith("400")
    assert (await client.get(f"/fhir/Patient/{created['id']}")).json()["gender"] == "female"
