"""Runs the official FHIR validator test cases (`tests/data/fhir-test-cases-r4`) through our validator.

How the Java validator's own test runner reads a case (org.hl7.fhir.core, `ValidationTests.java`): `supporting`
and `profiles` are conformance resources loaded into the context first; the base step validates `file` against
its declared profiles (or its core type); a `profile` step validates it again against `profile.source`, with
`profile.supporting` loaded too. Its verdict: invalid when any issue is an error or fatal. Each step's expected
outcome is the Java validator's OperationOutcome (`outcomes/java/...`) or an inline `errorCount`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.validation import FhirReading, Validator
from gateway.validation.packages import FhirPackage, ResourceEntry
from mappings.issues import IssueError

SUITE = Path(__file__).resolve().parents[2] / "data" / "fhir-test-cases-r4" / "validator"
_COMMENT = re.compile(r"/\*.*?\*/")


def read_resource(path: Path) -> FhirReading:
    """A resource from a test-case file, read the way `gateway validate` reads files."""
    from gateway.cli.files import read_fhir_file

    return read_fhir_file(path)


@dataclass(frozen=True, slots=True)
class Step:
    """One validation of a case: `base` (declared profiles) or `profile` (against `profile.source`)."""

    case: str
    kind: str
    file: str
    profile: str | None
    supporting: tuple[str, ...]
    java_errors: int
    #: The Java validator's error locations (FHIRPath, comments such as `/*Patient/x*/` removed); None when the
    #: manifest gives only a count.
    java_locations: tuple[str, ...] | None
    #: The Java runner's `examples` option (default true there: URLs at example.org are allowed).
    examples: bool = True

    @property
    def label(self) -> str:
        return f"{self.case} ({self.kind})"


@dataclass(slots=True)
class Outcome:
    step: Step
    errors: int
    locations: tuple[str, ...] = field(default_factory=tuple)
    #: Why the file could not be read (then it counts as rejected, as `gateway validate` counts it).
    unreadable: str | None = None

    @property
    def agrees(self) -> bool:
        return (self.errors > 0) == (self.step.java_errors > 0)


def _java(spec: Any) -> tuple[int, tuple[str, ...] | None]:
    if isinstance(spec, dict):
        return int(spec.get("errorCount", 0)), None
    outcome = orjson.loads((SUITE / "outcomes" / str(spec)).read_bytes())
    errors = [i for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]
    return len(errors), tuple(_COMMENT.sub("", (i.get("expression") or [""])[0]) for i in errors)


def steps() -> Iterator[Step]:
    """Every validation step of the manifest, in manifest order."""
    manifest = orjson.loads((SUITE / "manifest.json").read_bytes())
    for case in manifest["test-cases"]:
        supporting = (*case.get("supporting", ()), *case.get("profiles", ()))
        errors, locations = _java(case["java"])
        examples = bool(case.get("examples", True))
        yield Step(case["name"], "base", case["file"], None, supporting, errors, locations, examples)
        profile = case.get("profile")
        if profile is not None:
            errors, locations = _java(profile["java"])
            both = (*supporting, *profile.get("supporting", ()), profile["source"])
            yield Step(case["name"], "profile", case["file"], profile["source"], both, errors, locations, examples)


def _package(step: Step) -> FhirPackage:
    entries = []
    for relative in step.supporting:
        resource = read_resource(SUITE / relative).resource
        url = resource.get("url")
        if isinstance(url, str):
            version = resource.get("version")
            raw = orjson.dumps(resource)
            entries.append(
                ResourceEntry(str(resource["resourceType"]), url, version if isinstance(version, str) else None, raw)
            )
    # a name per case: the plans of one case's profiles never stand in for another's
    return FhirPackage(name=f"test-case.{step.case}.{step.kind}", version="0.0.0", resources=entries)


def run(validators: dict[bool, Validator], step: Step) -> Outcome:
    """Our verdict on one step (`validators` by whether they allow example URLs); a file or profile that cannot be
    read rejects the step."""
    try:
        packages = [_package(step)] if step.supporting else []
        engine = validators[step.examples].extended(packages)
        reading = read_resource(SUITE / step.file)
        profile = str(read_resource(SUITE / step.profile).resource["url"]) if step.profile else None
    except (IssueError, KeyError, OSError) as error:
        return Outcome(step, 1, unreadable=str(error).splitlines()[0][:120])
    issues = [*reading.issues, *engine.validate(reading.resource, profile).issues]
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    return Outcome(step, len(errors), tuple(i.expression or "" for i in errors))


def validators(validator: Validator) -> dict[bool, Validator]:
    """`validator` as the Java runner configures it, by the `examples` option (allowed unless a case says not)."""
    return {False: validator, True: Validator(validator.registry, allow_example_urls=True)}
