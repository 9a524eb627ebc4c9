"""Shared fixtures: the process-wide validator and the MedCom / DK-core reference examples in `tests/data`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.validation import Validator, default_validator
from tests.conftest import REFERENCE

#: Which IG package each reference folder's examples were published with (their dependency closure).
PACKAGE_OF_FOLDER = {
    "medcom-carecommunication": "medcom.fhir.dk.carecommunication",
    "medcom-hospitalnotification": "medcom.fhir.dk.hospitalnotification",
    "medcom-acknowledgement": "medcom.fhir.dk.acknowledgement",
    "medcom-messaging": "medcom.fhir.dk.messaging",
    "medcom-core": "medcom.fhir.dk.core",
    "dk-core": "hl7.fhir.dk.core",
}

HN_SLHJ = "medcom-hospitalnotification/examples/Bundle-f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json"
CC_BUNDLE = "medcom-carecommunication/examples/Bundle-0d5b3c18-fab6-4d93-9d88-c9c8abf1f18c.json"


def load_reference(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / relative).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def validator() -> Validator:
    return default_validator()
