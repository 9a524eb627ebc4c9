"""FHIR responses: `application/fhir+json`, serialised with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gateway.fhir.interactions import FhirResponse
from mappings.issues import Issue, operation_outcome

FHIR_JSON = "application/fhir+json"


def fhir_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = b"" if body is None else orjson.dumps(body)
    return Response(content, status_code=status, headers=headers, media_type=FHIR_JSON if body is not None else None)


def render(response: FhirResponse, prefer: str | None = None) -> Response:
    """Honours `Prefer: return=minimal|representation|OperationOutcome` (FHIR R4 http.html#ops)."""
    body = response.body
    if prefer and response.status in (200, 201):
        wanted = prefer.replace(" ", "").lower()
        if "return=minimal" in wanted:
            body = None
        elif "return=operationoutcome" in wanted:
            body = operation_outcome([Issue("information", "informational", f"HTTP {response.status}")])
    return fhir_json(body, response.status, response.headers)
