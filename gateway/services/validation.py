"""`$validate` (FHIR R4 resource-operation-validate) and `gateway validate`: one resource, against a profile.

Input is the resource itself, or a `Parameters` resource with `resource` and optional `profile` parameters (the
operation's signature). The answer is always an OperationOutcome; problems in the resource are its issues, not an
HTTP error (HTTP errors are for requests that cannot be read at all).
"""

from __future__ import annotations

from typing import Any

from gateway.validation import ValidationResult, Validator, default_validator
from mappings.issues import IssueError

Resource = dict[str, Any]


def unwrap_parameters(data: Any, profile: str | None) -> tuple[Resource, str | None]:
    """(resource, profile) from a `$validate` body: a Parameters resource or the resource itself."""
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise IssueError.single(
            "structure",
            "$validate takes a FHIR resource or a Parameters resource",
            expression="resourceType",
            message_id="validate.not-a-resource",
            status=400,
        )
    if data["resourceType"] != "Parameters":
        return data, profile
    resource: Resource | None = None
    for parameter in data.get("parameter") or []:
        name = parameter.get("name")
        if name == "resource" and isinstance(parameter.get("resource"), dict):
            resource = parameter["resource"]
        elif name == "profile":
            profile = parameter.get("valueUri") or parameter.get("valueCanonical") or profile
    if resource is None:
        raise IssueError.single(
            "required",
            "Parameters has no `resource` parameter",
            expression="Parameters.parameter",
            message_id="validate.no-resource",
            status=400,
        )
    return resource, profile


def validate_resource(
    data: Any, *, resource_type: str | None = None, profile: str | None = None, validator: Validator | None = None
) -> ValidationResult:
    """`data` (a resource, or `$validate` Parameters) validated by `validator` (default: the shipped packages)."""
    resource, profile = unwrap_parameters(data, profile)
    if resource_type and resource.get("resourceType") != resource_type:
        raise IssueError.single(
            "structure",
            f"resourceType is {resource.get('resourceType')!r} but this endpoint validates {resource_type!r}",
            expression="resourceType",
            message_id="validate.wrong-type",
            status=400,
        )
    return (validator or default_validator()).validate(resource, profile)
