"""The profile validator: walks a FHIR R4 JSON resource (a plain dict) along compiled check plans.

Checks, each reported as an `Issue` with a FHIRPath `expression` such as `Bundle.entry[2].resource.class`:
unknown elements and array/singular form (FHIR R4 JSON §2.6.2), cardinality, types and choice types, primitive
formats, `fixed[x]`/`pattern[x]`, slicing (open/closed, slice cardinality), required/extensible bindings,
constraints, reference targets and `aggregation: bundled`, contained resources and Bundle entries (each against
its `meta.profile` and the element's type profile), extensions against their definition by URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gateway.validation.bundles import bundle_problems
from gateway.validation.definitions import definition_problems
from gateway.validation.extensions import CROSS_VERSION, Holder, context_problem
from gateway.validation.hooks import HOOKS, EvaluationHooks
from gateway.validation.invariants import Check, general_check, select
from gateway.validation.limits import violation
from gateway.validation.plans import CORE_PREFIX, MISSING, Binding, Constraint, ElementPlan, ProfilePlan, TypeRef
from gateway.validation.primitives import INTEGER_TYPES, PRIMITIVES, RESOURCE_ID, ValuePattern, check_primitive
from gateway.validation.registry import Closure
from gateway.validation.slicing import (
    EXTENSION_SLICING,
    element_at,
    pattern_matches,
    split_path,
    walk,
)
from gateway.validation.terminology import Membership
from gateway.validation.xhtml import language_problem
from mappings.issues import Issue, IssueCode, Severity

Resource = dict[str, Any]
#: An issue as recorded for replay: severity, code, message id, expression suffix, diagnostics, defect key.
_Recorded = tuple[Any, Any, str | None, str, str, tuple[str, str] | None]
#: Stands for a primitive that has extensions but no value.
_ABSENT: Any = object()
#: The type an extension is checked as (one object: `ElementPlan.steps` is keyed by the type's `id`).
EXTENSION_TYPE = TypeRef("Extension")
_SINGLE = "a single value, not an array"
#: The memoised result of a constraint that holds (shared, so the common case is one identity test).
_SATISFIED: tuple[bool, bool, str | None] = (True, False, None)
_CONTAINERS = (dict, list)
#: `Layout.shapes` has not seen this key sequence yet.
_UNKNOWN_SHAPE: Any = object()
#: Marks a walk record as one plan's part of a walk (no plan has this id: it is not an object's).
_PART = -1
_NON_TEXT = frozenset({"boolean", "decimal", *INTEGER_TYPES})
#: (closure, the type's plan, its root constraints not already on the element, a type profile not known here).
TypePlan = tuple[Closure | None, "ProfilePlan | None", tuple[Constraint, ...], str | None]
#: Key sequences of an element's objects → how to walk them (see `Layout.shapes`).
Shapes = dict[tuple[str, ...], "Shape | None"]
#: A key shape's walk: each key with whether its value must be an array, and the children in profile order.
Shape = tuple[tuple[tuple[str, bool], ...], tuple["ShapeChild", ...]]
#: How many distinct key sequences each complex element remembers (more are walked the general way): bounds what
#: hostile input can make the validator keep.
_SHAPES_PER_ELEMENT = 64
#: A reference type's target profiles that say more than "a resource", by its `targetProfile` list (from the
#: profiles, so bounded).
_TARGETS: dict[tuple[str, ...], list[str]] = {}


@dataclass(slots=True)
class Scope:
    """Where an element sits: its resource, the outermost resource, and the closure its profile came from."""

    resource: Resource
    root: Resource
    closure: Closure | None
    #: The FHIRPath hooks for constraints evaluated here, made on first need.
    hooks: EvaluationHooks | None = None
    #: The expression of `resource` (`Bundle.entry[2].resource`): an element's path in its resource is the rest.
    expr: str = ""


@dataclass
class Run:
    """State of one `validate` call: the issues so far and the Bundle's resources by fullUrl."""

    issues: list[Issue] = field(default_factory=list)
    by_url: dict[str, Resource] = field(default_factory=dict)
    in_bundle: bool = False
    conformance: dict[tuple[int, str], bool] = field(default_factory=dict)
    reported_defects: set[tuple[str, str]] = field(default_factory=set)
    #: How many references FHIRPath `resolve()` could not follow (a failed invariant that needed one is undecided).
    unresolved: int = 0
    #: Why `memberOf()` could not answer, each time it could not (an invariant that asked is not checked).
    undecided_terms: list[str] = field(default_factory=list)
    #: Constraint results (satisfied, needed an unresolvable reference) by (constraint, element, root resource).
    memo: dict[tuple[int, Any, int], tuple[bool, bool, str | None]] = field(default_factory=dict)
    #: Whether this run only decides conformance (a reference target, a `conformsTo()`), its issues not reported.
    checking: bool = False
    #: Issues of each (resource, plans, root) walk and of each plan's part of one, relative to the resource's
    #: expression, shared with nested runs: a Bundle entry that is also a reference target is walked once (FHIR
    #: R4 validation is deterministic for a given resource, profiles and Bundle). The flag says whether the
    #: record has every warning.
    walks: dict[tuple[int, tuple[int, ...], int], tuple[bool, tuple[_Recorded, ...]]] = field(default_factory=dict)
    #: Which invariant-defect issue (by id) stands for which (constraint key, profile).
    defect_keys: dict[int, tuple[str, str]] = field(default_factory=dict)

    def add(self, severity: Severity, code: IssueCode, message_id: str, expression: str, diagnostics: str) -> None:
        self.issues.append(Issue(severity, code, diagnostics, expression, message_id))

    def index_bundle(self, bundle: Resource) -> None:
        self.in_bundle = True
        for entry in bundle.get("entry", []) if isinstance(bundle.get("entry"), list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                self.by_url[full_url] = resource
            if isinstance(resource.get("id"), str):
                self.by_url.setdefault(f"{resource.get('resourceType')}/{resource['id']}", resource)

    def resolve(self, reference: str, scope: Scope | None = None) -> Resource | None:
        """A Bundle entry by fullUrl (FHIR R4 §2.36.4.1) or `Type/id`, or a contained resource by `#id`."""
        if reference.startswith("#") and scope is not None:
            for holder in (scope.resource, scope.root):
                for contained in holder.get("contained", []):
                    if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                        return contained
            return None
        found = self.by_url.get(reference)
        if found is None and "/" in reference:
            found = self.by_url.get("/".join(reference.rstrip("/").split("/")[-2:]))
        return found


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


def _layout(container: ElementPlan) -> Layout:
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


class Walker:
    """The recursive walk; `engine` supplies compiled plans, terminology and primitive regexes."""

    def __init__(self, engine: Any, run: Run) -> None:
        self.engine = engine
        self.run = run

    # -- resources ------------------------------------------------------------------------------------------------
    def resource(
        self, resource: Any, expr: str, profiles: list[str], scope: Scope | None, *, contained: bool = False
    ) -> None:
        run = self.run
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            run.add(
                "error", "structure", "validation.not-a-resource", expr, "expected a FHIR resource with a resourceType"
            )
            return
        resource_type = resource["resourceType"]
        closure = scope.closure if scope else None
        meta = resource.get("meta")
        declared = (
            [str(p) for p in meta.get("profile", [])]
            if isinstance(meta, dict) and isinstance(meta.get("profile"), list)
            else []
        )
        urls = list(dict.fromkeys([*profiles, *declared]))
        plans: list[ProfilePlan] = []
        for url in urls:
            plan = self.engine.plan(url, closure)
            if plan is None:
                run.add(
                    "warning",
                    "not-supported",
                    "validation.profile-unknown",
                    expr,
                    f"profile {url} is not known here; checked against the base {resource_type} definition only",
                )
            elif plan.type != resource_type:
                run.add(
                    "error",
                    "structure",
                    "validation.profile-type-mismatch",
                    expr,
                    f"a {resource_type} cannot conform to {url}, a profile on {plan.type}",
                )
            else:
                plans.append(plan)
        if not plans:
            base = self.engine.plan(CORE_PREFIX + resource_type, None)
            if base is None:
                run.add(
                    "error",
                    "structure",
                    "validation.unknown-resource-type",
                    expr,
                    f"unknown resource type {resource_type}",
                )
                return
            plans.append(base)
        if run.checking and len(plans) > 1:
            # Deciding conformance only: a profile constrains the profiles it derives from (FHIR R4 §5.1.0.3), so
            # a resource valid against it is valid against them, and one invalid against it fails either way.
            # A reference target checked against [target profile, its declared profile] walks the declared one.
            derived = frozenset().union(*(plan.ancestors for plan in plans))
            plans = [plan for plan in plans if plan.canonical not in derived] or plans
        root = scope.root if (scope and contained) else resource
        walk_key = (id(resource), tuple(map(id, plans)), id(root))
        record = run.walks.get(walk_key)
        if record is not None and (record[0] or run.checking):
            self._replay(record[1], expr, skip_errors=False)
            return
        start = len(run.issues)
        if resource_type == "Bundle":
            for severity, message_id, where, diagnostics in bundle_problems(
                resource, expr, self.engine.is_resource_type
            ):
                code: IssueCode = "not-found" if message_id == "validation.bundle-reference" else "invalid"
                run.add(severity, code, message_id, where, diagnostics)
        if resource_type == "StructureDefinition" and not run.checking:
            for where, diagnostics in definition_problems(resource, self.engine.registry.resolve):
                run.add(
                    "error",
                    "invalid",
                    "validation.profile-definition",
                    expr + where[len("StructureDefinition") :],
                    diagnostics,
                )
        identifier = resource.get("id")
        if isinstance(identifier, str) and not RESOURCE_ID.fullmatch(identifier):
            # R4 types Resource.id as a FHIRPath String, but it is an `id` (http://hl7.org/fhir/R4/resource.html#id)
            run.add(
                "error",
                "value",
                "validation.resource-id",
                f"{expr}.id",
                f"{identifier!r} is not a valid resource id: 1 to 64 of A-Z, a-z, 0-9, '-' and '.'",
            )
        for plan in plans:
            # A plan walked on this resource before (a reference target checked against [target profile,
            # declared profile] after its Bundle entry was walked against the declared one) is replayed. Its
            # constraints are memoised by now, so a fresh walk would not repeat `invariant-error` warnings.
            plan_key = (id(resource), (id(plan), _PART), id(root))
            part = run.walks.get(plan_key)
            if part is not None and (part[0] or run.checking):
                self._replay(part[1], expr, skip_errors=True)
                continue
            part_start = len(run.issues)
            inner = Scope(resource, root, self.engine.closure_of(plan), expr=expr)
            self.constraints(plan.root, plan.root.constraints, resource, expr, inner)
            self.complex(plan.root, resource, expr, inner, is_resource=True)
            run.walks[plan_key] = (run.checking, self._recorded(part_start, expr))
        run.walks[walk_key] = (run.checking, self._recorded(start, expr))

    def _recorded(self, start: int, expr: str) -> tuple[_Recorded, ...]:
        run = self.run
        if start == len(run.issues):
            return ()
        cut = len(expr)
        return tuple(
            (
                i.severity,
                i.code,
                i.message_id,
                (i.expression or "")[cut:],
                i.diagnostics,
                run.defect_keys.get(id(i)),
            )
            for i in run.issues[start:]
        )

    def _replay(self, record: tuple[_Recorded, ...], expr: str, *, skip_errors: bool) -> None:
        run = self.run
        for severity, code, message_id, suffix, diagnostics, defect in record:
            if defect is not None:
                if defect in run.reported_defects:
                    continue
                run.reported_defects.add(defect)
            elif skip_errors and message_id == "validation.invariant-error":
                continue
            issue = Issue(severity, code, diagnostics, expr + suffix, message_id)
            if defect is not None and skip_errors:
                run.defect_keys[id(issue)] = defect  # as a live walk would (the original replay never did)
            run.issues.append(issue)

    # -- elements -------------------------------------------------------------------------------------------------
    def complex(
        self, container: ElementPlan, value: Resource, expr: str, scope: Scope, *, is_resource: bool = False
    ) -> None:
        if "extension" in value or "modifierExtension" in value:
            self.extension_rules(_holder_type(container, value), value, expr, scope, container.base_path)
        layout: Layout = container.layout or _layout(container)
        shapes = layout.shapes[is_resource]
        names = tuple(value)
        shape = shapes.get(names, _UNKNOWN_SHAPE)
        if shape is _UNKNOWN_SHAPE:
            shape = self._shape(layout, names, is_resource) if len(shapes) < _SHAPES_PER_ELEMENT else None
            if len(shapes) < _SHAPES_PER_ELEMENT:
                shapes[names] = shape
        if shape is None:
            self._complex(container, layout, value, expr, scope, is_resource)
            return
        # An object whose keys are all known, each a different child, in profile order (the common case): the
        # general walk's result without grouping the keys by child first. A value in the wrong JSON form (an
        # array for a single element or the other way round) is the general walk's to report, in key order.
        forms, children = shape
        for key, array in forms:
            if (type(value[key]) is list) is not array:
                self._complex(container, layout, value, expr, scope, is_resource)
                return
        for step in children:
            key = step.key
            if key is None:
                self.absent(step.child, f"{expr}.{step.child.name}")
                continue
            raw = value[key]
            if step.text and type(raw) is str and raw.strip() and (step.regex is None or step.regex.fullmatch(raw)):
                continue  # a well-formed string of a plain primitive, once, where once is allowed
            child = step.child
            stem = expr + step.dotted
            if child.array:
                count = len(raw)
                if not count:
                    self._empty_array(stem)
                if count < child.min or 0 <= child.max < count:
                    self.cardinality(child, count, stem, child.path)
                if child.slices:
                    self.sliced(
                        child,
                        [(item, key, f"{stem}[{index}]{step.suffix}", step.type_ref) for index, item in enumerate(raw)],
                        scope,
                    )
                    continue
                for index, item in enumerate(raw):
                    self._child_item(
                        child, step.steps, step.type_ref, item, key, f"{stem}[{index}]{step.suffix}", scope
                    )
                continue
            if child.min > 1 or child.max == 0:
                self.cardinality(child, 1, stem, child.path)
            item_expr = stem + step.suffix if step.suffix else stem
            if child.slices:
                self.sliced(child, [(raw, key, item_expr, step.type_ref)], scope)
                continue
            self._child_item(child, step.steps, step.type_ref, raw, key, item_expr, scope)

    def _child_item(
        self,
        child: ElementPlan,
        steps: Steps | None,
        type_ref: TypeRef | None,
        item: Any,
        key: str,
        expr: str,
        scope: Scope,
    ) -> None:
        """`item` for one value of a child, after the shortcuts that find there is nothing to report at this level
        (`steps`: the child's `Steps` for `type_ref` when made already)."""
        if steps is not None:
            if (
                steps.plain_text
                and type(item) is str
                and item.strip()
                and (steps.text_regex is None or steps.text_regex.fullmatch(item))
            ):
                return  # a well-formed string of a plain primitive
            if type(item) is str:
                if item == steps.fixed_text:
                    return  # the fixed value itself
                if steps.plain_code:
                    closure = scope.closure
                    codes = steps.codes.get(id(closure))
                    if item in (
                        codes[1] if codes is not None and codes[0] is closure else self._codes(child, steps, closure)
                    ):
                        return  # a code of the bound value set
            elif type(item) is dict and item and (len(item) > 1 or "id" not in item):  # ele-1 holds
                if steps.plain_complex:
                    self.complex(child, item, expr, scope)
                    return
                if steps.plain_typed:
                    closure = scope.closure
                    typed = steps.type_plans.get(id(closure))
                    if (
                        typed is not None
                        and typed[0] is closure
                        and typed[1] is not None
                        and not typed[2]
                        and typed[3] is None
                    ):
                        self.complex(typed[1].root, item, expr, scope)
                        return
        self.item(child, item, key, expr, type_ref, scope)

    def _shape(self, layout: Layout, names: tuple[str, ...], is_resource: bool) -> Shape | None:
        """How to walk an object with these keys, or None when they need the general walk: an unknown key, a
        primitive's `_element`, two keys of one (choice) child, keys out of profile order."""
        present: list[ShapeChild] = []
        last = -1
        for key in names:
            entry = layout.keys.get(key)
            if entry is None:
                if key == "resourceType" and is_resource:
                    continue
                return None
            child, type_ref, suffix, dotted, position = entry
            if position <= last:
                return None
            last = position
            steps = child.steps.get(id(type_ref)) or self._steps(child, type_ref)
            text = (
                steps.plain_text
                and not child.array
                and not child.slices
                and not suffix
                and not (child.min > 1 or child.max == 0)
            )
            present.append(ShapeChild(child, key, type_ref, dotted, suffix, steps, text, steps.text_regex))
        found = {step.child for step in present}
        missing = [
            ShapeChild(child, None, None, "", "", None, False, None) for child in layout.required if child not in found
        ]
        return (
            tuple((step.key, step.child.array) for step in present if step.key is not None),
            tuple(sorted([*present, *missing], key=lambda step: layout.order[step.child])),
        )

    def _complex(
        self, container: ElementPlan, layout: Layout, value: Resource, expr: str, scope: Scope, is_resource: bool
    ) -> None:
        """The general walk of an object's keys: grouped by child, issues in profile order."""
        run = self.run
        keys = layout.keys
        groups: dict[ElementPlan, list[tuple[Any, str, str, TypeRef | None]]] = {}
        # Children are checked in the order the profile lists them, so issues come out in a stable order; JSON
        # usually follows that order already, so sorting is mostly skipped.
        last = -1
        ordered = True
        for key, raw in value.items():
            entry = keys.get(key)
            if entry is None:
                if key == "resourceType" and is_resource:
                    continue
                if key[:1] == "_" and key[1:] in keys:
                    if not self.primitive_element(keys[key[1:]][0], keys[key[1:]][1], key, raw, value, expr, scope):
                        continue
                    if key[1:] not in value:
                        # a primitive with only extensions (data-absent-reason) is present (FHIR R4 JSON §2.6.2.7)
                        child, type_ref, _, _, position = keys[key[1:]]
                        if child not in groups:
                            groups[child] = []
                            ordered = ordered and position > last
                            last = position
                        groups[child].append((_ABSENT, key[1:], f"{expr}.{key[1:]}", type_ref))
                    continue
                run.add(
                    "error",
                    "structure",
                    "validation.unknown-element",
                    f"{expr}.{key}",
                    f"unknown element '{key}' in {container.path} ({container.profile})",
                )
                continue
            child, type_ref, suffix, dotted, position = entry
            stem = expr + dotted
            bucket = groups.get(child)
            if bucket is None:
                bucket = groups[child] = []
                ordered = ordered and position > last
                last = position
            if type(raw) is list:
                if not child.array:
                    run.add("error", "structure", "validation.json-shape", stem, f"{child.path} must be {_SINGLE}")
                    stem += suffix
                    for item in raw:
                        bucket.append((item, key, stem, type_ref))
                    continue
                if not raw:
                    self._empty_array(stem)
                companions = value.get("_" + key)
                for index, item in enumerate(raw):
                    if item is None and _has_companion(companions, index):
                        item = _ABSENT  # a null value whose `_key` item carries its extensions (FHIR R4 JSON §2.6.2.7)
                    bucket.append((item, key, f"{stem}[{index}]{suffix}", type_ref))
            elif child.array:
                run.add("error", "structure", "validation.json-shape", stem, f"{child.path} must be an array")
                bucket.append((raw, key, f"{stem}[0]{suffix}", type_ref))
            else:
                bucket.append((raw, key, stem + suffix if suffix else stem, type_ref))
        present: list[ElementPlan] = list(groups)
        for child in layout.required:
            if child not in groups:
                present.append(child)
                ordered = False
        if not ordered:
            present.sort(key=layout.order.__getitem__)
        for child in present:
            items = groups.get(child)
            if items is None:
                self.absent(child, f"{expr}.{child.name}")
                continue
            count = len(items)
            if count < child.min or 0 <= child.max < count:
                self.cardinality(child, count, f"{expr}.{child.name}", child.path)
            if child.slices:
                self.sliced(child, items, scope)
                continue
            steps_of = child.steps
            for item, key, item_expr, type_ref in items:
                if item is not _ABSENT:
                    self._child_item(child, steps_of.get(id(type_ref)), type_ref, item, key, item_expr, scope)
                elif child.must_have_value or child.value_alternatives:
                    self._absent_value(child, value.get("_" + key), item_expr)

    def _absent_value(self, child: ElementPlan, companion: Any, expr: str) -> None:
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
        self.run.add(
            "error", "required", "validation.value-required", expr, f"{child.path} requires {wanted} ({child.profile})"
        )

    def _attachment_size(self, attachment: Resource, expr: str) -> None:
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
            self.run.add(
                "error",
                "value",
                "validation.attachment-size",
                expr,
                f"Attachment.size is {size}, but its data holds {decoded} bytes",
            )

    def _empty_array(self, expr: str) -> None:
        # FHIR R4 JSON §2.6.2.1: an element without values is left out, never an empty array
        self.run.add("error", "structure", "validation.json-shape", expr, "an array must not be empty: leave it out")

    def absent(self, child: ElementPlan, expr: str) -> None:
        """An element that is not there: its minimum, and each slice's."""
        self.cardinality(child, 0, expr, child.path)
        for slice_node in child.slices:
            if slice_node.min > 0:
                self.cardinality(slice_node, 0, expr, f"{child.path}:{slice_node.slice_name}")

    def cardinality(self, node: ElementPlan, count: int, expr: str, label: str) -> None:
        if count < node.min:
            self.run.add(
                "error",
                "required",
                "validation.cardinality-min",
                expr,
                f"{label}: minimum required = {node.min}, but only found {count} ({node.profile})",
            )
        if node.max >= 0 and count > node.max:
            self.run.add(
                "error",
                "structure",
                "validation.cardinality-max",
                expr,
                f"{label}: max allowed = {node.max}, but found {count} ({node.profile})",
            )

    def primitive_element(
        self,
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
            self.run.add(
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
                self.run.add("error", "structure", "validation.json-shape", stem, f"{key} must be an array")
                return True
            if isinstance(values, list) and len(values) != len(raw):
                self.run.add(
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
                self.run.add(
                    "error",
                    "invariant",
                    "validation.invariant",
                    item_expr,
                    f"ele-1: All FHIR elements must have a @value or children ({child.path}: {key} has no extension "
                    "and there is no value)",
                )
            if not isinstance(item, dict):
                self.run.add(
                    "error",
                    "structure",
                    "validation.json-shape",
                    item_expr,
                    f"{key} must hold JSON objects (id, extension)",
                )
                continue
            for inner in item:
                if inner not in ("id", "extension"):
                    self.run.add(
                        "error",
                        "structure",
                        "validation.unknown-element",
                        f"{item_expr}.{inner}",
                        f"unknown element '{inner}' in {key}: only id and extension are allowed",
                    )
            if "id" in item and not isinstance(item["id"], str):
                self.run.add(
                    "error", "structure", "validation.json-shape", f"{item_expr}.id", f"{key}.id must be a string"
                )
            extensions = item.get("extension")
            if extensions is None:
                continue
            enclosing = value.get("url") if child.base_path.startswith("Extension.") else None
            self.extension_rules(
                codes[0], item, stem, scope, child.base_path, holder_expr=item_expr, enclosing_url=enclosing
            )
            if not isinstance(extensions, list):
                self.run.add(
                    "error",
                    "structure",
                    "validation.json-shape",
                    f"{item_expr}.extension",
                    f"{key}.extension must be an array",
                )
                continue
            for position, extension in enumerate(extensions):
                if not isinstance(extension, dict):
                    self.run.add(
                        "error",
                        "structure",
                        "validation.json-shape",
                        f"{item_expr}.extension[{position}]",
                        f"{key}.extension must hold JSON objects",
                    )
                    continue
                self.extension(extension, f"{item_expr}.extension[{position}]", scope)
        return True

    def extension(self, extension: Any, expr: str, scope: Scope, node: ElementPlan | None = None) -> None:
        """Walks an extension against its definition (found by `url`; an unknown one against the base Extension,
        `extension_rules` reports it)."""
        url = extension.get("url") if isinstance(extension, dict) else None
        plan = self.engine.plan(url, scope.closure) if isinstance(url, str) and ":" in url else None
        if plan is None:
            plan = self.engine.plan(CORE_PREFIX + "Extension", None)
        if plan is not None:
            self.item(plan.root, extension, "extension", expr, EXTENSION_TYPE, scope, skip_type_plan=True)

    def extension_rules(
        self,
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
            self.engine.extension_definition(holder_url, scope.closure)
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
                        self.run.add(
                            "error",
                            "structure",
                            "validation.extension-unknown",
                            at,
                            f"sub-extension {url!r} is not defined by the extension {holder_url}",
                        )
                    continue
                definition = self.engine.extension_definition(url, scope.closure)
                if definition is None and (CROSS_VERSION.fullmatch(url) or self.engine.example_url(url)):
                    self.run.add(
                        "information",
                        "informational",
                        "validation.extension-not-checked",
                        at,
                        f"extension {url} is {'a cross-version' if CROSS_VERSION.fullmatch(url) else 'an example'} "
                        "extension without a definition here; not checked",
                    )
                    continue
                if definition is None:
                    self.run.add(
                        "error",
                        "structure",
                        "validation.extension-unknown",
                        at,
                        f"extension {url} is not known here, so it is not allowed (as the FHIR validator does)",
                    )
                    continue
                if definition.modifier != (key == "modifierExtension"):
                    self.run.add(
                        "error",
                        "structure",
                        "validation.extension-modifier",
                        at,
                        f"extension {url} is {'a' if definition.modifier else 'no'} modifier: it belongs in "
                        f"{'modifierExtension' if definition.modifier else 'extension'}",
                    )
                if place is None:
                    place = self._holder(holder_type, holder, expr, scope, holder_url or enclosing_url, definition_path)
                problem = context_problem(
                    definition,
                    place,
                    lambda expression: select(expression, scope.resource, scope.root),
                    lambda invariant: general_check(invariant, holder_type)(holder, scope.resource, scope.root),
                )
                if problem is not None:
                    self.run.add("error", "business-rule", "validation.extension-context", at, problem)

    def _holder(
        self, holder_type: str, holder: Resource, expr: str, scope: Scope, url: Any, definition_path: str
    ) -> Holder:
        resource_type = str(scope.resource.get("resourceType", ""))
        rest = _INDEX.sub("", expr[len(scope.expr) :]) if expr.startswith(scope.expr) else ""
        return Holder(
            path=resource_type + rest,
            types=(holder_type, *self.engine.type_ancestors(holder_type)),
            resource_types=(resource_type, *self.engine.type_ancestors(resource_type)),
            value=holder,
            url=url if isinstance(url, str) else None,
            definition_path=definition_path,
        )

    def item(
        self,
        node: ElementPlan,
        item: Any,
        key: str,
        expr: str,
        type_ref: TypeRef | None,
        scope: Scope,
        *,
        skip_type_plan: bool = False,
    ) -> None:
        steps: Steps | None = node.steps.get(id(type_ref))
        if steps is None:
            steps = self._steps(node, type_ref)
        run = self.run
        is_dict = type(item) is dict or isinstance(item, dict)
        if steps.primitive is not None:
            # the common valid string: non-blank and matching the type's regex (what `check_primitive` checks)
            problem = (
                None
                if steps.textual
                and type(item) is str
                and item.strip()
                and (not steps.text_regex or steps.text_regex.fullmatch(item))
                else check_primitive(steps.primitive, item, steps.regex)
            )
            if problem:
                run.add("error", "value", "validation.primitive-format", expr, f"{node.path}: {problem}")
                return
        elif not is_dict:
            run.add(
                "error", "structure", "validation.json-shape", expr, f"{node.path} must be a JSON object ({steps.code})"
            )
            return
        elif steps.resource:
            if steps.constraints:  # a profile's invariant on `Bundle.entry.resource`: %resource is the Bundle
                self.constraints(node, steps.constraints, item, expr, scope)
            profiles = list(steps.profiles)
            if len(profiles) > 1:
                # several type profiles: the resource conforms to at least one (ElementDefinition.type.profile)
                fitting = next((p for p in profiles if self.engine.conforms(run, item, p, scope)), None)
                profiles = [fitting] if fitting is not None else profiles
            self.resource(item, expr, profiles, scope, contained=node.name == "contained")
            return
        if steps.values:
            if node.language_control and is_dict and isinstance(item.get("div"), str):
                problem = language_problem(node.language_control, item["div"], scope.resource.get("language"))
                if problem is not None:
                    run.add("error", "business-rule", "validation.narrative-language", expr, f"{node.path}: {problem}")
            if node.limits is not None:
                broken = violation(node.limits, item)
                if broken is not None:
                    code: IssueCode = "too-long" if broken[0] == "validation.max-length" else "value"
                    run.add("error", code, broken[0], expr, f"{node.path}: {broken[1]} ({node.profile})")
            if node.fixed is not MISSING and item != node.fixed:
                run.add(
                    "error",
                    "value",
                    "validation.fixed-value",
                    expr,
                    f"{node.path}: value must be exactly {_show(node.fixed)} ({node.profile})",
                )
            if node.pattern is not MISSING and not pattern_matches(node.pattern, item):
                run.add(
                    "error",
                    "value",
                    "validation.pattern-value",
                    expr,
                    f"{node.path}: value must match pattern {_show(node.pattern)} ({node.profile})",
                )
            if steps.binding:
                self.binding(node, item, steps.code, expr, scope)
        if steps.constraints:
            self.constraints(node, steps.constraints, item, expr, scope)
        if not is_dict:
            return
        if not item or (len(item) == 1 and "id" in item):
            run.add(
                "error",
                "invariant",
                "validation.invariant",
                expr,
                f"ele-1: All FHIR elements must have a @value or children ({node.path})",
            )
            return
        if steps.reference:
            self.reference(node, steps.type_ref, item, expr, scope)
        elif steps.code == "Attachment" and "size" in item and "data" in item:
            self._attachment_size(item, expr)
        if steps.children:
            self.complex(node, item, expr, scope)
            return
        if skip_type_plan or steps.type_ref is None:
            return
        if steps.plain_extension:
            self.extension(item, expr, scope)
            return
        closure = scope.closure
        typed = steps.type_plans.get(id(closure))
        if typed is None or typed[0] is not closure:
            typed = steps.type_plans[id(closure)] = self._type_plan(node, steps.type_ref, closure)
        if typed[3] is not None:
            run.add(
                "warning",
                "not-supported",
                "validation.profile-unknown",
                expr,
                f"{node.path}: type profile {typed[3]} is not known here; checked against the base "
                f"{steps.type_ref.code} definition only ({node.profile})",
            )
        type_plan = typed[1]
        if type_plan is None:
            return
        if typed[2]:
            self.constraints(type_plan.root, typed[2], item, expr, scope)
        self.complex(type_plan.root, item, expr, scope)

    def _steps(self, node: ElementPlan, given: TypeRef | None) -> Steps:
        type_ref = given or (node.types[0] if len(node.types) == 1 else None)
        code = type_ref.code if type_ref else ""
        primitive = None
        regex = None
        if code in PRIMITIVES or code.startswith("http://hl7.org/fhirpath/System."):
            primitive = code if code in PRIMITIVES else "string"
            regex = self.engine.regex(code)
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
            and (code == "Resource" or (bool(code) and code[0].isupper() and self.engine.is_resource_type(code))),
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

    def _codes(self, node: ElementPlan, steps: Steps, closure: Closure | None) -> frozenset[str]:
        """The codes of `node`'s bound value set (as `closure` expands it) that pass the type's own checks."""
        expansion = self.engine.terminology(closure).expand(node.binding.value_set) if node.binding else None
        regex = steps.text_regex
        found = frozenset(
            code
            for _, code in (expansion.codes if expansion is not None else ())
            if code.strip() and (regex is None or regex.fullmatch(code))
        )
        steps.codes[id(closure)] = (closure, found)
        return found

    def _type_plan(self, node: ElementPlan, type_ref: TypeRef, closure: Closure | None) -> TypePlan:
        type_plan = self.engine.type_plan(type_ref, closure)
        missing = self.engine.unknown_type_profile(type_ref, closure)
        if type_plan is None:
            return closure, None, (), missing
        own = {c.key for c in node.constraints}
        extra = tuple(c for c in type_plan.root.constraints if c.key not in own)
        return closure, type_plan, extra, missing

    # -- slicing --------------------------------------------------------------------------------------------------
    def sliced(self, node: ElementPlan, items: list[tuple[Any, str, str, TypeRef | None]], scope: Scope) -> None:
        slicing = node.slicing or EXTENSION_SLICING
        counts = {id(s): 0 for s in node.slices}
        discriminators = slicing.discriminators
        latest = -1  # the position of the last slice matched, for `ordered` slicing
        unmatched = False
        for item, key, item_expr, type_ref in items:
            position, chosen = next(
                (
                    (at, candidate)
                    for at, candidate in enumerate(node.slices)
                    if self.slice_matches(candidate, discriminators, item, key, scope)
                ),
                (-1, None),
            )
            if chosen is not None and slicing.ordered:
                # ElementDefinition.slicing.ordered: the items come in the order the slices are defined, and
                # with `openAtEnd` the items of no slice come after all others (FHIR R4 §5.1.0.10)
                if position < latest or (unmatched and slicing.rules == "openAtEnd"):
                    self.run.add(
                        "error",
                        "structure",
                        "validation.slice-order",
                        item_expr,
                        f"{node.path}: slice {chosen.slice_name} is out of order: the slicing is ordered "
                        f"({node.profile})",
                    )
                latest = max(latest, position)
            if chosen is None:
                unmatched = True
                if slicing.rules == "closed":
                    self.run.add(
                        "error",
                        "structure",
                        "validation.closed-slicing",
                        item_expr,
                        f"{node.path}: element matches none of the slices {[s.slice_name for s in node.slices]} "
                        f"and the slicing is closed ({node.profile})",
                    )
                self.item(node, item, key, item_expr, type_ref, scope)
                continue
            counts[id(chosen)] += 1
            slice_type = chosen.type_for_key(key) or type_ref
            self._child_item(chosen, chosen.steps.get(id(slice_type)), slice_type, item, key, item_expr, scope)
        stem = items[0][2].rsplit("[", 1)[0] if items else node.path
        for slice_node in node.slices:
            count = counts[id(slice_node)]
            if count < slice_node.min or 0 <= slice_node.max < count:  # the label is only made for an issue
                self.cardinality(slice_node, count, stem, f"{node.path}:{slice_node.slice_name}")

    def slice_matches(
        self, slice_node: ElementPlan, discriminators: tuple[Any, ...], item: Any, key: str, scope: Scope
    ) -> bool:
        for discriminator in discriminators:
            kind, path = discriminator.type, discriminator.path
            if kind in ("value", "pattern"):
                expected = self.engine.expected(slice_node, path, scope.closure)
                if expected is MISSING:
                    element = element_at(slice_node, path)
                    if element is None or element.binding is None:
                        return False  # nothing to tell this slice by: an element cannot be shown to belong to it
                    values = walk([item], path, lambda r: self.run.resolve(r, scope))
                    if not any(self.in_value_set(element.binding.value_set, v, scope) for v in values):
                        return False
                    continue
                if type(expected) is str and type(item) is dict and path in item and path.isidentifier():
                    # a string at a direct child (extensions by `url`, identifiers by `system`: the common slicings):
                    # what `walk` and `pattern_matches` would do
                    found = item[path]
                    if not any(expected == v for v in (found if isinstance(found, list) else [found])):
                        return False
                    continue
                values = walk([item], path, lambda r: self.run.resolve(r, scope))
                if not any(pattern_matches(expected, v) for v in values):
                    return False
            elif kind == "exists":
                element = element_at(slice_node, path)
                present = bool(walk([item], path, lambda r: self.run.resolve(r, scope)))
                if element is not None and ((element.min > 0 and not present) or (element.max == 0 and present)):
                    return False
            elif kind == "type":
                if not self._type_matches(slice_node, path, item, key, scope):
                    return False
            elif kind == "profile":
                element = element_at(slice_node, path) if path not in ("$this", "resolve()") else slice_node
                wanted = [p for t in (element.types if element else ()) for p in (t.profiles or t.target_profiles)]
                targets = walk([item], path, lambda r: self.run.resolve(r, scope))
                if wanted and not any(
                    self.engine.conforms(self.run, t, p, scope) for t in targets if isinstance(t, dict) for p in wanted
                ):
                    return False
        return True

    def _type_matches(self, slice_node: ElementPlan, path: str, item: Any, key: str, scope: Scope) -> bool:
        """A `type` discriminator: the type of the value at `path` is one the slice allows there. Through
        `resolve()`, the type of the resource a reference points at is one of the slice's target types; a
        resource's type is its resourceType; a choice element's type is its JSON key's suffix."""
        resolving = path == "resolve()" or path.endswith(".resolve()")
        element_path = path[: -len("resolve()")].rstrip(".") if resolving else path
        element = slice_node if element_path in ("", "$this") else element_at(slice_node, element_path)
        if element is None:
            return True  # the slice says nothing about the type there
        closure = scope.closure
        if resolving:
            targets = [t for t in walk([item], path, lambda r: self.run.resolve(r, scope)) if isinstance(t, dict)]
            allowed = {self.engine.profile_type(p, closure) for t in element.types for p in t.target_profiles}
            allowed.discard(None)
            return bool(targets) and (not allowed or any(t.get("resourceType") in allowed for t in targets))
        values = [item] if path == "$this" else walk([item], path, lambda r: self.run.resolve(r, scope))
        resources = [v for v in values if isinstance(v, dict) and isinstance(v.get("resourceType"), str)]
        if resources:
            return any(
                t.code == r["resourceType"]
                or any(self.engine.profile_type(p, closure) == r["resourceType"] for p in t.profiles)
                for r in resources
                for t in element.types
            )
        if path == "$this":
            actual_key = key
        else:
            last = split_path(path)[-1]
            keys = item if isinstance(item, dict) else ()  # a malformed item has no typed key
            actual_key = next((k for k in keys if k.startswith(last)), "")
        return any(actual_key.endswith(t.code[:1].upper() + t.code[1:]) for t in element.types)

    # -- terminology ----------------------------------------------------------------------------------------------
    def in_value_set(self, value_set: str, value: Any, scope: Scope) -> bool:
        terminology = self.engine.terminology(scope.closure)
        return any(
            terminology.check(value_set, system, code)[0] is Membership.MEMBER for system, code in _codings(value)
        )

    def binding(self, node: ElementPlan, item: Any, code: str, expr: str, scope: Scope) -> None:
        binding = node.binding
        if binding is None or code == "Reference":
            return
        if binding.strength in ("required", "extensible") and binding.value_set:
            self._bound(node, binding, item, code, expr, scope)
        for additional in binding.additional:
            self._bound(node, additional, item, code, expr, scope)

    def _bound(self, node: ElementPlan, binding: Binding, item: Any, code: str, expr: str, scope: Scope) -> None:
        """One required or extensible binding."""
        codings = _codings(item)
        if not codings:
            if code == "CodeableConcept" and isinstance(item, dict) and ("coding" in item or "text" in item):
                # text alone names no code (FHIR R4 §4.1.5: a required binding needs a code from the value set)
                required = binding.strength == "required"
                self.run.add(
                    "error" if required else "warning",
                    "code-invalid",
                    "validation.code-missing",
                    expr,
                    f"{node.path}: no code given, and a code {'is required' if required else 'should be given'} "
                    f"from the {binding.strength} value set {binding.value_set} ({node.profile})",
                )
            return
        check = self.engine.terminology(scope.closure).check
        results = []
        for system, value in codings:
            result = check(binding.value_set, system, value)
            if result[0] is Membership.MEMBER:  # the common case: one member code settles it
                return
            results.append(result)
        shown = ", ".join(f"{system}#{value}" if system else value for system, value in codings)
        unchecked = [why for result, why in results if result is Membership.NOT_CHECKED]
        if unchecked:
            self.run.add(
                "information" if binding.strength == "extensible" else "warning",
                "informational",
                "validation.code-not-checked",
                expr,
                f"{node.path}: {shown} not checked against {binding.value_set}: {unchecked[0]}",
            )
            return
        severity: Severity = "error" if binding.strength == "required" else "warning"
        self.run.add(
            severity,
            "code-invalid",
            "validation.code-not-in-valueset",
            expr,
            f"{node.path}: {shown} is not in the {binding.strength} value set {binding.value_set} ({node.profile})",
        )

    # -- references -----------------------------------------------------------------------------------------------
    def reference(self, node: ElementPlan, type_ref: TypeRef | None, item: Resource, expr: str, scope: Scope) -> None:
        reference = item.get("reference")
        if not isinstance(reference, str) or type_ref is None:
            return
        target = self.run.resolve(reference, scope)
        named = named_type(reference) if target is not None or self.engine.assume_valid_rest_references else None
        if named is not None and not self.engine.is_resource_type(named):
            named = None
        if target is None:
            if "bundled" in type_ref.aggregation and self.run.in_bundle and not reference.startswith("#"):
                self.run.add(
                    "error",
                    "structure",
                    "validation.reference-not-bundled",
                    expr,
                    f"{node.path}: {reference} is not in the Bundle, but aggregation is 'bundled' ({node.profile})",
                )
            if named is None:
                return
        actual = target.get("resourceType") if target is not None else named
        profiles = _TARGETS.get(type_ref.target_profiles)
        if profiles is None:
            profiles = _TARGETS[type_ref.target_profiles] = [
                p for p in type_ref.target_profiles if p.split("|")[0] not in (CORE_PREFIX + "Resource",)
            ]
        if not profiles:
            return
        typed = [p for p in profiles if self.engine.profile_type(p, scope.closure) in (actual, None)]
        if not typed:
            # the type a reference names counts even when the target is not here (FHIR R4 §2.3.0: a literal
            # reference `[base]/Type/id` names its target's type)
            self.run.add(
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
        if not any(p.startswith(CORE_PREFIX) or self.engine.conforms(self.run, target, p, scope) for p in typed):
            self.run.add(
                "error",
                "structure",
                "validation.reference-target-profile",
                expr,
                f"{node.path}: {reference} does not conform to {' or '.join(typed)} ({node.profile})",
            )

    # -- constraints ----------------------------------------------------------------------------------------------
    def constraints(
        self, node: ElementPlan, constraints: tuple[Constraint, ...], value: Any, expr: str, scope: Scope
    ) -> None:
        for constraint in constraints:
            if constraint.native:  # pure and cheap: a holding native check needs no memo (runs for most elements)
                try:
                    if constraint.check(value, scope.resource, scope.root):  # type: ignore[misc]
                        continue
                except Exception:  # noqa: BLE001, S110 - reported by the full evaluation
                    pass
            self.constraint(node, constraint, value, expr, scope)

    def constraint(self, node: ElementPlan, constraint: Constraint, value: Any, expr: str, scope: Scope) -> None:
        run = self.run
        check = constraint.check
        if check is None:
            if (constraint.key, node.profile) not in run.reported_defects:
                run.reported_defects.add((constraint.key, node.profile))
                run.add(
                    "warning",
                    "invariant",
                    "validation.invariant-defect",
                    expr,
                    f"{constraint.key} ({node.profile}) not evaluated: {constraint.defect}",
                )
                run.defect_keys[id(run.issues[-1])] = (constraint.key, node.profile)
            return
        # The same element is often checked twice (as a Bundle entry and as a reference target): memoise.
        memo_key = (id(constraint), id(value) if isinstance(value, _CONTAINERS) else value, id(scope.root))
        memo = run.memo.get(memo_key)
        if memo is None:
            memo = self._evaluate(node, constraint, check, value, expr, scope)
            run.memo[memo_key] = memo
        if memo is _SATISFIED:
            return
        satisfied, unresolved, undecided = memo
        label = f"{constraint.key} ({node.profile})"
        if undecided is not None and satisfied:
            run.add(
                "warning",
                "invariant",
                "validation.invariant-not-checked",
                expr,
                f"{label} not checked: {undecided} [{constraint.expression.strip()}]",
            )
        elif not satisfied and unresolved:
            run.add(
                "warning",
                "invariant",
                "validation.invariant-unresolved",
                expr,
                f"{label} not decided: it follows a reference that is not in this Bundle "
                f"[{constraint.expression.strip()}]",
            )
        elif not satisfied:
            severity: Severity = "error" if constraint.severity == "error" else "warning"
            found = constraint.explain(value) if constraint.explain is not None else None
            run.add(
                severity,
                "invariant",
                "validation.invariant",
                expr,
                f"{label}: {constraint.human} [{constraint.expression.strip()}]" + (f": {found}" if found else ""),
            )

    def _evaluate(
        self, node: ElementPlan, constraint: Constraint, check: Check, value: Any, expr: str, scope: Scope
    ) -> tuple[bool, bool, str | None]:
        """(satisfied, needed a reference this run cannot resolve, why a `memberOf()` it asked could not answer)
        for one evaluation. An invariant that holds only because `memberOf()` had no answer is not checked."""
        run = self.run
        unresolved_before = run.unresolved
        undecided_before = len(run.undecided_terms)
        token = None
        if constraint.needs_hooks:
            if scope.hooks is None:
                scope.hooks = self.engine.hooks(run, scope)
            token = HOOKS.set(scope.hooks)
        try:
            satisfied = check(value, scope.resource, scope.root)
        except Exception as error:  # noqa: BLE001 - fhirpathpy raises bare Exceptions for what it cannot evaluate
            run.add(
                "warning",
                "invariant",
                "validation.invariant-error",
                expr,
                f"{constraint.key} ({node.profile}) could not be evaluated: {error}",
            )
            return _SATISFIED
        finally:
            if token is not None:
                HOOKS.reset(token)
        undecided = run.undecided_terms[undecided_before] if len(run.undecided_terms) > undecided_before else None
        if satisfied and run.unresolved == unresolved_before and undecided is None:
            return _SATISFIED
        return (bool(satisfied), run.unresolved != unresolved_before, undecided)


def _has_companion(companions: Any, index: int) -> bool:
    """Whether a primitive array's `_name` array has an object at `index` (its id and extensions)."""
    return isinstance(companions, list) and index < len(companions) and isinstance(companions[index], dict)


def _codings(value: Any) -> list[tuple[str | None, str]]:
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


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 160 else text[:157] + "..."


#: A literal reference (FHIR R4 §2.3.0, `Reference.reference`): `[base/]Type/id[/_history/version]`.
_LITERAL = re.compile(r"(?:.*/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?")


def named_type(reference: str) -> str | None:
    """The resource type a literal reference names (`Patient/1`, `https://x/fhir/Patient/1/_history/2`), or None
    for a contained (`#id`), `urn:` or other reference that names none."""
    if reference.startswith(("#", "urn:")):
        return None
    found = _LITERAL.fullmatch(reference)
    return found.group(1) if found else None


#: Indexes and type selections in an expression, dropped to get an element's path (`.name[0]`, `.ofType(Age)`).
_INDEX = re.compile(r"\[\d+\]|\.ofType\([^)]*\)")


def _holder_type(container: ElementPlan, value: Resource) -> str:
    """The type of an object walked against `container`: the type a plan's root stands for (`HumanName`,
    `Patient`), else the element's own type (`BackboneElement`)."""
    if "." not in container.path:
        return str(value.get("resourceType") or container.path)
    return container.types[0].code if len(container.types) == 1 else "Element"
