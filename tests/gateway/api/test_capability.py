"""The CapabilityStatement says what is served (issue 14): every `$operation` route, PATCH and the conditional
interactions, both formats, and `rest.security` as the running configuration has it. Validated as every emitted
resource is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.api import create_app
from gateway.api.fhir import served_operations
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.fhir.capability import OAUTH_URIS, OPERATION_DEFINITIONS
from gateway.validation import default_validator
from tests.conftest import SteppingClock


async def statement_of(app: FastAPI) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        response = await http.get("/fhir/metadata")
    assert response.status_code == 200
    statement: dict[str, Any] = response.json()
    assert not default_validator().validate(statement).errors
    return statement


def test_every_served_operation_is_listed(app: FastAPI) -> None:
    """A new `$name` route without a definition in OPERATION_DEFINITIONS fails here."""
    served = served_operations(app.openapi()["paths"])
    assert {op.name for op in served} == set(OPERATION_DEFINITIONS) == {"validate", "process-message"}


async def test_operations_interactions_formats(app: FastAPI) -> None:
    statement = await statement_of(app)
    rest = statement["rest"][0]
    assert {op["name"] for op in rest["operation"]} == {"validate", "process-message"}
    assert {op["definition"] for op in rest["operation"]} == set(OPERATION_DEFINITIONS.values())
    assert set(statement["format"]) >= {"json", "xml"}
    assert "application/json-patch+json" in statement["patchFormat"]
    audit = next(resource for resource in rest["resource"] if resource["type"] == "AuditEvent")
    assert {i["code"] for i in audit["interaction"]} == {
        "read",
        "vread",
        "history-instance",
        "history-type",
        "search-type",
    }
    for resource in rest["resource"]:
        if resource["type"] == "AuditEvent":  # written by the gateway only
            continue
        codes = {interaction["code"] for interaction in resource["interaction"]}
        assert {"patch", "delete", "read", "vread", "update", "create", "search-type"} <= codes
        assert resource["conditionalRead"] == "full-support"
        assert resource["conditionalDelete"] == "single"
        assert resource["conditionalCreate"] is True and resource["conditionalUpdate"] is True
        assert [op["name"] for op in resource["operation"]] == ["validate"]
    # insecure_no_auth (the test default): no security to speak of, so none is claimed
    assert "security" not in rest


async def test_security_is_smart_on_fhir_with_the_token_endpoint_when_configured(
    tmp_path: Path, clock: SteppingClock
) -> None:
    plain = await statement_of(create_app(Settings(data_dir=tmp_path / "a"), clock=clock, ids=SequenceIds()))
    security = plain["rest"][0]["security"]
    assert security["service"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR",
        "display": "SMART-on-FHIR",
    }
    assert "extension" not in security  # no endpoints configured: none are claimed
    settings = Settings(
        data_dir=tmp_path / "b",
        token_endpoint="https://auth.example/token",
        authorize_endpoint="https://auth.example/authorize",
        multiple_delete=True,
    )
    configured = await statement_of(create_app(settings, clock=clock, ids=SequenceIds()))
    security = configured["rest"][0]["security"]
    oauth = next(extension for extension in security["extension"] if extension["url"] == OAUTH_URIS)
    assert oauth["extension"] == [
        {"url": "authorize", "valueUri": "https://auth.example/authorize"},
        {"url": "token", "valueUri": "https://auth.example/token"},
    ]
    assert {r.get("conditionalDelete") for r in configured["rest"][0]["resource"]} == {"multiple", None}
