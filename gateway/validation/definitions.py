"""A StructureDefinition under validation: does its differential make a profile of its base?

Validating a profile as an instance checks its JSON against the StructureDefinition definition; whether the
differential applies to the base is what building its snapshot shows (FHIR R4 §5.1.0.3, "snapshot generation").
The FHIR validator builds it and reports what fails; so do we, with what our snapshot generator finds:
* an element the base does not have (`Observation.valueBla`), or slices of an element that is not there;
* a fixed value the base fixes to another value (a constraint narrows its base, never contradicts it);
* a type profile for another type (`Count` is a type of its own, not a profile of `Quantity`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from gateway.validation.snapshots import generate_snapshot
from mappings.issues import IssueError

Resource = dict[str, Any]
#: (expression, diagnostics).
Problem = tuple[str, str]
#: Types a profile on a resource may stand for (a profile on Patient where `Resource` is allowed).
_ANY_RESOURCE = ("Resource", "DomainResource")


def definition_problems(definition: Resource, resolve: Callable[[str], Resource | None]) -> list[Problem]:
    """What keeps a constraint StructureDefinition's differential from making a profile of its base."""
    differential = definition.get("differential", {}).get("element") if isinstance(definition, dict) else None
    if (
        definition.get("derivation") != "constraint"
        or not isinstance(differential, list)
        or not isinstance(definition.get("baseDefinition"), str)
    ):
        return []
    problems = list(_type_profiles(differential, resolve))
    conflicts: list[str] = []
    unsnapped = {key: value for key, value in definition.items() if key != "snapshot"}
    try:
        generate_snapshot(copy.deepcopy(unsnapped), resolve, conflicts)
    except IssueError as error:
        problems.extend(("StructureDefinition", f"no snapshot can be made: {i.diagnostics}") for i in error.issues)
    problems.extend(("StructureDefinition", conflict) for conflict in conflicts)
    return problems


def _type_profiles(differential: list[Any], resolve: Callable[[str], Resource | None]) -> list[Problem]:
    problems = []
    for index, element in enumerate(differential):
        types = element.get("type") if isinstance(element, dict) else None
        for position, type_ref in enumerate(types if isinstance(types, list) else []):
            code = type_ref.get("code") if isinstance(type_ref, dict) else None
            profiles = type_ref.get("profile") if isinstance(type_ref, dict) else None
            for number, profile in enumerate(profiles if isinstance(profiles, list) else []):
                target = resolve(str(profile))
                kind = target.get("type") if isinstance(target, dict) else None
                if kind is None or kind == code or code in _ANY_RESOURCE:
                    continue
                problems.append(
                    (
                        f"StructureDefinition.differential.element[{index}].type[{position}].profile[{number}]",
                        f"profile {profile} is for type {kind}, but {element.get('path')} has type {code}",
                    )
                )
    return problems
