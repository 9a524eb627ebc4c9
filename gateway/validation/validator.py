"""The profile validator: walks a FHIR R4 JSON resource (a plain dict) along compiled check plans.

Checks, each reported as an `Issue` with a FHIRPath `expression` such as `Bundle.entry[2].resource.class`:
unknown elements and array/singular form (FHIR R4 JSON §2.6.2), cardinality, types and choice types, primitive
formats, `fixed[x]`/`pattern[x]`, slicing (open/closed, slice cardinality), required/extensible bindings,
constraints, reference targets and `aggregation: bundled`, contained resources and Bundle entries (each against
its `meta.profile` and the element's type profile), extensions against their definition by URL.

This module is the walk itself (resources, objects, items); each kind of check is a module of its own whose
functions the `Walker` binds as methods: `element_checks` (cardinality, `_name` forms), `slice_checks`,
`binding_checks`, `reference_checks`, `extension_checks`, `constraint_checks`; `walk_steps` holds what is
decided once per element (`Layout`, `Steps`) and `walk_state` the state of one validation (`Run`, `Scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.validation import (
    binding_checks,
    constraint_checks,
    element_checks,
    extension_checks,
    reference_checks,
    slice_checks,
    walk_steps,
)
from gateway.validation.bundles import bundle_problems
from gateway.validation.definitions import definition_problems
from gateway.validation.extension_checks import holder_type
from gateway.validation.limits import violation
from gateway.validation.plans import CORE_PREFIX, MISSING, ElementPlan, ProfilePlan, TypeRef
from gateway.validation.primitives import RESOURCE_ID, check_primitive
from gateway.validation.slicing import (
    pattern_matches,
)
from gateway.validation.walk_state import Recorded, Run, Scope
from gateway.validation.walk_steps import Layout, Shape, ShapeChild, Steps, layout_of
from gateway.validation.xhtml import language_problem
from mappings.issues import Issue, IssueCode

if TYPE_CHECKING:
    from gateway.validation.engine import Validator

Resource = dict[str, Any]
#: Stands for a primitive that has extensions but no value.
_ABSENT: Any = object()
_SINGLE = "a single value, not an array"
#: Marks a walk record as one plan's part of a walk (no plan has this id: it is not an object's).
_PART = -1
#: How many distinct key sequences each complex element remembers (more are walked the general way): bounds what
#: hostile input can make the validator keep.
_SHAPES_PER_ELEMENT = 64


class Walker:
    """The recursive walk; `engine` supplies compiled plans, terminology and primitive regexes."""

    def __init__(self, engine: Validator, run: Run) -> None:
        self.engine = engine
        self.run = run
        #: Every object by the general walk and every value through `item`: the reference the shortcuts are
        #: tested against (`Validator(general_walk=True)`, tests/gateway/validation/test_walk_equivalence.py).
        self.general: bool = engine.general_walk

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
        if not run.checking:
            self._narratives(resource, expr)
        closure = scope.closure if scope else None
        meta = resource.get("meta")
        declared = (
            [str(p) for p in meta.get("profile", [])]
            if isinstance(meta, dict) and isinstance(meta.get("profile"), list)
            else []
        )
        urls: list[str] = []
        for url in [*profiles, *declared]:  # each once, in order (a list: there are one or two)
            if url not in urls:
                urls.append(url)
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
        walk_key = (id(resource), tuple([id(plan) for plan in plans]), id(root))
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
            constraint_checks.constraints(self, plan.root, plan.root.constraints, resource, expr, inner)
            self.complex(plan.root, resource, expr, inner, is_resource=True)
            run.walks[plan_key] = (run.checking, self._recorded(part_start, expr))
        run.walks[walk_key] = (run.checking, self._recorded(start, expr))

    def _recorded(self, start: int, expr: str) -> tuple[Recorded, ...]:
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

    def _replay(self, record: tuple[Recorded, ...], expr: str, *, skip_errors: bool) -> None:
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

    def _narratives(self, resource: Resource, expr: str) -> None:
        """Notes the narratives of `resource` and of what it contains, and the ids links may point at: every
        resource of a walk passes here, so `xhtml.unresolved_links` runs only when a narrative links within."""
        run = self.run
        if isinstance(resource.get("id"), str):
            run.resource_ids.add(resource["id"])
        div = _narrative(resource)
        if div is not None:
            run.narratives[f"{expr}.text.div"] = div
            run.local_links = run.local_links or ("href" in div and "#" in div)
        contained = resource.get("contained")
        for index, inner in enumerate(contained if isinstance(contained, list) else ()):
            if isinstance(inner, dict) and isinstance(inner.get("id"), str):
                run.resource_ids.add(inner["id"])
            div = _narrative(inner)
            if div is not None:
                run.narratives[f"{expr}.contained[{index}].text.div"] = div
                run.local_links = run.local_links or ("href" in div and "#" in div)

    # -- elements -------------------------------------------------------------------------------------------------
    def complex(
        self, container: ElementPlan, value: Resource, expr: str, scope: Scope, *, is_resource: bool = False
    ) -> None:
        if "extension" in value or "modifierExtension" in value:
            extension_checks.extension_rules(
                self, holder_type(container, value), value, expr, scope, container.base_path
            )
        layout: Layout = container.layout or layout_of(container)
        if self.general:
            self._complex(container, layout, value, expr, scope, is_resource)
            return
        shapes = layout.shapes[is_resource]
        names = tuple(value)
        # typed, so that mypyc reads a shape's fields directly (no sentinel object: mypyc keeps a tuple unboxed,
        # and an unboxed tuple has no identity to tell a sentinel by)
        shape: Shape | None = shapes.get(names)
        if shape is None and names not in shapes:
            shape = self._shape(layout, names, is_resource) if len(shapes) < _SHAPES_PER_ELEMENT else None
            if len(shapes) < _SHAPES_PER_ELEMENT:
                shapes[names] = shape
        if shape is None:
            self._complex(container, layout, value, expr, scope, is_resource)
            return
        # An object whose keys are all known, each a different child, in profile order (the common case): the
        # general walk's result without grouping the keys by child first. A value in the wrong JSON form (an
        # array for a single element or the other way round) is the general walk's to report, in key order.
        forms: tuple[tuple[str, bool], ...] = shape[0]
        children: tuple[ShapeChild, ...] = shape[1]
        empty = False
        for form_key, array in forms:
            raw = value[form_key]
            if (type(raw) is list) is not array:
                self._complex(container, layout, value, expr, scope, is_resource)
                return
            empty = empty or (array and not raw)
        if empty:
            # before any child's issues, as the general walk reports them while it sorts the keys
            for step in children:
                if step.key is not None and step.child.array and not value[step.key]:
                    element_checks.empty_array(self, expr + step.dotted)
        for step in children:
            key = step.key
            if key is None:
                element_checks.absent(self, step.child, f"{expr}.{step.child.name}")
                continue
            raw = value[key]
            if step.text and type(raw) is str and raw.strip() and (step.regex is None or step.regex.fullmatch(raw)):
                continue  # a well-formed string of a plain primitive, once, where once is allowed
            child = step.child
            stem = expr + step.dotted
            if child.array:
                count = len(raw)
                if count < child.min or 0 <= child.max < count:
                    element_checks.cardinality(self, child, count, stem, child.path)
                if child.slices:
                    slice_checks.sliced(
                        self,
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
                element_checks.cardinality(self, child, 1, stem, child.path)
            item_expr = stem + step.suffix if step.suffix else stem
            if child.slices:
                slice_checks.sliced(self, child, [(raw, key, item_expr, step.type_ref)], scope)
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
        if steps is not None and not self.general:
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
                        codes[1]
                        if codes is not None and codes[0] is closure
                        else walk_steps.codes_of(self, child, steps, closure)
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
            steps = child.steps.get(id(type_ref)) or walk_steps.steps_of(self, child, type_ref)
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
                    if not element_checks.primitive_element(
                        self, keys[key[1:]][0], keys[key[1:]][1], key, raw, value, expr, scope
                    ):
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
                    element_checks.empty_array(self, stem)
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
                element_checks.absent(self, child, f"{expr}.{child.name}")
                continue
            count = len(items)
            if count < child.min or 0 <= child.max < count:
                element_checks.cardinality(self, child, count, f"{expr}.{child.name}", child.path)
            if child.slices:
                slice_checks.sliced(self, child, items, scope)
                continue
            steps_of = child.steps
            for item, key, item_expr, type_ref in items:
                if item is not _ABSENT:
                    self._child_item(child, steps_of.get(id(type_ref)), type_ref, item, key, item_expr, scope)
                elif child.must_have_value or child.value_alternatives:
                    element_checks.absent_value(self, child, value.get("_" + key), item_expr)

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
            steps = walk_steps.steps_of(self, node, type_ref)
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
                constraint_checks.constraints(self, node, steps.constraints, item, expr, scope)
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
                binding_checks.binding(self, node, item, steps.code, expr, scope)
        if steps.constraints:
            constraint_checks.constraints(self, node, steps.constraints, item, expr, scope)
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
            reference_checks.reference(self, node, steps.type_ref, item, expr, scope)
        elif steps.code == "Attachment" and "size" in item and "data" in item:
            element_checks.attachment_size(self, item, expr)
        if steps.children:
            self.complex(node, item, expr, scope)
            return
        if skip_type_plan or steps.type_ref is None:
            return
        if steps.plain_extension:
            extension_checks.extension(self, item, expr, scope)
            return
        closure = scope.closure
        typed = steps.type_plans.get(id(closure))
        if typed is None or typed[0] is not closure:
            typed = steps.type_plans[id(closure)] = walk_steps.type_plan_of(self, node, steps.type_ref, closure)
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
            constraint_checks.constraints(self, type_plan.root, typed[2], item, expr, scope)
        self.complex(type_plan.root, item, expr, scope)


def _has_companion(companions: Any, index: int) -> bool:
    """Whether a primitive array's `_name` array has an object at `index` (its id and extensions)."""
    return isinstance(companions, list) and index < len(companions) and isinstance(companions[index], dict)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 160 else text[:157] + "..."


def _narrative(resource: Any) -> str | None:
    text = resource.get("text") if isinstance(resource, dict) else None
    div = text.get("div") if type(text) is dict else None
    return div if isinstance(div, str) else None
