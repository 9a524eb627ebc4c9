"""`gateway validate` and `gateway convert`: offline work on files (nothing stored or sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.progress import track
from rich.table import Table

from gateway.cli.common import DATA_DIR, DATABASE_URL, console
from gateway.config import load_settings
from gateway.validation import FhirReading, Validator, default_validator, read_fhir_xml
from gateway.validation.packages import read_ig
from mappings.issues import Issue, IssueError, has_errors, operation_outcome

SUFFIX_MEDIA = {
    ".xml": "application/xml",
    ".hl7": "x-application/hl7-v2+er7",
    ".er7": "x-application/hl7-v2+er7",
    ".txt": "text/plain",
    ".json": "application/fhir+json",
}


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
    files: list[Path] = typer.Argument(..., help="FHIR resources or Bundles (JSON or XML)"),
    profile: str = typer.Option(None, "--profile", help="Canonical URL to validate against (default: meta.profile)"),
    igs: list[Path] = typer.Option(
        [],
        "--ig",
        help="A FHIR package (.tgz), a folder of conformance resources or one such file, loaded first (repeatable)",
    ),
    output: str = typer.Option(
        "text", "--output", help="text (a summary table) or json (each file's OperationOutcome)"
    ),
    details: bool = typer.Option(False, "--details", help="List every issue, not only the summary"),
) -> None:
    """Validate files against their profiles; exit 1 when any has errors, or when the profile is unknown."""
    if output not in ("text", "json"):
        raise typer.BadParameter("text or json", param_hint="--output")
    try:
        validator = _validator(igs, profile)
    except IssueError as error:
        console.print(f"[red]{error.issues[0].diagnostics}[/red]")
        raise typer.Exit(1) from None
    results = [(path, *_validate_file(path, profile, validator)) for path in files]
    failed = sum(has_errors(issues) for _, _, issues in results)
    if output == "json":
        outcomes = [{"file": str(path), "outcome": operation_outcome(issues)} for path, _, issues in results]
        typer.echo(orjson.dumps(outcomes, option=orjson.OPT_INDENT_2).decode())
    else:
        _print_summary(results, details)
    if failed:
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
    summary = Table(title="validation")
    for column in ("file", "resource", "errors", "warnings", "first error"):
        summary.add_column(column, overflow="fold")
    for path, label, issues in results:
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        warnings = [i for i in issues if i.severity == "warning"]
        first = f"{errors[0].expression}: {errors[0].diagnostics}"[:100] if errors else ""
        summary.add_row(str(path), label, str(len(errors)), str(len(warnings)), first)
        if details:
            for issue in issues:
                console.print(f"{path}: {issue.severity} {issue.expression or ''} {issue.diagnostics}")
    console.print(summary)


def convert_files(
    files: list[Path] = typer.Argument(..., help="Inputs: .xml (OIOXML), .hl7/.er7/.txt (HL7 v2), .json (FHIR)"),
    out: Path = typer.Option(None, "--out", help="Folder for the notices (default: print to stdout)"),
    output_format: str = typer.Option("json", "--format", help="json or xml"),
    explain: bool = typer.Option(False, "--explain", help="Print, per output element, the input field it came from"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Convert inputs to the notices intake would make (validated; nothing is stored or sent)."""
    from gateway.api import create_app
    from mappings.issues import IssueError

    if output_format not in ("json", "xml"):
        raise typer.BadParameter("json or xml", param_hint="--format")
    settings = load_settings(database_url=database_url, data_dir=data_dir)
    intake = create_app(settings).state.intake
    failures = 0
    for path in track(files, description="converting", console=console, disable=len(files) < 5 or out is None):
        media = SUFFIX_MEDIA.get(path.suffix.lower(), "application/octet-stream")
        try:
            preview = intake.preview(path.read_bytes(), media, explain=explain)
        except IssueError as error:
            failures += 1
            for issue in error.issues:
                console.print(f"[red]{path}: {issue.expression or ''} {issue.diagnostics}[/red]")
            continue
        for index, notice in enumerate(preview.notices):
            text = _render_notice(notice.message, output_format)
            if out is None:
                typer.echo(text)
            else:
                out.mkdir(parents=True, exist_ok=True)
                target = out / f"{path.stem}.{index}.{notice.kind}.{output_format}"
                target.write_text(text, encoding="utf-8")
                console.print(f"{path} → {target} ({notice.recipient.name})")
        if explain:
            table = Table(title=f"{path}: where each element came from")
            table.add_column("output element")
            table.add_column("input field")
            for output_path, source in preview.explained:
                table.add_row(output_path, source)
            console.print(table)
    if failures:
        raise typer.Exit(1)


def _render_notice(message: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return orjson.dumps(message, option=orjson.OPT_INDENT_2).decode()
    from fhir.resources.R4B.bundle import Bundle

    xml: bytes | str = Bundle.model_validate(message).model_dump_xml()
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml
