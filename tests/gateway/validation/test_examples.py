"""Every example instance MedCom and DK-core publish validates without errors against its declared profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.validation import Validator
from tests.gateway.validation.conftest import PACKAGE_OF_FOLDER, REFERENCE


def _examples() -> list[str]:
    files = [*REFERENCE.glob("*/examples/*.json"), *REFERENCE.glob("*/test-examples/**/*.json")]
    declared = []
    for file in sorted(files):
        resource = json.loads(file.read_text(encoding="utf-8"))
        if resource.get("meta", {}).get("profile"):
            declared.append(str(file.relative_to(REFERENCE)))
    return declared


EXAMPLES = _examples()

#: Examples that are expected to fail, with MedCom's reason. None today: R-Tek-O ("invalid") and R-Tek-M
#: ("dublicate-inv") are invalid as *messaging* test cases (receiver/duplicate handling), not as instances.
KNOWN_INVALID: dict[str, str] = {}


def test_the_reference_examples_are_found() -> None:
    assert len(EXAMPLES) >= 190


@pytest.mark.parametrize("relative", EXAMPLES)
def test_published_example_validates_without_errors(validator: Validator, relative: str) -> None:
    resource = json.loads((REFERENCE / relative).read_text(encoding="utf-8"))
    package = PACKAGE_OF_FOLDER[Path(relative).parts[0]]
    result = validator.validate(resource, package=package)
    if relative in KNOWN_INVALID:
        assert not result.ok
        return
    assert result.ok, "\n".join(f"{i.expression}: {i.message_id}: {i.diagnostics}" for i in result.errors)


XML_EXAMPLES = sorted(str(p.relative_to(REFERENCE)) for p in REFERENCE.glob("*/examples-xml/*.xml"))


@pytest.mark.parametrize("relative", XML_EXAMPLES)
def test_published_xml_example_validates_without_errors(validator: Validator, relative: str) -> None:
    """MedCom's XML examples, read as `gateway validate` reads XML (`gateway.validation.read_fhir_xml`)."""
    from gateway.cli import read_fhir_file

    reading = read_fhir_file(REFERENCE / relative)
    assert reading.issues == ()
    result = validator.validate(reading.resource, package=PACKAGE_OF_FOLDER[Path(relative).parts[0]])
    assert result.ok, "\n".join(f"{i.expression}: {i.message_id}: {i.diagnostics}" for i in result.errors)
