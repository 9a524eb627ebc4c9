"""The two patch formats FHIR R4 defines for JSON (http.html#patch): JSON Patch (RFC 6902,
`application/json-patch+json`) and FHIRPath Patch (a `Parameters` resource, fhirpatch.html); and JSON Merge Patch
(RFC 7386), which fhirpy's `patch()` sends. Pure functions: the current resource and the patch document in, the
patched resource out (the caller validates and stores it as an update).

Errors follow RFC 5789 §2.2: a patch document that is not well formed is 400 (`fhir.patch.invalid`), one that is
well formed but cannot be applied to this resource (a failed `test`, a path that is not there) is 422
(`fhir.patch.unprocessable`). Each issue's `expression` names the operation: `/2/path` for the third JSON Patch
operation, `Parameters.parameter[1].part[2]` for a FHIRPath Patch part.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import evaluate
from fhirpathpy.models import models

from mappings.issues import IssueError

Resource = dict[str, Any]
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
_R4 = models["r4"]
#: FHIRPath Patch operation types (R4 fhirpatch.html, value set patch-operation).
_OPERATIONS = ("add", "insert", "delete", "replace", "move")
#: A path's last step when it names a member: `Patient.name[0].given` → (`Patient.name[0]`, `given`).
_LAST_MEMBER = re.compile(r"^(?P<container>.+)\.(?P<name>[A-Za-z][A-Za-z0-9_]*)$")
#: One step of fhirpathpy's concrete location (`propName`): `given[1]`.
_STEP = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?$")


def _invalid(text: str, expression: str) -> IssueError:
    return IssueError.single("invalid", text, expression=expression, message_id="fhir.patch.invalid", status=400)


def _unprocessable(text: str, expression: str) -> IssueError:
    return IssueError.single(
        "processing", text, expression=expression, message_id="fhir.patch.unprocessable", status=422
    )


# -- JSON Patch ----------------------------------------------------------------------------------------------


def apply_json_patch(resource: Resource, document: Any) -> Resource:
    """`resource` with the RFC 6902 operations of `document` applied (all or nothing)."""
    if not isinstance(document, list):
        raise _invalid("A JSON Patch document is a JSON array of operations (RFC 6902 §3)", "(body)")
    for position, operation in enumerate(document):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise _invalid(f"Operation {position} is not an object with an 'op' member (RFC 6902 §4)", f"/{position}")
    try:
        patch = jsonpatch.JsonPatch(document)
        patched: Resource = patch.apply(copy.deepcopy(resource))
    except jsonpatch.JsonPatchTestFailed as error:
        raise _unprocessable(f"A 'test' operation failed: {error}", _failed_operation(resource, document)) from None
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as error:
        raise _unprocessable(f"The patch cannot be applied: {error}", _failed_operation(resource, document)) from None
    except (jsonpatch.InvalidJsonPatch, TypeError, ValueError) as error:
        raise _invalid(f"The JSON Patch document is not valid: {error}", "(body)") from None
    if not isinstance(patched, dict):
        raise _unprocessable("The patch replaced the whole resource with something that is not one", "/")
    return patched


def _failed_operation(resource: Resource, document: list[Any]) -> str:
    """Which operation failed: jsonpatch does not say, so apply them one by one on a copy (cheap: patches are
    short) and name the first that raises, as `/<index>` of the patch document."""
    probe: Any = copy.deepcopy(resource)
    for position, operation in enumerate(document):
        try:
            probe = jsonpatch.JsonPatch([operation]).apply(probe, in_place=True)
        except Exception:
            return f"/{position}"
    return "(body)"


# -- JSON Merge Patch ----------------------------------------------------------------------------------------


def apply_merge_patch(resource: Resource, document: Any) -> Resource:
    """`resource` with an RFC 7386 JSON Merge Patch applied: members of `document` replace the resource's, `null`
    removes one, objects merge recursively, arrays are replaced whole. Not a FHIR R4 patch format, but what
    fhirpy's `patch()` (and Aidbox, and Firely Server for `application/merge-patch+json`) send: the changed
    elements as a partial resource."""
    if not isinstance(document, dict):
        raise _invalid("A JSON Merge Patch is a JSON object (RFC 7386 §2)", "(body)")
    merged = _merge(resource, document)
    assert isinstance(merged, dict)
    return merged


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


# -- FHIRPath Patch ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operation:
    kind: str
    path: str
    where: str  # `Parameters.parameter[n]`
    parts: dict[str, Any]  # name -> part


def apply_fhirpath_patch(resource: Resource, parameters: Any) -> Resource:
    """`resource` with the operations of a FHIRPath Patch `Parameters` applied in order (R4 fhirpatch.html)."""
    operations = _operations(parameters)
    patched = copy.deepcopy(resource)
    for operation in operations:
        _apply(patched, operation)
    return patched


def _operations(parameters: Any) -> list[_Operation]:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise _invalid("A FHIRPath Patch is a Parameters resource (FHIR R4 fhirpatch.html)", "resourceType")
    found = []
    for number, parameter in enumerate(parameters.get("parameter") or []):
        where = f"Parameters.parameter[{number}]"
        if not isinstance(parameter, dict) or parameter.get("name") != "operation":
            raise _invalid("Every parameter of a FHIRPath Patch is named 'operation'", f"{where}.name")
        parts: dict[str, Any] = {}
        for part in parameter.get("part") or []:
            if isinstance(part, dict) and isinstance(part.get("name"), str):
                parts[part["name"]] = part
        kind = _string(parts, "type", where)
        if kind not in _OPERATIONS:
            raise _invalid(f"Unknown patch operation type {kind!r}; one of {', '.join(_OPERATIONS)}", f"{where}.part")
        found.append(_Operation(kind, _string(parts, "path", where), where, parts))
    if not found:
        raise _invalid("The FHIRPath Patch has no operation", "Parameters.parameter")
    return found


def _string(parts: dict[str, Any], name: str, where: str) -> str:
    part = parts.get(name)
    value = None
    if part is not None:
        value = next((part[key] for key in part if key.startswith("value")), None)
    if not isinstance(value, str) or not value:
        raise _invalid(f"The operation has no '{name}' part with a value", f"{where}.part")
    return value


def _integer(operation: _Operation, name: str) -> int:
    part = operation.parts.get(name)
    value = None if part is None else part.get("valueInteger")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _invalid(
            f"A {operation.kind} operation needs a '{name}' part with a valueInteger of 0 or more", operation.where
        )
    return value


def _value(operation: _Operation) -> Any:
    """The `value` part: a `value[x]` of a datatype, or (for an anonymous BackboneElement) one nested part per
    element (R4 fhirpatch.html: "the value ... may be a set of parts")."""
    part = operation.parts.get("value")
    if part is None:
        raise _invalid(f"A {operation.kind} operation needs a 'value' part", operation.where)
    for key, value in part.items():
        if key.startswith("value"):
            return value
    nested = part.get("part")
    if isinstance(nested, list) and nested:
        element: dict[str, Any] = {}
        for child in nested:
            name = child.get("name") if isinstance(child, dict) else None
            if not isinstance(name, str):
                raise _invalid("Every part of a complex value has a name", f"{operation.where}.part")
            inner = _value(_Operation(operation.kind, operation.path, operation.where, {"value": child}))
            element.setdefault(name, []).append(inner)
        return {name: values[0] if len(values) == 1 else values for name, values in element.items()}
    raise _invalid("The 'value' part has no value[x] and no parts", operation.where)


def _nodes(resource: Resource, path: str, where: str) -> list[Any]:
    try:
        return list(evaluate(resource, path, model=_R4, options={"returnRawData": True}))
    except Exception as error:  # fhirpathpy raises plain exceptions for syntax and evaluation errors
        raise _invalid(
            f"The path {path!r} is not a FHIRPath expression this server can evaluate: {error}", where
        ) from None


Step = tuple[str, int | None]


def _location(resource: Resource, node: Any, path: str, where: str) -> list[Step]:
    """The concrete JSON location of one fhirpathpy result (`Patient.name[0].given[1]`), as steps."""
    prop = getattr(node, "propName", None)
    if prop is None and getattr(node, "data", None) is resource:
        return []  # the resource itself
    if not isinstance(prop, str):
        raise _unprocessable(f"The path {path!r} does not name an element of the resource being patched", where)
    steps: list[Step] = []
    for text in prop.split(".")[1:]:
        match = _STEP.match(text)
        if match is None:
            raise _unprocessable(f"The path {path!r} does not name an element of the resource being patched", where)
        steps.append((match["key"], int(match["index"]) if match["index"] is not None else None))
    return steps


def _one(resource: Resource, path: str, where: str, *, allow_none: bool = False) -> list[Step] | None:
    nodes = _nodes(resource, path, where)
    if not nodes and allow_none:
        return None
    if len(nodes) != 1:
        raise _unprocessable(f"The path {path!r} matches {len(nodes)} elements; the operation needs exactly one", where)
    return _location(resource, nodes[0], path, where)


def _container_of(resource: Resource, steps: list[Step]) -> tuple[Any, str, int | None]:
    """(the object holding the last step, its key, its index) for a location."""
    holder: Any = resource
    for key, index in steps[:-1]:
        holder = holder[key] if index is None else holder[key][index]
    key, index = steps[-1]
    return holder, key, index


def _at(resource: Resource, steps: list[Step]) -> Any:
    holder: Any = resource
    for key, index in steps:
        holder = holder[key] if index is None else holder[key][index]
    return holder


def _apply(resource: Resource, operation: _Operation) -> None:
    where, path = operation.where, operation.path
    if operation.kind == "delete":
        # "Only a single element can be deleted"; a path that matches nothing deletes nothing (R4 fhirpatch.html).
        steps = _one(resource, path, where, allow_none=True)
        if steps:
            _delete(resource, steps)
        elif steps == []:
            raise _unprocessable("A patch cannot delete the resource itself", where)
        return
    if operation.kind == "replace":
        steps = _one(resource, path, where)
        assert steps is not None
        if not steps:
            raise _unprocessable("A patch cannot replace the resource itself", where)
        holder, key, index = _container_of(resource, steps)
        value = _value(operation)
        if index is None:
            holder[key] = value
        else:
            holder[key][index] = value
        return
    if operation.kind == "add":
        steps = _one(resource, path, where)
        assert steps is not None
        target = _at(resource, steps)
        name = _string(operation.parts, "name", where)
        if not isinstance(target, dict):
            raise _unprocessable(f"The path {path!r} names a primitive; 'add' needs an element to add to", where)
        value = _value(operation)
        existing = target.get(name)
        if isinstance(existing, list):
            existing.append(value)
        elif existing is not None:
            raise _unprocessable(f"{path}.{name} exists and does not repeat: use 'replace'", where)
        else:
            target[name] = [value] if _repeats(_type_of(resource, steps, path, where), name) else value
        return
    # insert and move name a list: its container's path and the list's member name.
    match = _LAST_MEMBER.match(path)
    if match is None:
        raise _invalid(f"The path {path!r} must end with the name of a repeating element", where)
    container = _one(resource, match["container"], where)
    assert container is not None
    holder = _at(resource, container)
    if not isinstance(holder, dict):
        raise _unprocessable(f"The path {match['container']!r} names a primitive", where)
    items = holder.get(match["name"])
    if items is not None and not isinstance(items, list):
        raise _unprocessable(f"{path} does not repeat", where)
    items = items if items is not None else []
    if operation.kind == "insert":
        index = _integer(operation, "index")
        if index > len(items):
            raise _unprocessable(f"Index {index} is past the end of {path} ({len(items)} items)", where)
        items.insert(index, _value(operation))
        holder[match["name"]] = items
        return
    source, destination = _integer(operation, "source"), _integer(operation, "destination")
    if source >= len(items) or destination >= len(items):
        raise _unprocessable(f"{path} has {len(items)} items; cannot move {source} to {destination}", where)
    items.insert(destination, items.pop(source))


def _delete(resource: Resource, steps: list[Step]) -> None:
    holder, key, index = _container_of(resource, steps)
    if index is None:
        holder.pop(key, None)
        holder.pop(f"_{key}", None)  # a primitive's id and extensions go with it
        return
    del holder[key][index]
    if isinstance(holder.get(f"_{key}"), list) and index < len(holder[f"_{key}"]):
        del holder[f"_{key}"][index]
    if not holder[key]:
        holder.pop(key)
        holder.pop(f"_{key}", None)


def _type_of(resource: Resource, steps: list[Step], path: str, where: str) -> str:
    """The FHIR type name of the element at `path` (fhirpathpy's `path`: `HumanName`, `CarePlan.activity`)."""
    nodes = _nodes(resource, path, where)
    type_name = getattr(nodes[0], "path", None) if nodes else None
    return str(type_name or resource["resourceType"])


def _repeats(type_name: str, name: str) -> bool:
    """Does element `name` of `type_name` repeat (max `*`)? From the R4(B) model's field (`List[...]`); a name the
    model does not know is added as a single value, and the structural check of the result reports it."""
    class_name = "".join(part[:1].upper() + part[1:] for part in type_name.split("."))
    try:
        model = get_fhir_model_class(class_name)
    except (KeyError, ValueError, AttributeError, ImportError):
        return False
    field = model.model_fields.get(name) or model.model_fields.get(f"{name}_fhir")
    return field is not None and "List[" in str(field.annotation)
