"""Constraint (invariant) evaluation: FHIRPath via fhirpathpy, compiled once, plus native fast paths.

* The element-level invariants every R4 element carries (`ele-1`, `ext-1`, `dom-2`..`dom-6`) are implemented in
  Python: they are checked on every element of every resource, and fhirpathpy costs ~100 µs per evaluation.
* The R4 core Bundle invariants (`bdl-1`..`bdl-12`) run once per Bundle, and every MedCom message is one: they
  are Python too (`gateway.validation.bundle_invariants`, keyed by their exact published expression).
* `matches('<regex>')` constraints on a primitive (DK-core identifier formats) run as a plain `re.search`, which is
  what fhirpathpy's `matches` does.
* Everything else is compiled once with fhirpathpy's R4 model and extra functions fhirpathpy 2.2 lacks
  (`hasValue`, `resolve` within the Bundle, `conformsTo`, `memberOf`, `htmlChecks`).
* A known-broken MedCom invariant (HospitalNotification 3.0.2 `-1`/`-3` use retired `http://medcomfhir.dk/fhir/`
  canonicals and a `resource` element MessageHeader/Provenance do not have; MedCom's own QA suppresses them, see
  NOTES.md §11) is not evaluated; the validator reports a warning naming the defect instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from gateway.validation.bundle_invariants import bundle_invariant
from gateway.validation.fhirpath import Node, Unsupported, compile_fhirpath, is_some, typed_values, violated
from gateway.validation.hooks import HOOKS
from gateway.validation.xhtml import explain_txt_1, txt_1, txt_2
from mappings.json_shape import items

Resource = dict[str, Any]
#: Evaluates a constraint on (element value, %resource, %rootResource): True = satisfied, None = not evaluated.
Check = Callable[[Any, Resource, Resource], bool]


#: Retired MedCom canonicals: an invariant mentioning one cannot evaluate (MedCom HospitalNotification 3.0.2).
BROKEN_CANONICAL = "http://medcomfhir.dk/fhir/"


class BrokenConstraint(Exception):
    """Raised at compile time for an invariant that is known not to evaluate; its message names the defect."""


def _references(data: Any) -> list[str]:
    out: list[str] = []
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("reference"), str):
            out.append(item["reference"])
    return out


def _fn_resolve(inputs: list[Any]) -> list[Any]:
    hooks = HOOKS.get()
    if hooks is None:
        return []
    found = (hooks.resolve(reference) for reference in _references(inputs))
    return [resource for resource in found if resource is not None]


def _fn_conforms_to(inputs: list[Any], url: str) -> list[bool]:
    hooks = HOOKS.get()
    resources = [item for item in inputs if isinstance(item, dict) and "resourceType" in item]
    if hooks is None or not resources:
        return []
    return [all(hooks.conforms_to(resource, url) for resource in resources)]


def _fn_member_of(inputs: list[Any], url: str) -> list[bool]:
    hooks = HOOKS.get()
    if hooks is None or len(inputs) != 1:
        return []
    result = hooks.member_of(inputs[0], url)
    return [] if result is None else [result]


def _raw(item: Any) -> Any:
    return item.data if isinstance(item, ResourceNode) else item


def _fn_has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and isinstance(inputs[0], str | int | float | bool)]


_FUNCTIONS: dict[str, dict[str, Any]] = {
    "resolve": {"fn": _fn_resolve, "arity": {0: []}},
    "conformsTo": {"fn": _fn_conforms_to, "arity": {1: ["String"]}},
    "memberOf": {"fn": _fn_member_of, "arity": {1: ["String"]}},
    "hasValue": {"fn": _fn_has_value, "arity": {0: []}},
    "htmlChecks": {"fn": lambda inputs: [all(txt_1(_raw(i), {}, {}) for i in inputs)], "arity": {0: []}},
}
_OPTIONS: dict[str, Any] = {
    "userInvocationTable": _FUNCTIONS,
    # core invariant ref-1 calls trace(); fhirpathpy would print each call to stdout
    "traceFn": lambda *_args: None,
}


# -- native checks for the invariants on every element -----------------------------------------------------------
def _ext_1(value: Any, _resource: Resource, _root: Resource) -> bool:
    if not isinstance(value, dict):
        return True
    has_value = any(key.startswith("value") for key in value)
    return has_value != bool(value.get("extension"))


def _dom_2(value: Any, _resource: Resource, _root: Resource) -> bool:
    contained = value.get("contained")
    if not contained or not isinstance(contained, list):  # the common case: nothing contained
        return True
    return not any(isinstance(c, dict) and c.get("contained") for c in contained)


def _dom_4(value: Any, _resource: Resource, _root: Resource) -> bool:
    contained = value.get("contained")
    if not contained or not isinstance(contained, list):
        return True
    metas = [_meta(c) for c in contained]
    return not any("versionId" in meta or "lastUpdated" in meta for meta in metas)


def _dom_5(value: Any, _resource: Resource, _root: Resource) -> bool:
    contained = value.get("contained")
    if not contained or not isinstance(contained, list):
        return True
    return not any("security" in _meta(c) for c in contained)


def _dom_6(value: Any, _resource: Resource, root: Resource) -> bool:
    """dom-6 as the FHIR validator corrects it (see `ERRATA`): `(%rootResource != $this) or text.div.exists()`:
    a contained resource needs no narrative of its own."""
    if value is not root:
        return True
    text = value.get("text")
    return isinstance(text, dict) and bool(text.get("div"))


def _collect_references(data: Any, out: set[str]) -> None:
    """Every `reference` string below `data`, contained resources included (`descendants().reference`)."""
    if isinstance(data, dict):
        for key, item in data.items():
            if key == "reference" and isinstance(item, str):
                out.add(item)
            else:
                _collect_references(item, out)
    elif isinstance(data, list):
        for item in data:
            _collect_references(item, out)


_CANONICAL_TYPES = frozenset({"canonical", "uri", "url"})


def _dom_3(value: Any, _resource: Resource, _root: Resource) -> bool:
    """`contained.where((('#'+id in (%resource.descendants().reference | ....as(canonical) | ....as(uri) |
    ....as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) =
    '#').exists() ...).not()).empty()`: a contained resource is referred to from anywhere in the resource (a
    `reference`, or a canonical/uri/url such as `Questionnaire.item.answerValueSet: "#vs"`), or refers to its
    container (`#`)."""
    if "contained" not in value:
        return True  # the common case, without a call into `items` (this runs on every resource)
    contained = [c for c in items(value.get("contained")) if isinstance(c, dict)]
    if not contained:
        return True
    pointers: set[str] = set()
    _collect_references(value, pointers)
    for item in contained:
        _collect_references(item, pointers)
    root = value.get("resourceType")
    pointers.update(v for v in typed_values(value, str(root), _CANONICAL_TYPES) if isinstance(v, str))
    return all(f"#{c.get('id')}" in pointers or _refers_to_container(c) for c in contained)


def _refers_to_container(resource: Resource) -> bool:
    refs: set[str] = set()
    _collect_references(resource, refs)
    if "#" in refs:
        return True
    return "#" in typed_values(resource, str(resource.get("resourceType")), frozenset({"canonical"}))


def _ref_1(value: Any, _resource: Resource, root: Resource) -> bool:
    """ref-1 as corrected (see `ERRATA`): `reference.exists() implies (reference = '#' or (reference.startsWith('#')
    .not() or (reference.substring(1) in %rootResource.contained.id)))`: `#` alone refers to the container."""
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or not reference.startswith("#") or reference == "#":
        return True
    return any(isinstance(c, dict) and c.get("id") == reference[1:] for c in items(root.get("contained")))


def always_satisfied(_value: Any, _resource: Resource, _root: Resource) -> bool:
    """A constraint that holds for every instance (the validator leaves it out of its walk)."""
    return True


def _bdl_5(value: Any, _resource: Resource, _root: Resource) -> bool:
    return any(key in value for key in ("resource", "request", "response"))


def _bdl_8(value: Any, _resource: Resource, _root: Resource) -> bool:
    full_url = value.get("fullUrl")
    return not isinstance(full_url, str) or "/_history/" not in full_url


def _org_1(value: Any, _resource: Resource, _root: Resource) -> bool:
    return bool(value.get("identifier") or value.get("name"))


def _cpt_2(value: Any, _resource: Resource, _root: Resource) -> bool:
    return "value" not in value or "system" in value


def _gln_modulus_10(value: Any, _resource: Resource, _root: Resource) -> bool:
    """DK-core `gln-modulus-10`: GS1 check digit (https://www.gs1.org/services/how-calculate-check-digit-manually)."""
    text = value.get("value") if isinstance(value, dict) else value
    if not isinstance(text, str):
        return True
    text = text[:13]  # the expression reads the first 13 characters
    if len(text) != 13 or not (text.isascii() and text.isdigit()):
        return True  # as in FHIRPath, where toInteger() of a missing digit gives an empty (not false) result
    digits = [ord(digit) - 48 for digit in text]  # ASCII digits (checked above): cheaper than int() per digit
    total = sum(digits[0:12:2]) + 3 * sum(digits[1:12:2])
    return (10 - total % 10) % 10 == digits[12]


NATIVE: dict[str, Check] = {
    "gln-modulus-10": _gln_modulus_10,
    # R4 core invariants evaluated on most elements or entries, written out in Python for speed; each mirrors the
    # published expression (http://hl7.org/fhir/R4/<type>.html#invs).
    "ref-1": _ref_1,
    # txt-1/txt-2 are `htmlChecks()`, which FHIRPath engines implement natively (see `xhtml`)
    "txt-1": txt_1,
    "txt-2": txt_2,
    "bdl-5": _bdl_5,
    "bdl-8": _bdl_8,
    "org-1": _org_1,
    "cpt-2": _cpt_2,
    "ext-1": _ext_1,
    "dom-2": _dom_2,
    "dom-3": _dom_3,
    "dom-4": _dom_4,
    "dom-5": _dom_5,
    "dom-6": _dom_6,
}
#: Says what a failing native check found, for the issue's diagnostics (by constraint key).
EXPLAIN: dict[str, Callable[[Any], str | None]] = {"txt-1": explain_txt_1}
#: Checked structurally by the validator (every element has a value or children), not as an expression.
STRUCTURAL = frozenset({"ele-1"})

_MATCHES = re.compile(r"^\s*(?:value\.|\$this\.)?matches\('((?:[^'\\]|\\.)*)'\)\s*$", re.DOTALL)


def _native_matches(expression: str) -> Check | None:
    found = _MATCHES.match(expression)
    if found is None:
        return None
    pattern = re.compile(found.group(1).replace("\\\\", "\\"), re.DOTALL)
    on_value = expression.lstrip().startswith("value.")

    def check(value: Any, _resource: Resource, _root: Resource) -> bool:
        target = value.get("value") if on_value and isinstance(value, dict) else value
        # fhirpathpy returns an empty result (the constraint holds) when there is no string to test.
        return not isinstance(target, str) or pattern.search(target) is not None

    return check


#: How each distinct constraint expression is evaluated: "native", "compiled" (our FHIRPath compiler) or
#: "fhirpathpy: <why the compiler declined>" (for the benchmark's fallback count and the equivalence test).
EVALUATED_BY: dict[str, str] = {}
#: How many evaluations the compiled closures handed to fhirpathpy because of the instance (process-wide).
RUNTIME_FALLBACKS: list[int] = [0]
_HOOKED = ("resolve(", "conformsTo(", "memberOf(")


def needs_hooks(expression: str) -> bool:
    """Whether evaluating `expression` calls back into the running validation (`resolve()`, `conformsTo()`...)."""
    return any(name in expression for name in _HOOKED)


def _wraps_primitive(expression: str) -> bool:
    # DK-core 2.0.0 writes `value.substring(...)` in constraints placed on `Identifier.value` itself; evaluating
    # them on `{"value": <primitive>}` gives the check its authors meant instead of an empty result.
    return expression.lstrip("( \n").startswith("value.")


@functools.cache
def _fhirpathpy(expression: str) -> Any:
    return fhirpathpy.compile(expression, models["r4"], _OPTIONS)


def _is_resource(value: Any) -> bool:
    return isinstance(value, dict) and "resourceType" in value


def _node(value: Any, path: str | None = None) -> Any:
    return ResourceNode.create_node(value, path)  # type: ignore[no-untyped-call]


def fhirpathpy_check(expression: str, path: str | None = None) -> Check:
    """The constraint evaluated by fhirpathpy (the reference the compiled closures are tested against).

    `path` is the model path of the element the constraint sits on (`Parameters.parameter`, `Quantity`; see
    `fhirpath.model_path`): without it FHIRPath cannot tell that `value` means `valueString` on a parameter.
    """
    compiled = _fhirpathpy(expression)
    wraps_primitive = _wraps_primitive(expression)

    def check(value: Any, resource: Resource, root: Resource) -> bool:
        target = {"value": value} if wraps_primitive and not isinstance(value, dict | list) else value
        # a resource focus stays as it is (fhirpathpy matches `Bundle.entry` on a resource's own type only then)
        if target is value and not isinstance(value, list) and not _is_resource(value):
            target = _node(value, path)
        # as nodes, the environment's resources know their type (`%resource.type().name = 'Bundle'`)
        context = {"resource": _node(resource), "rootResource": _node(root), "context": _node(target)}
        result: Any = compiled(target, context)
        # Only a false result violates the constraint; an empty one means it does not apply to this instance.
        return not (result == [False] or result is False)

    return check


def compiled_check(expression: str, path: str | None = None) -> Check:
    """The constraint as closures from `gateway.validation.fhirpath`; raises `Unsupported` outside its subset.

    An instance the closures do not model is evaluated by fhirpathpy instead (compiled on first need).
    """
    fast = compile_fhirpath(expression)
    wraps_primitive = _wraps_primitive(expression)
    slow: list[Check] = []

    def check(value: Any, resource: Resource, root: Resource) -> bool:
        target = {"value": value} if wraps_primitive and not isinstance(value, dict | list) else value
        if path is not None and target is value and not isinstance(value, list) and is_some(value):
            target = Node(value, path) if not (isinstance(value, dict) and "resourceType" in value) else value
        try:
            return not violated(fast(target, resource, root))
        except Unsupported:
            RUNTIME_FALLBACKS[0] += 1
            if not slow:
                slow.append(fhirpathpy_check(expression, path))
            return slow[0](value, resource, root)

    return check


def general_check(expression: str, path: str | None = None) -> Check:
    """The constraint as FHIRPath: compiled closures where the compiler covers it, else fhirpathpy."""
    try:
        return compiled_check(expression, path)
    except Unsupported:
        return fhirpathpy_check(expression, path)


#: The native checks: pure functions of their arguments that never call back into the validation, so a holding
#: result needs no memo (`Walker.holds` evaluates them directly).
NATIVE_CHECKS: set[Check] = set(NATIVE.values())


#: Published R4 invariants that are wrong, with the expression the FHIR validator evaluates instead
#: (org.hl7.fhir.validation.instance.utils.FHIRPathExpressionFixer; R4B and R5 publish the corrections). The
#: native checks of ref-1, dom-6 and bdl-8 implement the corrected expressions.
ERRATA: dict[str, str] = {
    # ras-2: "Must be <= 100", also when probability is a Range (then it does not apply)
    "probability is decimal implies (probability as decimal) <= 100": (
        "(probability.exists() and (probability is decimal)) implies ((probability as decimal) <= 100)"
    ),
    # que-12: "If there are more than one enableWhen, enableBehavior must be specified"
    "enableWhen.count() > 2 implies enableBehavior.exists()": "enableWhen.count() >= 2 implies enableBehavior.exists()",
    # the element is `generation`, not `generated`
    "generated='generated' implies source.empty()": "generation='generated' implies source.empty()",
    # inv-0 (canonical resources' name): a whole-value match, and only when there is a name
    "name.matches('[A-Z]([A-Za-z0-9_]){0,254}')": "name.exists() implies name.matches('^[A-Z]([A-Za-z0-9_]){0,254}$')",
    # ref-1: `#` alone refers to the containing resource
    "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id"
    ".trace('ids'))": "reference.exists() implies (reference = '#' or (reference.startsWith('#').not() or "
    "(reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))))",
    # dom-6: a contained resource needs no narrative of its own
    "text.`div`.exists()": "(%rootResource != $this) or text.`div`.exists()",
    # bdl-8: an entry without fullUrl has none with a version
    "fullUrl.contains('/_history/').not()": "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
}


def corrected(expression: str) -> str:
    """The expression to evaluate for a published one (`ERRATA`)."""
    return ERRATA.get(expression, expression)


def compile_constraint(key: str, expression: str, path: str | None = None) -> Check:
    """A callable for one constraint; raises `BrokenConstraint` for a known-broken one.

    Native Python for the per-element core invariants, else our FHIRPath compiler, else fhirpathpy. The callable
    raises whatever fhirpathpy raises on evaluation errors; the validator turns that into a warning.
    """
    if key in NATIVE:
        EVALUATED_BY[expression] = "native"
        return NATIVE[key]
    if BROKEN_CANONICAL in expression:
        raise BrokenConstraint(
            f"MedCom defect: the expression refers to a retired canonical under {BROKEN_CANONICAL} "
            "(MedCom's own QA suppresses this invariant)"
        )
    native = bundle_invariant(key, expression, lambda: general_check(expression, path)) or _native_matches(expression)
    if native is not None:
        EVALUATED_BY[expression] = "native"
        NATIVE_CHECKS.add(native)
        return native
    try:
        check = compiled_check(expression, path)
    except Unsupported as why:
        EVALUATED_BY[expression] = f"fhirpathpy: {why}"
        return fhirpathpy_check(expression, path)
    EVALUATED_BY[expression] = "compiled"
    return check


def _meta(resource: Any) -> dict[str, Any]:
    meta = resource.get("meta") if isinstance(resource, dict) else None
    return meta if isinstance(meta, dict) else {}


@functools.cache
def _selector(expression: str) -> Any:
    return fhirpathpy.compile(expression, models["r4"], {**_OPTIONS, "returnRawData": True})


def select(expression: str, resource: Resource, root: Resource) -> list[Any]:
    """The values `expression` selects from `resource` (the very objects, not copies): for an extension context
    of type `fhirpath`. Nothing when it does not evaluate."""
    try:
        found = _selector(expression)(resource, {"resource": resource, "rootResource": root})
    except Exception:  # noqa: BLE001 - fhirpathpy raises bare Exceptions; a context that cannot be read allows nothing
        return []
    return [item.data if isinstance(item, ResourceNode) else item for item in found]
