"""`gateway validate` and `gateway convert`: offline work on files (nothing stored or sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import orjson
import typer
from rich.progress import track

from gateway.cli.common import DATA_DIR, DATABASE_URL, console, errors, print_json, print_rows
from gateway.config import load_settings

SUFFIX_MEDIA = {
    ".xml": "application/xml",
    ".hl7": "x-application/hl7-v2+er7",
    ".er7": "x-application/hl7-v2+er7",
    ".txt": "text/plain",
    ".json": "application/fhir+json",
}


def read_fhir_file(path: Path) -> dict[str, Any]:
    """A FHIR resource from a JSON or XML file (XML through fhir.resources' R4B models)."""
    data = path.read_bytes()
    if path.suffix.lower() == ".xml":
        from fhir.resources.R4B import get_fhir_model_class
        from lxml import etree

        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(data, parser)
        model = get_fhir_model_class(etree.QName(root).localname)
        dumped: dict[str, Any] = orjson.loads(model.model_validate_xml(data).model_dump_json(exclude_none=True))
        return dumped
    loaded: dict[str, Any] = orjson.loads(data)
    return loaded


def validate_files(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="FHIR resources or Bundles (JSON or XML)"),
    profile: str = typer.Option(
        None, "--profile", metavar="URL", help="Canonical URL to validate against (default: meta.profile)"
    ),
    details: bool = typer.Option(False, "--details", help="List every issue, not only the summary"),
    json_output: bool = typer.Option(False, "--json", help="Print every file's issues as JSON"),
) -> None:
    """Validate files against their profiles; exit 1 when any has errors."""
    from gateway.services.validation import validate_resource
    from mappings.issues import Issue, IssueError

    rows: list[tuple[str, str, int, int, str]] = []
    results: list[dict[str, Any]] = []
    for path in track(files, description="validating", console=errors, disable=len(files) < 5 or json_output):
        try:
            resource = read_fhir_file(path)
            label = f"{resource.get('resourceType')}/{resource.get('id', '')}"
            issues = list(validate_resource(resource, profile=profile).issues)
        except (IssueError, ValueError, OSError) as error:
            label, issues = "?", [Issue("error", "structure", " ".join(str(error).split()))]
        found = [i for i in issues if i.severity in ("error", "fatal")]
        warned = [i for i in issues if i.severity == "warning"]
        rows.append((str(path), label, len(found), len(warned), said_once(found[0]) if found else ""))
        results.append({"file": str(path), "resource": label, "issues": [i.to_fhir() for i in issues]})
        if details and not json_output:
            for issue in issues:
                typer.echo(f"{path}: {issue.severity}: {said_once(issue)}")
    if json_output:
        print_json(results)
    else:
        print_rows(("file", "resource", "errors", "warnings", "first error"), rows)
    if any(row[2] for row in rows):
        raise typer.Exit(1)


def said_once(issue: Any) -> str:
    """`expression: diagnostics`, without the element path the diagnostics themselves start with (said once)."""
    text = " ".join(issue.diagnostics.split())
    head, separator, rest = text.partition(": ")
    if separator and " " not in head and "." in head:  # "Bundle.type: value must ..." names an element first
        text = rest
    return f"{issue.expression}: {text}" if issue.expression else text


def convert_files(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE...", help="Inputs: .xml (OIOXML), .hl7/.er7/.txt (HL7 v2), .json (FHIR)"
    ),
    out: Path = typer.Option(None, "--out", metavar="DIR", help="Folder for the notices (default: print to stdout)"),
    output_format: Literal["json", "xml"] = typer.Option("json", "--format", help="Notice format"),
    explain: bool = typer.Option(False, "--explain", help="Print, per output element, the input field it came from"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Convert inputs to the notices intake would make (validated; nothing is stored or sent)."""
    from gateway.api import create_app
    from gateway.store.connect import open_database
    from mappings.issues import IssueError

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    engine = open_database(settings.effective_database_url(), create=True)  # the plans it reads; one-line errors
    intake = create_app(settings, engine=engine).state.intake
    failures = 0
    for path in track(files, description="converting", console=console, disable=len(files) < 5 or out is None):
        media = SUFFIX_MEDIA.get(path.suffix.lower(), "application/octet-stream")
        try:
            preview = intake.preview(path.read_bytes(), media, explain=explain)
        except IssueError as error:
            failures += 1
            for issue in error.issues:
                errors.print(f"{path}: {said_once(issue)}", markup=False, soft_wrap=True)
            continue
        for index, notice in enumerate(preview.notices):
            text = _render_notice(notice.message, output_format)
            if out is None:
                typer.echo(text)
            else:
                out.mkdir(parents=True, exist_ok=True)
                target = out / f"{path.stem}.{index}.{notice.kind}.{output_format}"
                target.write_text(text, encoding="utf-8")
                typer.echo(f"{path} → {target} ({notice.recipient.name})")
        if explain:
            typer.echo(f"{path}: where each element came from")
            print_rows(("output element", "input field"), preview.explained)
    if failures:
        raise typer.Exit(1)


def _render_notice(message: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return orjson.dumps(message, option=orjson.OPT_INDENT_2).decode()
    from fhir.resources.R4B.bundle import Bundle

    xml: bytes | str = Bundle.model_validate(message).model_dump_xml()
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml
