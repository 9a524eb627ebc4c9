"""Terminology bindings in the walk: required and extensible bindings (and additional ones) on codes, Codings,
CodeableConcepts and Quantities; codes of systems we cannot expand are "not checked", never valid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.validation.plans import Binding, ElementPlan
from gateway.validation.terminology import Membership
from gateway.validation.walk_state import Scope
from mappings.issues import Severity

if TYPE_CHECKING:
    from gateway.validation.validator import Walker


# -- terminology ----------------------------------------------------------------------------------------------
def in_value_set(walker: Walker, value_set: str, value: Any, scope: Scope) -> bool:
    terminology = walker.engine.terminology(scope.closure)
    return any(terminology.check(value_set, system, code)[0] is Membership.MEMBER for system, code in codings_of(value))


def binding(walker: Walker, node: ElementPlan, item: Any, code: str, expr: str, scope: Scope) -> None:
    binding = node.binding
    if binding is None or code == "Reference":
        return
    if binding.strength in ("required", "extensible") and binding.value_set:
        bound(walker, node, binding, item, code, expr, scope)
    for additional in binding.additional:
        bound(walker, node, additional, item, code, expr, scope)


def bound(walker: Walker, node: ElementPlan, binding: Binding, item: Any, code: str, expr: str, scope: Scope) -> None:
    """One required or extensible binding."""
    codings = codings_of(item)
    if not codings:
        if code == "CodeableConcept" and isinstance(item, dict) and ("coding" in item or "text" in item):
            # text alone names no code (FHIR R4 §4.1.5: a required binding needs a code from the value set)
            required = binding.strength == "required"
            walker.run.add(
                "error" if required else "warning",
                "code-invalid",
                "validation.code-missing",
                expr,
                f"{node.path}: no code given, and a code {'is required' if required else 'should be given'} "
                f"from the {binding.strength} value set {binding.value_set} ({node.profile})",
            )
        return
    check = walker.engine.terminology(scope.closure).check
    results = []
    for system, value in codings:
        result = check(binding.value_set, system, value)
        if result[0] is Membership.MEMBER:  # the common case: one member code settles it
            return
        results.append(result)
    shown = ", ".join(f"{system}#{value}" if system else value for system, value in codings)
    unchecked = [why for result, why in results if result is Membership.NOT_CHECKED]
    if unchecked:
        walker.run.add(
            "information" if binding.strength == "extensible" else "warning",
            "informational",
            "validation.code-not-checked",
            expr,
            f"{node.path}: {shown} not checked against {binding.value_set}: {unchecked[0]}",
        )
        return
    severity: Severity = "error" if binding.strength == "required" else "warning"
    walker.run.add(
        severity,
        "code-invalid",
        "validation.code-not-in-valueset",
        expr,
        f"{node.path}: {shown} is not in the {binding.strength} value set {binding.value_set} ({node.profile})",
    )


def codings_of(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) of every code in a code, Coding, CodeableConcept or Quantity."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        codings = value["coding"]
        # A malformed `coding` (not a list) is reported by the structure checks; here it just has no codes.
        return [
            (c.get("system"), c["code"])
            for c in (codings if isinstance(codings, list) else [])
            if isinstance(c, dict) and isinstance(c.get("code"), str) and isinstance(c.get("system"), str | None)
        ]
    if not isinstance(value.get("system"), str | None):
        return []
    if isinstance(value.get("code"), str) and ("system" in value or "display" in value or len(value) == 1):
        return [(value.get("system"), value["code"])]
    return []
