"""Checks on an element's presence and form: cardinality (of elements and slices), a primitive's `_name` form
(FHIR R4 JSON §2.6.2.7), values a profile requires (R5 mustHaveValue/valueAlternatives), empty arrays,
`Attachment.size`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.validation import extension_checks
from gateway.validation.plans import ElementPlan, TypeRef
from gateway.validation.primitives import PRIMITIVES
from gateway.validation.walk_state import Scope

if TYPE_CHECKING:
    from gateway.validation.validator import Walker

Resource = dict[str, Any]


def primitive_element(
    walker: Walker,
    child: ElementPlan,
    type_ref: TypeRef | None,
    key: str,
    raw: Any,
    value: Resource,
    expr: str,
    scope: Scope,
) -> bool:
    """Checks `_name`, a primitive's id and extensions (FHIR R4 JSON §2.6.2.7): an object, or for a repeating
    primitive an array of objects or nulls as long as the array of values; walks the extensions. False when
    `_name` is not allowed at all (the element is not a primitive)."""
    name = key[1:]
    stem = f"{expr}.{name}"
    codes = [type_ref.code] if type_ref else [t.code for t in child.types]
    if not codes or not all(code in PRIMITIVES and code != "xhtml" for code in codes) or child.no_extensions:
        walker.run.add(
            "error",
            "structure",
            "validation.unknown-element",
            f"{expr}.{key}",
            f"unknown element '{key}' in {child.path.rsplit('.', 1)[0]}: {child.path} is not a primitive "
            f"element that can carry extensions, so it has no '_' form ({child.profile})",
        )
        return False
    if child.array:
        values = value.get(name)
        if not isinstance(raw, list):
            walker.run.add("error", "structure", "validation.json-shape", stem, f"{key} must be an array")
            return True
        if isinstance(values, list) and len(values) != len(raw):
            walker.run.add(
                "error",
                "structure",
                "validation.json-shape",
                stem,
                f"{key} has {len(raw)} items but {name} has {len(values)}: they must pair up (null where an item "
                "has no id or extensions)",
            )
        parts = [
            (item, f"{stem}[{index}]", values[index] if isinstance(values, list) and index < len(values) else None)
            for index, item in enumerate(raw)
            if item is not None
        ]
    else:
        parts = [(raw, stem, value.get(name))]
    for item, item_expr, paired in parts:
        if isinstance(item, dict) and paired is None and not item.get("extension"):
            walker.run.add(
                "error",
                "invariant",
                "validation.invariant",
                item_expr,
                f"ele-1: All FHIR elements must have a @value or children ({child.path}: {key} has no extension "
                "and there is no value)",
            )
        if not isinstance(item, dict):
            walker.run.add(
                "error",
                "structure",
                "validation.json-shape",
                item_expr,
                f"{key} must hold JSON objects (id, extension)",
            )
            continue
        for inner in item:
            if inner not in ("id", "extension"):
                walker.run.add(
                    "error",
                    "structure",
                    "validation.unknown-element",
                    f"{item_expr}.{inner}",
                    f"unknown element '{inner}' in {key}: only id and extension are allowed",
                )
        if "id" in item and not isinstance(item["id"], str):
            walker.run.add(
                "error", "structure", "validation.json-shape", f"{item_expr}.id", f"{key}.id must be a string"
            )
        extensions = item.get("extension")
        if extensions is None:
            continue
        enclosing = value.get("url") if child.base_path.startswith("Extension.") else None
        extension_checks.extension_rules(
            walker, codes[0], item, stem, scope, child.base_path, holder_expr=item_expr, enclosing_url=enclosing
        )
        if not isinstance(extensions, list):
            walker.run.add(
                "error",
                "structure",
                "validation.json-shape",
                f"{item_expr}.extension",
                f"{key}.extension must be an array",
            )
            continue
        for position, extension in enumerate(extensions):
            if not isinstance(extension, dict):
                walker.run.add(
                    "error",
                    "structure",
                    "validation.json-shape",
                    f"{item_expr}.extension[{position}]",
                    f"{key}.extension must hold JSON objects",
                )
                continue
            extension_checks.extension(walker, extension, f"{item_expr}.extension[{position}]", scope)
    return True


def absent_value(walker: Walker, child: ElementPlan, companion: Any, expr: str) -> None:
    """A primitive with extensions but no value where the profile wants a value (R5 `mustHaveValue`), or one
    of its `valueAlternatives` extensions instead."""
    if child.value_alternatives:
        parts = companion if isinstance(companion, list) else [companion]
        urls = {
            e.get("url")
            for part in parts
            if isinstance(part, dict)
            for e in part.get("extension", [])
            if isinstance(e, dict)
        }
        if urls & set(child.value_alternatives):
            return
        wanted = f"a value or one of the extensions {list(child.value_alternatives)}"
    else:
        wanted = "a value"
    walker.run.add(
        "error", "required", "validation.value-required", expr, f"{child.path} requires {wanted} ({child.profile})"
    )


def attachment_size(walker: Walker, attachment: Resource, expr: str) -> None:
    """`Attachment.size` is "the number of bytes of data that make up this attachment (before base64
    encoding)" (FHIR R4 §2.24.0.10): with `data` present, they must agree."""
    data, size = attachment["data"], attachment["size"]
    if not isinstance(data, str) or not isinstance(size, int) or isinstance(size, bool):
        return
    text = "".join(data.split())
    if len(text) % 4:
        return  # not base64: the primitive check reports it
    decoded = len(text) // 4 * 3 - len(text) + len(text.rstrip("="))
    if decoded != size:
        walker.run.add(
            "error",
            "value",
            "validation.attachment-size",
            expr,
            f"Attachment.size is {size}, but its data holds {decoded} bytes",
        )


def empty_array(walker: Walker, expr: str) -> None:
    # FHIR R4 JSON §2.6.2.1: an element without values is left out, never an empty array
    walker.run.add("error", "structure", "validation.json-shape", expr, "an array must not be empty: leave it out")


def absent(walker: Walker, child: ElementPlan, expr: str) -> None:
    """An element that is not there: its minimum, and each slice's."""
    cardinality(walker, child, 0, expr, child.path)
    for slice_node in child.slices:
        if slice_node.min > 0:
            cardinality(walker, slice_node, 0, expr, f"{child.path}:{slice_node.slice_name}")


def cardinality(walker: Walker, node: ElementPlan, count: int, expr: str, label: str) -> None:
    if count < node.min:
        walker.run.add(
            "error",
            "required",
            "validation.cardinality-min",
            expr,
            f"{label}: minimum required = {node.min}, but only found {count} ({node.profile})",
        )
    if node.max >= 0 and count > node.max:
        walker.run.add(
            "error",
            "structure",
            "validation.cardinality-max",
            expr,
            f"{label}: max allowed = {node.max}, but found {count} ({node.profile})",
        )
