"""The walker's fast path for objects of a known shape (`Walker.complex`), with the shortcuts that skip
`Walker.item` for a child value (`Walker._child_item`), reports exactly what the general walk (`Walker._complex`)
reports when every value goes through `Walker.item`, issue for issue and in the same order: over every reference
example and over MedCom messages mutated in value, in form and in key order."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.validation import Validator, default_validator
from tests.gateway.validation.conftest import PACKAGE_OF_FOLDER, REFERENCE
from tests.gateway.validation.test_examples import EXAMPLES
from tests.gateway.validation.test_validator_fuzz import paths

MEDCOM = Path(__file__).resolve().parents[3] / "fixtures" / "samples" / "inbound" / "medcom"
BUNDLES = [json.loads(p.read_text("utf-8")) for p in sorted(MEDCOM.glob("Bundle-*.json"))]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _issues(validator: Validator, resource: dict[str, Any], package: str | None = None) -> list[tuple[Any, ...]]:
    result = validator.validate(resource, package=package)
    # fhirpathpy's error messages name Python objects by address
    return [
        (i.severity, i.code, i.expression, i.message_id, re.sub(" at 0x[0-9a-f]+", "", i.diagnostics))
        for i in result.issues
    ]


@pytest.fixture(scope="module")
def validators() -> tuple[Validator, Validator]:
    """(with the fast path, general walk only): every object of the second by `Walker._complex`, every value
    through `Walker.item`, without the shortcuts (`Validator(general_walk=True)`)."""
    registry = default_validator().registry
    return Validator(registry), Validator(registry, general_walk=True)


def _compare(validators: tuple[Validator, Validator], resource: dict[str, Any], package: str | None = None) -> None:
    fast, general = validators
    expected_fast = _issues(fast, copy.deepcopy(resource), package)
    expected_general = _issues(general, copy.deepcopy(resource), package)
    assert expected_fast == expected_general


def test_fast_path_agrees_on_every_reference_example(validators: tuple[Validator, Validator]) -> None:
    assert EXAMPLES, f"no reference examples under {REFERENCE}"
    for relative in EXAMPLES:
        resource = json.loads((REFERENCE / relative).read_text(encoding="utf-8"))
        _compare(validators, resource, PACKAGE_OF_FOLDER[Path(relative).parts[0]])


def test_an_empty_array_is_reported_before_the_issues_of_earlier_children(
    validators: tuple[Validator, Validator],
) -> None:
    """Found by the mutation test below: the fast path reported an empty array (`Provenance.agent`) after the
    issues of the children before it in profile order (`Provenance.target`), the general walk while sorting keys."""
    bundle = copy.deepcopy(next(b for b in BUNDLES if any(_provenance(e) for e in b["entry"])))
    provenance = next(e["resource"] for e in bundle["entry"] if _provenance(e))
    patient = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    provenance["target"] = [{"reference": patient}]  # not a type a Provenance of a message may target
    provenance["agent"] = []
    issues = _issues(validators[0], copy.deepcopy(bundle))
    at = [i[2].rsplit(".", 1)[-1] for i in issues if ".resource.agent" in i[2] or ".resource.target" in i[2]]
    assert at[:2] == ["agent", "target[0]"], issues
    _compare(validators, bundle)


def _provenance(entry: dict[str, Any]) -> bool:
    return entry.get("resource", {}).get("resourceType") == "Provenance"


def _at(bundle: Any, location: tuple[Any, ...]) -> Any:
    for step in location:
        bundle = bundle[step]
    return bundle


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_fast_path_agrees_on_mutated_messages(validators: tuple[Validator, Validator], data: st.DataObject) -> None:
    bundle = copy.deepcopy(data.draw(st.sampled_from(BUNDLES), label="bundle"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        location = data.draw(st.sampled_from(paths(bundle)[1:]), label="location")
        parent = _at(bundle, location[:-1])
        kind = data.draw(st.sampled_from(["replace", "delete", "reverse", "wrap", "unwrap", "underscore"]))
        target = parent[location[-1]]
        if kind == "replace":
            parent[location[-1]] = data.draw(json_values, label="value")
        elif kind == "delete":
            del parent[location[-1]]
        elif kind == "reverse" and isinstance(target, dict):
            parent[location[-1]] = dict(reversed(list(target.items())))
        elif kind == "wrap":
            parent[location[-1]] = [target]
        elif kind == "unwrap" and isinstance(target, list) and target:
            parent[location[-1]] = target[0]
        elif kind == "underscore" and isinstance(parent, dict) and isinstance(location[-1], str):
            parent["_" + location[-1]] = {"extension": [{"url": "http://example.org/x", "valueString": "x"}]}
    _compare(validators, bundle)
