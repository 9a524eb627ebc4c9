"""The validator never crashes: structurally mutated MedCom messages (any node replaced by any JSON value) always
come back as a ValidationResult with issues, never as an exception."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.validation import default_validator

MEDCOM = Path(__file__).resolve().parents[3] / "fixtures" / "samples" / "inbound" / "medcom"
BUNDLES = [json.loads(p.read_text("utf-8")) for p in sorted(MEDCOM.glob("Bundle-*.json"))[:4]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_mutated_messages_give_issues_not_exceptions(data: st.DataObject) -> None:
    bundle = copy.deepcopy(data.draw(st.sampled_from(BUNDLES), label="bundle"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths(bundle)[1:]), label="path")
        parent = bundle
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = data.draw(json_values, label="value")
    result = default_validator().validate(bundle)
    assert isinstance(result.ok, bool)
