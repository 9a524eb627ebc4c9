"""Collaborators for routes, taken from `app.state` (set by `create_app`; tests pass their own)."""

from __future__ import annotations

from fastapi import Request

from gateway.fhir.interactions import FhirService


def fhir_service(request: Request) -> FhirService:
    service: FhirService = request.app.state.fhir
    return service


def fhir_base(request: Request) -> str:
    """The FHIR base URL as the client addressed us (used for Location, fullUrl and paging links)."""
    return str(request.base_url).rstrip("/") + "/fhir"
