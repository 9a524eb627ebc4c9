"""schemathesis against the gateway's own OpenAPI description (a bounded number of generated requests): no request
gets a 5xx, and every error is an OperationOutcome (never FastAPI's default `{"detail": ...}` or a stack trace)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from tests.support import scenario


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    scenario.write_directory(data_dir / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    app = create_app(Settings(data_dir=data_dir, insecure_no_auth=True), ids=SequenceIds())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed(operations: list[Any]) -> None:
    paths = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"POST /messages", "POST /plans", "GET /fhir/{resource_type}", "POST /fhir"} <= paths


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_generated_requests_never_get_a_server_error(operations: list[Any], data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(operations), label="operation")
    case = data.draw(operation.as_strategy(), label="case")
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome", response.text[:300]
