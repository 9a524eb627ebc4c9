"""References in the walk: the target's type (the resolved resource's, or the one a literal reference names), its
profile, and `aggregation: bundled`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gateway.validation.plans import CORE_PREFIX, ElementPlan, TypeRef
from gateway.validation.walk_state import Scope

if TYPE_CHECKING:
    from gateway.validation.validator import Walker

Resource = dict[str, Any]


#: A reference type's target profiles that say more than "a resource", by its `targetProfile` list (from the
#: profiles, so bounded).
_TARGETS: dict[tuple[str, ...], list[str]] = {}


# -- references -----------------------------------------------------------------------------------------------
def reference(
    walker: Walker, node: ElementPlan, type_ref: TypeRef | None, item: Resource, expr: str, scope: Scope
) -> None:
    reference = item.get("reference")
    if not isinstance(reference, str) or type_ref is None:
        return
    target = walker.run.resolve(reference, scope)
    if target is None:
        named = named_type(reference) if walker.engine.assume_valid_rest_references else None
        if named is not None and not walker.engine.is_resource_type(named):
            named = None
        if "bundled" in type_ref.aggregation and walker.run.in_bundle and not reference.startswith("#"):
            walker.run.add(
                "error",
                "structure",
                "validation.reference-not-bundled",
                expr,
                f"{node.path}: {reference} is not in the Bundle, but aggregation is 'bundled' ({node.profile})",
            )
        if named is None:
            return
        actual: Any = named
    else:
        actual = target.get("resourceType")
    profiles = _TARGETS.get(type_ref.target_profiles)
    if profiles is None:
        profiles = _TARGETS[type_ref.target_profiles] = [
            p for p in type_ref.target_profiles if p.split("|")[0] not in (CORE_PREFIX + "Resource",)
        ]
    if not profiles:
        return
    typed = [p for p in profiles if walker.engine.profile_type(p, scope.closure) in (actual, None)]
    if not typed:
        # the type a reference names counts even when the target is not here (FHIR R4 §2.3.0: a literal
        # reference `[base]/Type/id` names its target's type)
        walker.run.add(
            "error",
            "structure",
            "validation.reference-target-type",
            expr,
            f"{node.path}: {reference} is a{'n' if str(actual)[:1] in 'AEIOU' else ''} {actual}, "
            f"expected one of {profiles} ({node.profile})",
        )
        return
    if target is None:
        return
    if not any(p.startswith(CORE_PREFIX) or walker.engine.conforms(walker.run, target, p, scope) for p in typed):
        walker.run.add(
            "error",
            "structure",
            "validation.reference-target-profile",
            expr,
            f"{node.path}: {reference} does not conform to {' or '.join(typed)} ({node.profile})",
        )


#: A literal reference (FHIR R4 §2.3.0, `Reference.reference`): `[base/]Type/id[/_history/version]`.
_LITERAL = re.compile(r"(?:.*/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?")


def named_type(reference: str) -> str | None:
    """The resource type a literal reference names (`Patient/1`, `https://x/fhir/Patient/1/_history/2`), or None
    for a contained (`#id`), `urn:` or other reference that names none."""
    if reference.startswith(("#", "urn:")):
        return None
    found = _LITERAL.fullmatch(reference)
    return found.group(1) if found else None
