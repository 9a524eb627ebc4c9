"""Small differential profiles for tests: a StructureDefinition on an R4 core type, and a package holding one."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.validation.packages import FhirPackage, ResourceEntry


def constraint_profile(url: str, base_type: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    """A constraint StructureDefinition on the R4 core `base_type`, with `elements` as its differential."""
    return {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": "Test" + base_type,
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": base_type,
        "baseDefinition": f"http://hl7.org/fhir/StructureDefinition/{base_type}",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def profile_package(url: str, base_type: str, elements: list[dict[str, Any]], *, name: str = "") -> FhirPackage:
    """A package holding `constraint_profile(url, base_type, elements)` (named after the profile unless given)."""
    profile = constraint_profile(url, base_type, elements)
    entry = ResourceEntry("StructureDefinition", url, None, orjson.dumps(profile))
    return FhirPackage(name=name or f"test.{url.rsplit('/', 1)[-1]}", version="1.0.0", resources=[entry])
