"""Request bodies to FHIR resources: JSON parsing and structural validation with exact element paths.

Structure (required elements, types, formats, unknown elements, choice types) is checked with the
fhir.resources R4B models, whose CarePlan, CareTeam, Consent, Goal, Patient, Practitioner, RelatedPerson,
Organization and Bundle have the R4 shape (`../shared/ENVIRONMENT.md`). pydantic locations such as
`('entry', 0, 'resource', 'intent')` become FHIRPath expressions `Bundle.entry[0].resource.intent`.
Profile conformance (codes, invariants, slicing) is the profile validator's job, not this module's.
"""

from __future__ import annotations

from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from mappings.issues import Issue, IssueError

Resource = dict[str, Any]

#: JSON nesting deeper than this is refused before parsing the model (FHIR resources rarely pass 15).
MAX_JSON_DEPTH = 64
#: FHIR R4 datatypes.html#id: `[A-Za-z0-9\-\.]{1,64}`.
MAX_ID_LENGTH = 64


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise IssueError.single("structure", "The request body is empty", message_id="fhir.empty-body", status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise IssueError.single(
            "structure",
            f"The body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
            expression=f"line {error.lineno}, column {error.colno}",
            message_id="fhir.invalid-json",
            status=400,
        ) from error


def parse_resource(body: bytes, *, expected_type: str | None, supported: tuple[str, ...]) -> Resource:
    """A resource from a request body, structurally valid, of `expected_type` when one is given."""
    data = parse_json(body)
    return check_resource(data, expected_type=expected_type, supported=supported)


def check_resource(
    data: Any, *, expected_type: str | None, supported: tuple[str, ...], path: str | None = None
) -> Resource:
    where = path or "(body)"
    if not isinstance(data, dict):
        raise _structure(f"Expected a FHIR resource (a JSON object) at {where}", path, "fhir.not-an-object")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise _structure("The resource has no resourceType", _join(path, "resourceType"), "fhir.no-resource-type")
    if expected_type and resource_type != expected_type:
        raise _structure(
            f"resourceType is {resource_type!r} but this endpoint takes {expected_type!r}",
            _join(path, "resourceType"),
            "fhir.wrong-resource-type",
        )
    if resource_type not in supported:
        raise IssueError.single(
            "not-supported",
            f"Resource type {resource_type!r} is not supported here; supported: {', '.join(supported)}",
            expression=_join(path, "resourceType"),
            message_id="fhir.unsupported-type",
            status=400 if expected_type is None else 404,
        )
    depth = _depth(data)
    if depth > MAX_JSON_DEPTH:
        raise _structure(f"The resource nests {depth} levels deep (limit {MAX_JSON_DEPTH})", path, "fhir.too-deep")
    if isinstance(data.get("id"), str) and len(data["id"]) > MAX_ID_LENGTH:
        # fhir.resources checks the id's characters but not R4's length limit (datatypes.html#id: 1-64).
        raise IssueError.single(
            "value",
            f"{_join(path or resource_type, 'id')}: an id has at most {MAX_ID_LENGTH} characters",
            expression=_join(path or resource_type, "id"),
            message_id="fhir.invalid-id",
            status=400,
        )
    validate_structure(data, prefix=path or resource_type)
    return data


def validate_structure(data: Resource, *, prefix: str) -> None:
    """Raises IssueError listing every structural problem, each with its FHIRPath location."""
    model = get_fhir_model_class(data["resourceType"])
    try:
        model.model_validate(data)
    except ValidationError as error:
        issues = tuple(_issue(prefix, detail) for detail in error.errors(include_url=False))
        raise IssueError(issues, status=400) from None


def _issue(prefix: str, detail: Any) -> Issue:
    location = fhirpath_of(prefix, detail["loc"])
    kind = str(detail.get("type", ""))
    if kind.endswith("missing"):
        code, text = "required", f"{location}: required element is missing"
    elif kind == "extra_forbidden":
        code, text = "structure", f"{location}: unknown element"
    else:
        code, text = "value", f"{location}: {detail['msg']}"
    return Issue("error", code, text, expression=location, message_id=f"fhir.structure.{code}")  # type: ignore[arg-type]


def fhirpath_of(prefix: str, location: tuple[Any, ...]) -> str:
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("resource_type", "resourceType"):
            path += ".resourceType"
        elif isinstance(part, str) and part != "root" and not part.startswith(("function-", "model-")):
            path += "." + _json_name(part)
    return path


def _json_name(python_name: str) -> str:
    # fhir.resources renames reserved words (`class` -> `class_fhir`, `import` -> `import_fhir`).
    name = python_name.removesuffix("__ext")
    if name.endswith("_fhir"):
        name = name[: -len("_fhir")]
    return ("_" + name) if python_name.endswith("__ext") else name


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level)
    return level


def _join(path: str | None, element: str) -> str:
    return f"{path}.{element}" if path else element


def _structure(text: str, expression: str | None, message_id: str) -> IssueError:
    return IssueError.single("structure", text, expression=expression, message_id=message_id, status=400)
