"""`gateway validate`: offline work on files (nothing stored or sent); `gateway convert` is in `convert.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
import typer
from rich.progress import track

from gateway.cli.common import errors, print_json, print_rows
from gateway.validation import FhirReading, Validator, default_validator, read_fhir_xml
from gateway.validation.packages import read_ig
from mappings.issues import Issue, IssueError, has_errors, operation_outcome


def read_fhir_file(path: Path) -> FhirReading:
    """A FHIR resource from a JSON or XML file (XML by `gateway.validation.read_fhir_xml`), with what the XML's
    definitions do not allow in it; `IssueError` when it is no resource at all."""
    data = path.read_bytes()
    if path.suffix.lower() == ".xml":
        return read_fhir_xml(data)
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise IssueError.single(
            "structure",
            f"not JSON: {error.msg} (line {error.lineno}, column {error.colno})",
            expression="(json)",
            message_id="validate.json-syntax",
        ) from None
    if not isinstance(loaded, dict):
        raise IssueError.single(
            "structure", "a FHIR resource is a JSON object", expression="(json)", message_id="validate.json-syntax"
        )
    return FhirReading(loaded)


def validate_files(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="FHIR resources or Bundles (JSON or XML)"),
    profile: str = typer.Option(
        None, "--profile", metavar="URL", help="Canonical URL to validate against (default: meta.profile)"
    ),
    igs: list[Path] = typer.Option(
        [],
        "--ig",
        metavar="PATH",
        help="A FHIR package (.tgz), a folder of conformance resources or one such file, loaded first (repeatable)",
    ),
    output: Literal["text", "json"] = typer.Option(
        "text", "--output", help="A summary (one line per file) or each file's OperationOutcome as JSON"
    ),
    details: bool = typer.Option(False, "--details", help="List every issue, not only the summary"),
    json_output: bool = typer.Option(False, "--json", help="The same as --output json"),
) -> None:
    """Validate files against their profiles; exit 1 when any has errors, or when the profile is unknown."""
    if json_output:
        output = "json"
    try:
        validator = _validator(igs, profile)
    except IssueError as error:  # an unknown profile or an unreadable package: one line, exit 1
        errors.print(f"Error: {' '.join(error.issues[0].diagnostics.split())}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    results = [(path, *_validate_file(path, profile, validator)) for path in track(
        files, description="validating", console=errors, disable=len(files) < 5 or output == "json"
    )]  # fmt: skip
    if output == "json":
        print_json(
            [{"file": str(p), "resource": label, "outcome": operation_outcome(issues)} for p, label, issues in results]
        )
    else:
        _print_summary(results, details)
    if any(has_errors(issues) for _, _, issues in results):
        raise typer.Exit(1)


def _validator(igs: list[Path], profile: str | None) -> Validator:
    """The shipped validator, extended with the `--ig` packages; `IssueError` for an unreadable package or a
    profile it does not know (validating against the base type instead would pass what the profile forbids)."""
    validator = default_validator()
    if igs:
        validator = validator.extended(read_ig(path, name=f"ig{index}.{path.stem}") for index, path in enumerate(igs))
    if profile and validator.plan(profile, None) is None:
        raise IssueError.single(
            "not-found",
            f"profile {profile} is not known here (give its package, folder or file with --ig)",
            message_id="validate.profile-unknown",
        )
    return validator


def _validate_file(path: Path, profile: str | None, validator: Validator) -> tuple[str, tuple[Issue, ...]]:
    """(`Type/id` of the resource, or `?`; the issues of reading it, then of validating it)."""
    from gateway.services.validation import validate_resource

    try:
        reading = read_fhir_file(path)
        resource = reading.resource
        result = validate_resource(resource, profile=profile, validator=validator)
    except IssueError as error:
        return "?", error.issues
    except OSError as error:
        return "?", (Issue("fatal", "not-found", str(error), str(path), "validate.unreadable"),)
    return f"{resource.get('resourceType')}/{resource.get('id', '')}", (*reading.issues, *result.issues)


def _print_summary(results: list[tuple[Path, str, tuple[Issue, ...]]], details: bool) -> None:
    """Plain columns, never cut to a terminal's width; with `details`, every issue on a line of its own."""
    rows = []
    for path, label, issues in results:
        found = [i for i in issues if i.severity in ("error", "fatal")]
        warned = [i for i in issues if i.severity == "warning"]
        rows.append((str(path), label, len(found), len(warned), said_once(found[0]) if found else ""))
        if details:
            for issue in issues:
                typer.echo(f"{path}: {issue.severity}: {said_once(issue)}")
    print_rows(("file", "resource", "errors", "warnings", "first error"), rows)


def said_once(issue: Any) -> str:
    """`expression: diagnostics`, without the element path the diagnostics themselves start with (said once)."""
    text = " ".join(issue.diagnostics.split())
    head, separator, rest = text.partition(": ")
    if separator and " " not in head and "." in head:  # "Bundle.type: value must ..." names an element first
        text = rest
    return f"{issue.expression}: {text}" if issue.expression else text
