"""FHIR R4 profile validation over plain dicts (FHIR JSON), for MedCom, DK-core and our own profiles.

A library with no app state: the API, the CLI and the fixture servers all use it.

    from gateway.validation import default_validator

    result = default_validator().validate(bundle)            # against meta.profile (or the base R4 type)
    result = default_validator().validate(resource, "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient")
    if not result.ok:
        raise IssueError(result.errors)                       # or: result.operation_outcome()

Profiles come from the FHIR packages shipped in `gateway/validation/packages/` (R4 core, HL7 terminology,
DK-core, MedCom) and the `*.json` conformance resources in `profiles/`. Each profile is compiled once into a check
plan within the dependency closure of its own package (HospitalNotification 3.0.2 sees messaging 2.1.0 and
DK-core 2.0.0; CareCommunication 5.0.2 sees messaging 4.0.2 and DK-core 3.4.0). Issues carry stable `message_id`s:
`validation.cardinality-min`, `validation.cardinality-max`, `validation.unknown-element`, `validation.json-shape`,
`validation.primitive-format`, `validation.resource-id`, `validation.value-required`, `validation.attachment-size`,
`validation.max-length`, `validation.min-length`, `validation.min-value`, `validation.max-value`,
`validation.fixed-value`, `validation.pattern-value`, `validation.code-not-in-valueset`,
`validation.code-not-checked`, `validation.code-missing`, `validation.invariant`, `validation.invariant-error`,
`validation.invariant-defect`, `validation.invariant-unresolved`, `validation.invariant-not-checked`,
`validation.narrative-link`, `validation.narrative-language`, `validation.closed-slicing`,
`validation.bundle-full-url`, `validation.bundle-link`, `validation.bundle-reference`, `validation.slice-order`,
`validation.reference-target-type`, `validation.reference-target-profile`, `validation.reference-not-bundled`,
`validation.profile-unknown`, `validation.profile-type-mismatch`, `validation.profile-definition`,
`validation.extension-unknown`, `validation.extension-not-checked`, `validation.extension-context`,
`validation.extension-modifier`, `validation.not-a-resource`, `validation.unknown-resource-type`,
`validation.package-unknown`, `validation.package-unreadable`, `validation.package-duplicate`,
`validation.snapshot-failed`.
"""

from pathlib import Path

from gateway.compiled_modules import prefer_current

#: Whether this package's modules run compiled by mypyc (setup.py) or from their sources (`gateway.compiled_modules`).
BUILD = prefer_current(__name__, Path(__file__).parent)

from gateway.validation.engine import ValidationResult, Validator, default_validator  # noqa: E402
from gateway.validation.fhir_xml import FhirReading, read_fhir_xml, resource_from_xml, resource_to_xml  # noqa: E402
from gateway.validation.registry import Registry, build_registry  # noqa: E402
from gateway.validation.warmup import warm_for_messages  # noqa: E402

__all__ = [
    "FhirReading",
    "Registry",
    "ValidationResult",
    "Validator",
    "build_registry",
    "default_validator",
    "read_fhir_xml",
    "resource_from_xml",
    "resource_to_xml",
    "warm_for_messages",
]
