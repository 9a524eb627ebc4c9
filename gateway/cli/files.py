"""`gateway validate`: offline work on files (nothing stored or sent); `gateway convert` is in `convert.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.progress import track

from gateway.cli.common import errors, print_json, print_rows


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
