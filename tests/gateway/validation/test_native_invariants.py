"""Every native invariant gives fhirpathpy's verdict on its published expression, on generated inputs.

The invariants that run on most elements are Python (`invariants.NATIVE`, the DK-core `matches` formats); the R4
Bundle invariants are held to fhirpathpy in `test_bundle_invariants.py`. Here each native check meets fhirpathpy
evaluating the expression the shipped packages publish (as `invariants.ERRATA` corrects it), with the focus typed
as the element the constraint sits on, over inputs generated to vary everything the expression reads.

Why the earlier equivalence tests (`test_fhirpath.py`) missed Parameters `inv-1` and RiskAssessment `ras-2`:
1. they compared our compiled closures with fhirpathpy only on the evaluations the MedCom and DK-core reference
   examples make, and no example holds a Parameters or a RiskAssessment, so neither expression was ever run;
2. both sides evaluated a constraint on an untyped focus (the element as a bare dict), so both read
   `parameter.value` as a key named `value` (not the choice `valueString`) and `prediction.probability` as absent:
   the reference shared the defect, and agreement proved nothing. Constraints are now evaluated with the model
   path of their element (`Constraint.path`) on both sides, and this test generates its inputs instead of
   borrowing them from examples.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.validation import Validator, default_validator
from gateway.validation.fhirpath import model_path
from gateway.validation.invariants import NATIVE, _native_matches, corrected, fhirpathpy_check

Case = tuple[Any, dict[str, Any], dict[str, Any]]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _published(validator: Validator) -> dict[str, set[tuple[str, str]]]:
    """(expression, element base path) of every constraint the shipped packages publish, by key."""
    found: dict[str, set[tuple[str, str]]] = {}
    registry = validator.registry
    for package in registry.packages.values():
        for entry in package.resources:
            if entry.resource_type != "StructureDefinition":
                continue
            definition = registry.resolve(f"{entry.url}|{entry.version}") if entry.version else None
            for element in (definition or {}).get("snapshot", {}).get("element", []):
                path = str(element.get("base", {}).get("path") or element["path"])
                for constraint in element.get("constraint", []):
                    if isinstance(constraint.get("expression"), str):
                        found.setdefault(str(constraint["key"]), set()).add((constraint["expression"], path))
    return found


@functools.cache
def published() -> dict[str, set[tuple[str, str]]]:
    return _published(default_validator())


def _reference_check(expression: str, path: str) -> Any:
    # fhirpathpy refuses `as(T)` on a collection (FHIRPath N1 §6.3.3 makes that an error); dom-3's published
    # `descendants().as(canonical)` means the canonicals among the descendants, which is `ofType(canonical)`
    expression = expression.replace("descendants().as(", "descendants().ofType(")
    focus = model_path(path) if "." in path else path  # as `plans._focus_path` types a constraint's focus
    return fhirpathpy_check(corrected(expression), focus)


#: DK-core 2.0.0 places gln-modulus-10 on `Identifier.value` but writes it for the Identifier (`value.substring`):
#: as published it never fails on a string. The native check is the rule as DK-core 3.4.0 corrected it (on the
#: value itself), which is the expression these tests hold it to.
_WRITTEN_FOR_IDENTIFIER = "((\n(10-((value.substring"


def _agree(key: str, case: Case, at: str | None = None) -> None:
    """The native check of `key` and fhirpathpy agree on `case` for each distinct published expression (on the
    element at `at` where the key sits on several: dom-* is published on every resource type)."""
    value, resource, root = case
    pairs = published().get(key)
    assert pairs, f"{key} is not published by any shipped package"
    chosen = {
        expression: path
        for expression, path in sorted(pairs)
        if (at is None or path == at) and not expression.startswith(_WRITTEN_FOR_IDENTIFIER)
    }
    assert chosen, (key, at)
    for expression, path in chosen.items():
        expected = _reference_check(expression, path)(value, resource, root)
        assert NATIVE[key](value, resource, root) is expected, (key, expression, value)


# -- generated inputs --------------------------------------------------------------------------------------------
ids = st.sampled_from(["a", "b"])
metas = st.fixed_dictionaries(
    {},
    optional={
        "versionId": st.just("1"),
        "lastUpdated": st.just("2024-01-01T10:00:00Z"),
        "security": st.just([{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]),
    },
)
contained = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Organization", "ValueSet"]), "id": ids},
    optional={
        "meta": metas,
        "contained": st.just([{"resourceType": "Basic", "id": "x"}]),
        "partOf": st.sampled_from([{"reference": "#"}, {"reference": "#a"}, {"reference": "Organization/9"}]),
        "text": st.just({"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}),
    },
)
items = st.fixed_dictionaries(
    {"linkId": st.just("1"), "type": st.just("choice")},
    optional={"answerValueSet": st.sampled_from(["#a", "#b", "#"]), "text": st.sampled_from(["#a", "#b"])},
)
containers = st.fixed_dictionaries(
    {"resourceType": st.just("Questionnaire"), "status": st.just("draft")},
    optional={
        "contained": st.lists(contained, max_size=2),
        "item": st.lists(items, max_size=2),
        "extension": st.just(
            [{"url": "http://hl7.org/fhir/StructureDefinition/event-basedOn", "valueReference": {"reference": "#a"}}]
        ),
        "text": st.just({"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}),
    },
)


@pytest.mark.parametrize("key", ["dom-2", "dom-3", "dom-4", "dom-5", "dom-6"])
@SETTINGS
@given(resource=containers, contained_one=st.booleans())
def test_domain_resource_invariants(key: str, resource: dict[str, Any], contained_one: bool) -> None:
    _agree(key, (resource, resource, resource), "Questionnaire")
    inner = resource.get("contained") or []
    if contained_one and inner:  # the first contained resource, evaluated in its container
        _agree(key, (inner[0], inner[0], resource), str(inner[0]["resourceType"]))


values = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"valueString": st.sampled_from(["x", ""])}),
    st.fixed_dictionaries({"valueBoolean": st.booleans()}),
    st.fixed_dictionaries({"valueCodeableConcept": st.just({"text": "x"})}),
)


@SETTINGS
@given(value=values, nested=st.booleans())
def test_ext_1(value: dict[str, Any], nested: bool) -> None:
    extension: dict[str, Any] = {"url": "http://fhir.hospital.test/x", **value}
    if nested:
        extension["extension"] = [{"url": "a", "valueString": "b"}]
    _agree("ext-1", (extension, {"resourceType": "Patient"}, {"resourceType": "Patient"}))


@SETTINGS
@given(
    reference=st.sampled_from(["#a", "#b", "#", "Patient/1", None]),
    contained_ids=st.lists(ids, max_size=2, unique=True),
)
def test_ref_1(reference: str | None, contained_ids: list[str]) -> None:
    value = {"display": "x"} if reference is None else {"reference": reference}
    root = {"resourceType": "Patient", "contained": [{"resourceType": "Basic", "id": i} for i in contained_ids]}
    _agree("ref-1", (value, root, root))


@SETTINGS
@given(
    identifiers=st.lists(st.just({"value": "1"}), max_size=2),
    name=st.sampled_from([None, "Botilbuddet"]),
)
def test_org_1(identifiers: list[Any], name: str | None) -> None:
    organization: dict[str, Any] = {"resourceType": "Organization", **({"name": name} if name else {})}
    if identifiers:
        organization["identifier"] = identifiers
    _agree("org-1", (organization, organization, organization))


@SETTINGS
@given(point=st.fixed_dictionaries({}, optional={"value": st.just("12345678"), "system": st.just("phone")}))
def test_cpt_2(point: dict[str, Any]) -> None:
    if point:
        _agree("cpt-2", (point, {"resourceType": "Patient"}, {"resourceType": "Patient"}))


@SETTINGS
@given(
    entry=st.fixed_dictionaries(
        {},
        optional={
            "fullUrl": st.sampled_from(["urn:uuid:1", "http://x/Patient/1/_history/2", "http://x/Patient/1"]),
            "resource": st.just({"resourceType": "Patient"}),
            "request": st.just({"method": "POST", "url": "Patient"}),
            "response": st.just({"status": "201"}),
        },
    )
)
def test_bundle_entry_invariants(entry: dict[str, Any]) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [entry]}
    if entry:
        for key in ("bdl-5", "bdl-8"):
            _agree(key, (entry, bundle, bundle))


@SETTINGS
@given(digits=st.text(alphabet="0123456789", min_size=11, max_size=14) | st.sampled_from(["579000000104x", ""]))
def test_gln_modulus_10(digits: str) -> None:
    if digits:
        _agree("gln-modulus-10", (digits, {"resourceType": "Organization"}, {"resourceType": "Organization"}))


@pytest.mark.parametrize("digits", ["5790000001040", "5790000001041"])
def test_gln_modulus_10_on_a_known_number(digits: str) -> None:
    _agree("gln-modulus-10", (digits, {"resourceType": "Organization"}, {"resourceType": "Organization"}))


_MATCHES = re.compile(r"^\s*(?:value\.|\$this\.)?matches\(")


@SETTINGS
@given(text=st.text(alphabet="0123456789abcDK.-: ", max_size=14), index=st.integers(min_value=0))
def test_matches_formats(text: str, index: int) -> None:
    """DK-core's identifier formats (`value.matches('^[0-9]{10}$')`): native `re.search`, as fhirpathpy does."""
    formats = sorted(
        (expression, path)
        for pairs in published().values()
        for expression, path in pairs
        if _MATCHES.match(expression) and _native_matches(expression) is not None
    )
    assert formats
    expression, path = formats[index % len(formats)]
    native = _native_matches(expression)
    assert native is not None
    target: Any = text if "." in path and not path.endswith("Identifier") else {"value": text}
    expected = _reference_check(expression, path)(target, {"resourceType": "Patient"}, {"resourceType": "Patient"})
    assert native(target, {"resourceType": "Patient"}, {"resourceType": "Patient"}) is expected, (expression, text)
