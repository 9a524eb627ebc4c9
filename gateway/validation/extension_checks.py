"""Extensions in the walk: each walked against its definition, and the rules on where it is used
(`gateway.validation.extensions`: known, context, modifier, sub-extensions of a complex extension)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gateway.validation.extensions import CROSS_VERSION, Holder, context_problem
from gateway.validation.invariants import general_check, select
from gateway.validation.plans import CORE_PREFIX, ElementPlan, TypeRef
from gateway.validation.walk_state import Scope

if TYPE_CHECKING:
    from gateway.validation.validator import Walker

Resource = dict[str, Any]


def extension(walker: Walker, extension: Any, expr: str, scope: Scope, node: ElementPlan | None = None) -> None:
    """Walks an extension against its definition (found by `url`; an unknown one against the base Extension,
    `extension_rules` reports it)."""
    url = extension.get("url") if isinstance(extension, dict) else None
    plan = walker.engine.plan(url, scope.closure) if isinstance(url, str) and ":" in url else None
    if plan is None:
        plan = walker.engine.plan(CORE_PREFIX + "Extension", None)
    if plan is not None:
        walker.item(plan.root, extension, "extension", expr, EXTENSION_TYPE, scope, skip_type_plan=True)


def extension_rules(
    walker: Walker,
    holder_type: str,
    holder: Resource,
    expr: str,
    scope: Scope,
    definition_path: str,
    *,
    holder_expr: str | None = None,
    enclosing_url: Any = None,
) -> None:
    """The rules on the extensions of one element (`holder`, at `expr`; a primitive's `_name` object at
    `holder_expr`): each is known (the Java validator refuses unknown ones), used where its definition's
    context allows, as a modifier exactly when it is one; a complex extension's sub-extensions are its own."""
    holder_url = holder.get("url") if holder_type == "Extension" else None
    parent = (
        walker.engine.extension_definition(holder_url, scope.closure)
        if isinstance(holder_url, str) and ":" in holder_url
        else None
    )
    place: Holder | None = None
    for key in ("extension", "modifierExtension"):
        extensions = holder.get(key)
        if not isinstance(extensions, list):
            continue
        for index, extension in enumerate(extensions):
            url = extension.get("url") if isinstance(extension, dict) else None
            if not isinstance(url, str):
                continue
            at = f"{holder_expr or expr}.{key}[{index}]"
            if ":" not in url:  # a sub-extension of a complex extension: named by its definition's slices
                if parent is not None and url not in parent.sub_extensions:
                    walker.run.add(
                        "error",
                        "structure",
                        "validation.extension-unknown",
                        at,
                        f"sub-extension {url!r} is not defined by the extension {holder_url}",
                    )
                continue
            definition = walker.engine.extension_definition(url, scope.closure)
            if definition is None and (CROSS_VERSION.fullmatch(url) or walker.engine.example_url(url)):
                walker.run.add(
                    "information",
                    "informational",
                    "validation.extension-not-checked",
                    at,
                    f"extension {url} is {'a cross-version' if CROSS_VERSION.fullmatch(url) else 'an example'} "
                    "extension without a definition here; not checked",
                )
                continue
            if definition is None:
                walker.run.add(
                    "error",
                    "structure",
                    "validation.extension-unknown",
                    at,
                    f"extension {url} is not known here, so it is not allowed (as the FHIR validator does)",
                )
                continue
            if definition.modifier != (key == "modifierExtension"):
                walker.run.add(
                    "error",
                    "structure",
                    "validation.extension-modifier",
                    at,
                    f"extension {url} is {'a' if definition.modifier else 'no'} modifier: it belongs in "
                    f"{'modifierExtension' if definition.modifier else 'extension'}",
                )
            if place is None:
                place = holder_of(
                    walker, holder_type, holder, expr, scope, holder_url or enclosing_url, definition_path
                )
            problem = context_problem(
                definition,
                place,
                lambda expression: select(expression, scope.resource, scope.root),
                lambda invariant: general_check(invariant, holder_type)(holder, scope.resource, scope.root),
            )
            if problem is not None:
                walker.run.add("error", "business-rule", "validation.extension-context", at, problem)


def holder_of(
    walker: Walker, holder_type: str, holder: Resource, expr: str, scope: Scope, url: Any, definition_path: str
) -> Holder:
    resource_type = str(scope.resource.get("resourceType", ""))
    rest = _INDEX.sub("", expr[len(scope.expr) :]) if expr.startswith(scope.expr) else ""
    return Holder(
        path=resource_type + rest,
        types=(holder_type, *walker.engine.type_ancestors(holder_type)),
        resource_types=(resource_type, *walker.engine.type_ancestors(resource_type)),
        value=holder,
        url=url if isinstance(url, str) else None,
        definition_path=definition_path,
    )


def holder_type(container: ElementPlan, value: Resource) -> str:
    """The type of an object walked against `container`: the type a plan's root stands for (`HumanName`,
    `Patient`), else the element's own type (`BackboneElement`)."""
    if "." not in container.path:
        return str(value.get("resourceType") or container.path)
    return container.types[0].code if len(container.types) == 1 else "Element"


#: Indexes and type selections in an expression, dropped to get an element's path (`.name[0]`, `.ofType(Age)`).
_INDEX = re.compile(r"\[\d+\]|\.ofType\([^)]*\)")


#: The type an extension is checked as (one object: `ElementPlan.steps` is keyed by the type's `id`).
EXTENSION_TYPE = TypeRef("Extension")
