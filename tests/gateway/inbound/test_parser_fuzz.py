"""Every parser, fed random bytes and mutations of valid samples, either returns its document or raises
`IssueError` (which the API renders as a 4xx OperationOutcome): no other exception ever escapes a parser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.fhir.parsing import parse_resource
from gateway.inbound import DEFAULT_LIMITS, parse_fhir_message, parse_hl7v2, parse_oioxml
from gateway.store.search_params import SUPPORTED_TYPES
from mappings.documents.plan import parse_plan_document
from mappings.issues import IssueError

SAMPLES = Path(__file__).resolve().parents[3] / "fixtures" / "samples"


def _plan(data: bytes) -> Any:
    import orjson

    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return parse_plan_document(parsed)


PARSERS: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "oioxml": (
        lambda b: parse_oioxml(b, limits=DEFAULT_LIMITS),
        (SAMPLES / "inbound" / "xdis91_utf-8.xml").read_bytes(),
    ),
    "hl7v2": (
        lambda b: parse_hl7v2(b, limits=DEFAULT_LIMITS),
        (SAMPLES / "inbound" / "adt_a03_discharge_8859-1.hl7").read_bytes(),
    ),
    "fhir-message": (
        lambda b: parse_fhir_message(b, "application/fhir+json", limits=DEFAULT_LIMITS),
        (SAMPLES / "inbound" / "medcom" / "Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json").read_bytes(),
    ),
    "fhir-resource": (
        lambda b: parse_resource(b, expected_type=None, supported=SUPPORTED_TYPES),
        b'{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p"}}',
    ),
    "plan-document": (_plan, (SAMPLES / "demo" / "plan.json").read_bytes()),
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "duplicate"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_parsers_fail_only_with_issues(name: str, data: st.DataObject) -> None:
    parse, seed = PARSERS[name]
    body = data.draw(st.one_of(st.binary(max_size=512), mutated(seed)), label="body")
    try:
        parse(body)
    except IssueError as error:
        assert error.issues, "an IssueError always says what is wrong"
