"""The native Bundle invariants give fhirpathpy's verdict on the published expressions: over the reference
examples' Bundles and over generated Bundles that vary every element the expressions read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.validation.bundle_invariants import BUNDLE_INVARIANTS
from gateway.validation.invariants import compile_constraint, fhirpathpy_check, general_check
from tests.gateway.validation.conftest import REFERENCE

REFERENCE_BUNDLES = [json.loads(path.read_text("utf-8")) for path in sorted(REFERENCE.glob("*/examples/Bundle-*.json"))]
REFERENCE_CHECKS = {pair: fhirpathpy_check(pair[1]) for pair in BUNDLE_INVARIANTS}
CHECKS = {pair: compile_constraint(*pair) for pair in BUNDLE_INVARIANTS}
GENERAL_CHECKS = {pair: general_check(pair[1]) for pair in BUNDLE_INVARIANTS}

types = st.sampled_from(
    [
        None,
        "document",
        "message",
        "searchset",
        "history",
        "batch",
        "transaction",
        "batch-response",
        "transaction-response",
        "collection",
    ]
)
resources = st.sampled_from(
    [
        None,
        {"resourceType": "Composition"},
        {"resourceType": "MessageHeader"},
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "meta": {"versionId": "1"}},
        {"resourceType": "Patient", "meta": {"versionId": "2"}},
    ]
)
entries = st.fixed_dictionaries(
    {},
    optional={
        "fullUrl": st.sampled_from(["urn:uuid:a", "urn:uuid:b", "urn:uuid:a1"]),
        "resource": resources.filter(lambda r: r is not None),
        "request": st.just({"method": "POST", "url": "Patient"}),
        "response": st.just({"status": "201"}),
        "search": st.just({"mode": "match"}),
    },
)


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle"}
    kind = draw(types)
    if kind is not None:
        bundle["type"] = kind
    if draw(st.booleans()):
        bundle["entry"] = draw(st.lists(entries, max_size=4))
    if draw(st.booleans()):
        bundle["total"] = draw(st.integers(0, 3))
    identifier = draw(
        st.sampled_from(
            [
                None,
                {},
                {"system": "urn:ietf:rfc:3986"},
                {"value": "x"},
                {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"},
            ]
        )
    )
    if identifier is not None:
        bundle["identifier"] = identifier
    if draw(st.booleans()):
        bundle["timestamp"] = "2026-11-23T10:00:00+01:00"
    return bundle


def _agree(key: str, bundle: dict[str, Any]) -> None:
    expression = next(e for k, e in BUNDLE_INVARIANTS if k == key)
    verdict = BUNDLE_INVARIANTS[(key, expression)](bundle, bundle)
    assert verdict is not None, (key, bundle)  # plain JSON: decided in Python
    assert verdict == REFERENCE_CHECKS[(key, expression)](bundle, bundle, bundle), (key, bundle)
    assert CHECKS[(key, expression)](bundle, bundle, bundle) == verdict


@pytest.mark.parametrize("key", sorted({key for key, _ in BUNDLE_INVARIANTS}))
def test_native_agrees_with_fhirpathpy_on_reference_bundles(key: str) -> None:
    assert REFERENCE_BUNDLES, f"no example Bundles under {REFERENCE}"
    for bundle in REFERENCE_BUNDLES:
        _agree(key, bundle)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(bundle=bundles())
def test_native_agrees_with_fhirpathpy_on_generated_bundles(bundle: dict[str, Any]) -> None:
    for key, _ in BUNDLE_INVARIANTS:
        _agree(key, bundle)


EXTENSIONS = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "x"}]}
odd_values = st.sampled_from([None, [], "x", ["x"], 5, True, {}, [{}], EXTENSIONS])


def _outcome(check: Any, bundle: dict[str, Any]) -> tuple[str, object]:
    try:
        return ("value", check(bundle, bundle, bundle))
    except Exception as error:  # noqa: BLE001 - fhirpathpy raises bare Exceptions
        return ("error", type(error).__name__)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(bundle=bundles(), data=st.data())
def test_a_bundle_outside_plain_json_is_evaluated_as_fhirpath(bundle: dict[str, Any], data: st.DataObject) -> None:
    """`_name` forms and values of the wrong JSON type anywhere the expressions read: the check gives what the
    FHIRPath evaluation gives (a value, or the same error)."""
    places: list[tuple[dict[str, Any], str]] = [(bundle, name) for name in ("type", "total", "timestamp")]
    places += [(bundle, "identifier"), (bundle, "entry")]
    if isinstance(bundle.get("identifier"), dict):
        places += [(bundle["identifier"], "system"), (bundle["identifier"], "value")]
    for entry in bundle.get("entry", []):
        places += [(entry, "fullUrl"), (entry, "resource")]
        if isinstance(entry.get("resource"), dict):
            entry["resource"] = dict(entry["resource"])
            places += [(entry["resource"], "meta")]
    for _ in range(data.draw(st.integers(1, 3))):
        holder, name = data.draw(st.sampled_from(places))
        if data.draw(st.booleans()):
            holder["_" + name] = data.draw(odd_values)
        else:
            holder[name] = data.draw(odd_values)
    for pair in BUNDLE_INVARIANTS:
        assert _outcome(CHECKS[pair], bundle) == _outcome(GENERAL_CHECKS[pair], bundle), (pair[0], bundle)


def test_generated_bundles_reach_both_verdicts() -> None:
    """The generated cases are not vacuous: each invariant is violated by some of the hand-picked Bundles."""
    violating = {
        "bdl-1": {"resourceType": "Bundle", "type": "message", "total": 1},
        "bdl-2": {"resourceType": "Bundle", "type": "message", "entry": [{"search": {"mode": "match"}}]},
        "bdl-3": {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": "X"}}]},
        "bdl-4": {"resourceType": "Bundle", "type": "message", "entry": [{"response": {"status": "200"}}]},
        "bdl-7": {"resourceType": "Bundle", "type": "message", "entry": [{"fullUrl": "a"}, {"fullUrl": "a"}]},
        "bdl-9": {"resourceType": "Bundle", "type": "document", "identifier": {"value": "x"}},
        "bdl-10": {"resourceType": "Bundle", "type": "document"},
        "bdl-11": {"resourceType": "Bundle", "type": "document", "entry": [{"resource": {"resourceType": "X"}}]},
        "bdl-12": {"resourceType": "Bundle", "type": "message", "entry": [{"resource": {"resourceType": "X"}}]},
    }
    for (key, expression), native in BUNDLE_INVARIANTS.items():
        bundle = violating[key]
        assert native(bundle, bundle) is False
        assert REFERENCE_CHECKS[(key, expression)](bundle, bundle, bundle) is False
