"""What the walk decides once per element and type, kept on the plans: a complex element's `Layout` (its JSON keys,
children and the key shapes seen) and a child's `Steps` (which checks apply to a value of it, and the shortcuts
when none of them can report anything)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.validation.plans import MISSING, Constraint, ElementPlan, ProfilePlan, TypeRef
from gateway.validation.primitives import INTEGER_TYPES, PRIMITIVES, ValuePattern
from gateway.validation.registry import Closure

if TYPE_CHECKING:
    from gateway.validation.validator import Walker

Resource = dict[str, Any]


_NON_TEXT = frozenset({"boolean", "decimal", *INTEGER_TYPES})


#: (closure, the type's plan, its root constraints not already on the element, a type profile not known here).
TypePlan = tuple[Closure | None, "ProfilePlan | None", tuple[Constraint, ...], str | None]


#: Key sequences of an element's objects → how to walk them (see `Layout.shapes`).
Shapes = dict[tuple[str, ...], "Shape | None"]


#: A key shape's walk: each key with whether its value must be an array, and the children in profile order.
Shape = tuple[tuple[tuple[str, bool], ...], tuple["ShapeChild", ...]]


@dataclass(slots=True)
class Layout:
    """A complex element's JSON keys and children, arranged once for the walk."""

    #: JSON key → (child, the type the key selects, the `.ofType(T)` a choice element's location carries,
    #: `.name` of the child's location, the child's position in the profile).
    keys: dict[str, tuple[ElementPlan, TypeRef | None, str, str, int]]
    #: Each child's position in the profile.
    order: dict[ElementPlan, int]
    #: The children with `min > 0` (reported when absent).
    required: tuple[ElementPlan, ...]
    #: What `Walker.complex` does for an object with exactly these keys, in this order, by `is_resource` (see
    #: `Walker._shape`); None when the keys need the general walk.
    shapes: tuple[Shapes, Shapes]


@dataclass(slots=True)
class ShapeChild:
    """One child of a `Layout` shape, in profile order: a present JSON key, or an absent required child."""

    child: ElementPlan
    #: The JSON key, or None for a required child the shape lacks (reported with a count of 0).
    key: str | None
    type_ref: TypeRef | None
    #: `.name` of the child's location and the `.ofType(T)` a choice element's location carries.
    dotted: str
    suffix: str
    steps: Steps | None
    #: Whether a non-blank string matching `regex` (or any, when None) is all there is to check: a singular
    #: plain primitive that may occur once.
    text: bool
    regex: ValuePattern | None


def layout_of(container: ElementPlan) -> Layout:
    children = list(container.children.values())
    order = {child: index for index, child in enumerate(children)}
    keys = {
        key: (
            child,
            type_ref,
            f".ofType({type_ref.code})" if child.choice and type_ref else "",
            f".{child.name}",
            order[child],
        )
        for key, (child, type_ref) in container.json_keys.items()
    }
    # required: the children with min > 0, or with a slice that has (an absent element lacks its slices too)
    required = tuple(c for c in children if c.min > 0 or any(s.min > 0 for s in c.slices))
    layout = Layout(keys, order, required, ({}, {}))
    container.layout = layout
    return layout


@dataclass(slots=True)
class Steps:
    """What `Walker.item` does for one element and type, decided once (the type as given is kept alive here, so
    its `id` keys `ElementPlan.steps` safely)."""

    given: TypeRef | None
    type_ref: TypeRef | None
    code: str
    #: The primitive type to check the JSON value against, or None for a complex type.
    primitive: str | None
    regex: ValuePattern | None
    #: Whether the primitive is a JSON string, and the regex `check_primitive` applies to it.
    textual: bool
    text_regex: ValuePattern | None
    resource: bool
    profiles: tuple[str, ...]
    #: Whether a fixed value, pattern or checked binding applies.
    values: bool
    binding: bool
    constraints: tuple[Constraint, ...]
    reference: bool
    children: bool
    plain_extension: bool
    #: Whether a string that `text_regex` accepts passes every check: a textual primitive with no length limit,
    #: fixed value, pattern, binding or constraint.
    plain_text: bool
    #: Whether an object is only walked into: a complex type with children here and no fixed value, pattern,
    #: binding, constraint or reference target to check.
    plain_complex: bool
    #: Whether an object is only walked against its type's plan: a complex type with no children here and no
    #: fixed value, pattern, binding, constraint or reference target (a profiled Identifier, a Coding, a Period).
    plain_typed: bool
    #: Whether the only check beyond the primitive's own is a required or extensible binding of a code
    #: (`Narrative.status`, `HumanName.use`): then the value set's codes are the strings with nothing to report.
    plain_code: bool
    #: The string a fixed value allows when that is the only check beyond the primitive's own (`Identifier.system`).
    fixed_text: str | None
    #: (closure, the codes of the bound value set that the type's regex accepts) by `id(closure)`, for `plain_code`.
    codes: dict[int, tuple[Closure | None, frozenset[str]]] = field(default_factory=dict)
    #: (closure, type plan, its root constraints not already on the element) by `id(closure)`.
    type_plans: dict[int, TypePlan] = field(default_factory=dict)


def steps_of(walker: Walker, node: ElementPlan, given: TypeRef | None) -> Steps:
    type_ref = given or (node.types[0] if len(node.types) == 1 else None)
    code = type_ref.code if type_ref else ""
    primitive = None
    regex = None
    if code in PRIMITIVES or code.startswith("http://hl7.org/fhirpath/System."):
        primitive = code if code in PRIMITIVES else "string"
        regex = walker.engine.regex(code)
    binding = node.binding
    steps = Steps(
        given=given,
        type_ref=type_ref,
        code=code,
        primitive=primitive,
        regex=regex,
        textual=primitive is not None and primitive not in _NON_TEXT,
        text_regex=regex if primitive not in ("string", "markdown", "xhtml") else None,
        resource=primitive is None
        and (code == "Resource" or (bool(code) and code[0].isupper() and walker.engine.is_resource_type(code))),
        profiles=type_ref.profiles if type_ref else (),
        values=node.fixed is not MISSING
        or node.pattern is not MISSING
        or node.limits is not None
        or bool(node.language_control)
        or (binding is not None and binding.checked and code != "Reference"),
        binding=binding is not None,
        constraints=node.constraints,
        reference=code == "Reference",
        children=bool(node.children),
        plain_extension=code == "Extension" and not (type_ref and type_ref.profiles),
        plain_text=False,
        plain_complex=False,
        plain_typed=False,
        plain_code=False,
        fixed_text=None,
    )
    steps.plain_text = steps.textual and not steps.values and not steps.binding and not steps.constraints
    steps.plain_complex = (
        primitive is None
        and not steps.resource
        and not steps.values
        and not steps.constraints
        and not steps.reference
        and steps.children
    )
    steps.plain_typed = (
        primitive is None
        and not steps.resource
        and not steps.values
        and not steps.constraints
        and not steps.reference
        and not steps.children
        and type_ref is not None
        and not steps.plain_extension
        and code != "Attachment"  # its size is checked in `item`
    )
    only_primitive = steps.textual and node.limits is None and not steps.constraints
    steps.plain_code = (
        only_primitive
        and node.fixed is MISSING
        and node.pattern is MISSING
        and binding is not None
        and binding.strength in ("required", "extensible")
        and not binding.additional
        and code != "Reference"
    )
    fixed = node.fixed
    if only_primitive and not steps.binding and node.pattern is MISSING and type(fixed) is str and fixed.strip():
        steps.fixed_text = fixed if steps.text_regex is None or steps.text_regex.fullmatch(fixed) else None
    node.steps[id(given)] = steps
    return steps


def codes_of(walker: Walker, node: ElementPlan, steps: Steps, closure: Closure | None) -> frozenset[str]:
    """The codes of `node`'s bound value set (as `closure` expands it) that pass the type's own checks."""
    expansion = walker.engine.terminology(closure).expand(node.binding.value_set) if node.binding else None
    regex = steps.text_regex
    found = frozenset(
        code
        for _, code in (expansion.codes if expansion is not None else ())
        if code.strip() and (regex is None or regex.fullmatch(code))
    )
    steps.codes[id(closure)] = (closure, found)
    return found


def type_plan_of(walker: Walker, node: ElementPlan, type_ref: TypeRef, closure: Closure | None) -> TypePlan:
    type_plan = walker.engine.type_plan(type_ref, closure)
    missing = walker.engine.unknown_type_profile(type_ref, closure)
    if type_plan is None:
        return closure, None, (), missing
    own = {c.key for c in node.constraints}
    extra = tuple(c for c in type_plan.root.constraints if c.key not in own)
    return closure, type_plan, extra, missing
