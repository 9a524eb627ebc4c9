"""Compile a StructureDefinition snapshot into a check plan: a tree of `ElementPlan`s, built once per profile.

The tree mirrors the JSON: each node lists its children by JSON property name (choice elements `value[x]` under
every `value<Type>` key), its cardinality, types, fixed/pattern value, binding, compiled constraints and slices.
Element ids (FHIR R4 §2.13.0.9) give the tree shape: `A.b:s.c` is child `c` of slice `s` of element `A.b`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.validation.fhirpath import model_path
from gateway.validation.invariants import (
    EXPLAIN,
    NATIVE_CHECKS,
    BrokenConstraint,
    Check,
    always_satisfied,
    compile_constraint,
    corrected,
    needs_hooks,
)
from gateway.validation.invariants import STRUCTURAL as STRUCTURAL_KEYS
from gateway.validation.limits import Limits, limits_of
from gateway.validation.snapshots import element_id

Resource = dict[str, Any]
MISSING: Any = object()
CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()
    aggregation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str
    value_set: str
    #: R5's additional bindings (`ElementDefinition.binding.additional`, in R4 profiles as a cross-version
    #: extension) whose purpose is `required` or `extensible`, as bindings of that strength.
    additional: tuple[Binding, ...] = ()

    @property
    def checked(self) -> bool:
        """Whether a value is checked against this binding or one of its additional ones."""
        return self.strength in ("required", "extensible") or bool(self.additional)


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str
    human: str
    expression: str
    check: Check | None
    #: Why the constraint is not evaluated (a known defect), when `check` is None.
    defect: str = ""
    #: Whether evaluation calls back into the running validation (`resolve()`, `conformsTo()`, `memberOf()`).
    needs_hooks: bool = False
    #: Whether `check` is native Python (pure and cheap: see `invariants.NATIVE_CHECKS`).
    native: bool = False
    #: The FHIRPath model path of the focus (`fhirpath.model_path`), or None when the focus says its own type.
    path: str | None = None
    #: What a failing native check found (a narrative's forbidden element), for the diagnostics.
    explain: Callable[[Any], str | None] | None = None


@dataclass(frozen=True, slots=True)
class Discriminator:
    type: str
    path: str


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str
    ordered: bool


@dataclass(eq=False, slots=True)
class ElementPlan:
    id: str
    path: str
    name: str
    min: int
    max: int  # -1 means unbounded
    types: tuple[TypeRef, ...]
    choice: bool
    profile: str
    fixed: Any = MISSING
    pattern: Any = MISSING
    binding: Binding | None = None
    constraints: tuple[Constraint, ...] = ()
    children: dict[str, ElementPlan] = field(default_factory=dict)
    json_keys: dict[str, tuple[ElementPlan, TypeRef | None]] = field(default_factory=dict)
    slicing: Slicing | None = None
    slices: list[ElementPlan] = field(default_factory=list)
    slice_name: str | None = None
    content_reference: str | None = None
    #: minValue/maxValue, maxLength and the minLength extension, when the element sets any.
    limits: Limits | None = None
    #: R5's `ElementDefinition.mustHaveValue` and `valueAlternatives` (in R4 profiles as cross-version
    #: extensions): a primitive must have a value, or else one of these extensions.
    must_have_value: bool = False
    value_alternatives: tuple[str, ...] = ()
    #: The `narrative-language-control` extension on a Narrative element: `_no` (no language sections),
    #: `_yes` (some), `_resource` (one for the resource's language), or the languages that need a section.
    language_control: tuple[str, ...] = ()
    #: The path of the element in the definition it comes from (`Address.line` for a profile's
    #: `Patient.address.line`): what an extension context names.
    base_path: str = ""
    #: Whether the element is an XML attribute (`ElementDefinition.representation` xmlAttr: `Element.id`,
    #: `Extension.url`) or XHTML: it has no `_name` form in JSON.
    no_extensions: bool = False
    #: Whether the JSON form is an array: decided by the *base* cardinality (FHIR R4 JSON §2.6.2.1).
    array: bool = False
    #: The walker's per-element precomputation (`validator.Layout`, `validator.Steps` by type), made on first use:
    #: it needs the validator (regexes, type plans), which compiling a plan does not have.
    layout: Any = None
    steps: dict[int, Any] = field(default_factory=dict)

    def type_for_key(self, key: str) -> TypeRef | None:
        """The type a JSON key selects (`valueCoding` → Coding) for this element."""
        if not self.choice:
            return self.types[0] if self.types else None
        suffix = key[len(self.name) :]
        for type_ref in self.types:
            if _capitalised(type_ref.code) == suffix:
                return type_ref
        return None


@dataclass(eq=False, slots=True)
class ProfilePlan:
    url: str
    type: str
    package: str
    root: ElementPlan
    by_id: dict[str, ElementPlan]
    #: The kind of the type: "resource", "complex-type", "primitive-type", "logical".
    kind: str
    #: `url|version` of this profile.
    canonical: str = ""
    #: `url|version` of every profile this one derives from (its `baseDefinition` chain, as its own package
    #: resolves it): an instance valid against this profile is valid against each of them.
    ancestors: frozenset[str] = frozenset()


#: R5 ElementDefinition elements as R4 profiles carry them (http://hl7.org/fhir/versions.html#extensions).
_R5_ELEMENT_DEFINITION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition."


def _extensions(element: Resource, name: str) -> list[Resource]:
    return [
        e for e in element.get("extension", []) if isinstance(e, dict) and e.get("url") == _R5_ELEMENT_DEFINITION + name
    ]


#: http://hl7.org/fhir/extensions/StructureDefinition-narrative-language-control.html
LANGUAGE_CONTROL = "http://hl7.org/fhir/StructureDefinition/narrative-language-control"
_ADDITIONAL_BINDING = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional"


def _binding(binding: Any) -> Binding | None:
    if not isinstance(binding, dict):
        return None
    additional = []
    for extension in binding.get("extension", []):
        if not isinstance(extension, dict) or extension.get("url") != _ADDITIONAL_BINDING:
            continue
        parts = {e.get("url"): e for e in extension.get("extension", []) if isinstance(e, dict)}
        purpose = parts.get("purpose", {}).get("valueCode")
        value_set = parts.get("valueSet", {}).get("valueCanonical")
        if purpose in ("required", "extensible") and isinstance(value_set, str):
            additional.append(Binding(str(purpose), value_set))
    if not binding.get("valueSet") and not additional:
        return None
    return Binding(str(binding.get("strength")), str(binding.get("valueSet", "")), tuple(additional))


def _capitalised(code: str) -> str:
    return code[:1].upper() + code[1:]


def _type_refs(element: Resource) -> tuple[TypeRef, ...]:
    refs = []
    for type_ref in element.get("type", []):
        code = str(type_ref.get("code", ""))
        for extension in type_ref.get("extension", []):
            if extension.get("url") == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type":
                code = str(extension.get("valueUrl") or extension.get("valueUri") or code)
        refs.append(
            TypeRef(
                code=code,
                profiles=tuple(type_ref.get("profile", [])),
                target_profiles=tuple(type_ref.get("targetProfile", [])),
                aggregation=tuple(type_ref.get("aggregation", [])),
            )
        )
    return tuple(refs)


def _value_of(element: Resource, prefix: str) -> Any:
    for key, value in element.items():
        if key.startswith(prefix):
            return value
    return MISSING


def _focus_path(element: Resource) -> str | None:
    """The model path of the element's value for FHIRPath (`Parameters.parameter`, `CodeableConcept`), from the
    element's base path: a profile's `Patient.identifier.system` is the core `Identifier.system`."""
    path = str(element.get("path", ""))
    if "." not in path:
        return path or None  # the root of a type: `Quantity`, or a resource (which carries its resourceType)
    base = element.get("base")
    base_path = str(base.get("path")) if isinstance(base, dict) and base.get("path") else path
    return model_path(base_path, tuple(str(t.get("code")) for t in element.get("type", [])))


def _constraints(element: Resource, cache: dict[tuple[str, str, str | None], Constraint]) -> tuple[Constraint, ...]:
    out = []
    focus = _focus_path(element)
    for item in element.get("constraint", []):
        key, expression = str(item.get("key")), item.get("expression")
        if key in STRUCTURAL_KEYS or not isinstance(expression, str):
            continue
        expression = corrected(expression)
        cached = cache.get((key, expression, focus))
        if cached is None:
            human, severity = str(item.get("human", "")), str(item.get("severity", "error"))
            try:
                check = compile_constraint(key, expression, focus)
                cached = Constraint(
                    key,
                    severity,
                    human,
                    expression,
                    check,
                    needs_hooks=needs_hooks(expression),
                    native=check in NATIVE_CHECKS,
                    path=focus,
                    explain=EXPLAIN.get(key) if check in NATIVE_CHECKS else None,
                )
            except BrokenConstraint as defect:
                cached = Constraint(key, severity, human, expression, None, str(defect), path=focus)
            except Exception as error:  # noqa: BLE001 - fhirpathpy's parser raises bare Exceptions
                cached = Constraint(
                    key, severity, human, expression, None, f"expression does not parse: {error}", path=focus
                )
            cache[(key, expression, focus)] = cached
        if cached.check is not always_satisfied:  # txt-1/txt-2 (htmlChecks): nothing to evaluate per element
            out.append(cached)
    return tuple(out)


def compile_plan(
    structure_definition: Resource, package: str, constraint_cache: dict[tuple[str, str, str | None], Constraint]
) -> ProfilePlan:
    """The check plan of a StructureDefinition that has a snapshot."""
    url = str(structure_definition["url"])
    elements = structure_definition["snapshot"]["element"]
    by_id: dict[str, ElementPlan] = {}
    root: ElementPlan | None = None
    for element in elements:
        identifier = element_id(element)
        path = str(element["path"])
        last = path.rsplit(".", 1)[-1]
        choice = last.endswith("[x]")
        max_text = str(element.get("max", "*"))
        binding = element.get("binding")
        slicing = element.get("slicing")
        node = ElementPlan(
            id=identifier,
            path=path,
            name=last[:-3] if choice else last,
            min=int(element.get("min", 0)),
            max=-1 if max_text == "*" else int(max_text),
            types=_type_refs(element),
            choice=choice,
            profile=url,
            fixed=_value_of(element, "fixed"),
            pattern=_value_of(element, "pattern"),
            binding=_binding(binding),
            constraints=_constraints(element, constraint_cache),
            slicing=Slicing(
                tuple(Discriminator(str(d.get("type")), str(d.get("path"))) for d in slicing.get("discriminator", [])),
                str(slicing.get("rules", "open")),
                bool(slicing.get("ordered", False)),
            )
            if isinstance(slicing, dict)
            else None,
            slice_name=element.get("sliceName"),
            content_reference=element.get("contentReference"),
            limits=limits_of(element),
            base_path=str(element.get("base", {}).get("path") or path),
            must_have_value=bool(element.get("mustHaveValue"))
            or any(e.get("valueBoolean") is True for e in _extensions(element, "mustHaveValue")),
            value_alternatives=tuple(str(e.get("valueCanonical")) for e in _extensions(element, "valueAlternatives")),
            language_control=tuple(
                str(e.get("valueCode"))
                for e in element.get("extension", [])
                if isinstance(e, dict) and e.get("url") == LANGUAGE_CONTROL and isinstance(e.get("valueCode"), str)
            ),
            no_extensions=bool({"xmlAttr", "xhtml"} & set(element.get("representation", []))),
            array=str(element.get("base", {}).get("max", max_text)) != "1",
        )
        by_id[identifier] = node
        if root is None:
            root = node
            continue
        head, _, tail = identifier.rpartition(".")
        if ":" in tail:
            base_id = f"{head}.{tail.split(':')[0]}"
            sliced = by_id.get(base_id.split("/")[0])
            if sliced is not None:
                sliced.slices.append(node)
            continue
        parent = by_id.get(head)
        if parent is not None:
            parent.children[node.name] = node
    assert root is not None
    for node in by_id.values():
        _follow_content_reference(node, by_id)
    for node in by_id.values():
        _index_keys(node)
    return ProfilePlan(
        url=url,
        type=str(structure_definition.get("type")),
        package=package,
        root=root,
        by_id=by_id,
        kind=str(structure_definition.get("kind", "resource")),
        canonical=f"{url}|{structure_definition.get('version')}",
    )


def _follow_content_reference(node: ElementPlan, by_id: dict[str, ElementPlan]) -> None:
    """An element defined as another one (`contentReference: "#Bundle.link"` on `Bundle.entry.link`,
    `"#Questionnaire.item"` on `Questionnaire.item.item`) gets that element's children, types and constraints
    (FHIR R4 §2.29.0.1, ElementDefinition.contentReference); the tree may then be cyclic, which the walk, driven
    by the data, does not mind."""
    reference = node.content_reference
    if not reference or node.children or "#" not in reference:
        return
    target = by_id.get(reference.split("#", 1)[1])
    if target is None or target is node:
        return
    node.children = target.children
    node.types = node.types or target.types
    own = {constraint.key for constraint in node.constraints}
    node.constraints = node.constraints + tuple(c for c in target.constraints if c.key not in own)


def _index_keys(node: ElementPlan) -> None:
    for child in node.children.values():
        if child.choice:
            for type_ref in child.types:
                node.json_keys[child.name + _capitalised(type_ref.code)] = (child, type_ref)
        else:
            node.json_keys[child.name] = (child, child.types[0] if len(child.types) == 1 else None)


def find_child(node: ElementPlan, segment: str) -> ElementPlan | None:
    """The child named `segment` (a FHIRPath name, choice elements by their stem)."""
    return node.children.get(segment)


ResolvePlan = Callable[[str], "ProfilePlan | None"]
