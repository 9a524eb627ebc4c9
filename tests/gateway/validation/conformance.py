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
from mappings.issues import Issue, IssueError

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
    #: The Java runner's `assumeValidRestReferences` (default false there: an unresolved reference's type is
    #: not checked).
    rest_references: bool = False

    @property
    def options(self) -> tuple[bool, bool]:
        return self.examples, self.rest_references

    @property
    def label(self) -> str:
        return f"{self.case} ({self.kind})"


@dataclass(slots=True)
class Outcome:
    step: Step
    errors: int
    locations: tuple[str, ...] = field(default_factory=tuple)
    #: Our error locations as the Java validator places them (see `java_location`).
    java_style: tuple[str, ...] = field(default_factory=tuple)
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
        rest = bool(case.get("assumeValidRestReferences", False))
        yield Step(case["name"], "base", case["file"], None, supporting, errors, locations, examples, rest)
        profile = case.get("profile")
        if profile is not None:
            errors, locations = _java(profile["java"])
            both = (*supporting, *profile.get("supporting", ()), profile["source"])
            rest = bool(profile.get("assumeValidRestReferences", False))
            yield Step(
                case["name"], "profile", case["file"], profile["source"], both, errors, locations, examples, rest
            )


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


def run(validators: dict[tuple[bool, bool], Validator], step: Step) -> Outcome:
    """Our verdict on one step (`validators` by `Step.options`); a file or profile that cannot be read rejects the
    step."""
    try:
        packages = [_package(step)] if step.supporting else []
        engine = validators[step.options].extended(packages)
        reading = read_resource(SUITE / step.file)
        profile = str(read_resource(SUITE / step.profile).resource["url"]) if step.profile else None
    except (IssueError, KeyError, OSError) as error:
        return Outcome(step, 1, unreadable=str(error).splitlines()[0][:120])
    issues = [*reading.issues, *engine.validate(reading.resource, profile).issues]
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    return Outcome(
        step, len(errors), tuple(i.expression or "" for i in errors), tuple(java_location(i) for i in errors)
    )


def java_location(issue: Issue) -> str:
    """Where the Java validator puts the same issue: a missing or surplus element (cardinality) on the element
    that holds it, an extension used out of its context on the element it sits on. We name the element itself
    (`Patient.identifier`, not `Patient`): the same issue, one step more exact."""
    expression = issue.expression or ""
    if issue.message_id in ("validation.cardinality-min", "validation.cardinality-max"):
        return expression.rsplit(".", 1)[0]
    if issue.message_id == "validation.extension-context":
        return _EXTENSION_AT.sub("", expression)
    return expression


_EXTENSION_AT = re.compile(r"\.(?:extension|modifierExtension)\[\d+\]$")


def validators(validator: Validator) -> dict[tuple[bool, bool], Validator]:
    """`validator` configured as the Java runner configures its validator for a step, by (`examples`,
    `assumeValidRestReferences`)."""
    return {
        (examples, rest): Validator(validator.registry, allow_example_urls=examples, assume_valid_rest_references=rest)
        for examples in (False, True)
        for rest in (False, True)
    }
