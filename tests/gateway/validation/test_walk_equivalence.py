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
from gateway.validation import validator as walker_module
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
    """(with the fast path, general walk only): separate validators, so their compiled plans share no shapes."""
    registry = default_validator().registry
    return Validator(registry), Validator(registry)


def _without_shortcuts(
    self: walker_module.Walker,
    child: Any,
    _steps: Any,
    type_ref: Any,
    item: Any,
    key: str,
    expr: str,
    scope: Any,
) -> None:
    self.item(child, item, key, expr, type_ref, scope)


def _compare(validators: tuple[Validator, Validator], resource: dict[str, Any], package: str | None = None) -> None:
    fast, general = validators
    expected_fast = _issues(fast, copy.deepcopy(resource), package)
    limit = walker_module._SHAPES_PER_ELEMENT
    shortcuts = walker_module.Walker._child_item
    walker_module._SHAPES_PER_ELEMENT = 0  # no shape is remembered, so every object takes the general walk
    # and every child value goes through `Walker.item`, without the shortcuts
    walker_module.Walker._child_item = _without_shortcuts  # type: ignore[method-assign]
    try:
        expected_general = _issues(general, copy.deepcopy(resource), package)
    finally:
        walker_module._SHAPES_PER_ELEMENT = limit
        walker_module.Walker._child_item = shortcuts  # type: ignore[method-assign]
    assert expected_fast == expected_general


def test_fast_path_agrees_on_every_reference_example(validators: tuple[Validator, Validator]) -> None:
    assert EXAMPLES, f"no reference examples under {REFERENCE}"
    for relative in EXAMPLES:
        resource = json.loads((REFERENCE / relative).read_text(encoding="utf-8"))
        _compare(validators, resource, PACKAGE_OF_FOLDER[Path(relative).parts[0]])


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
