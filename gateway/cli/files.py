"""`gateway validate`: offline work on files (nothing stored or sent); `gateway convert` is in `convert.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.progress import track
from rich.table import Table

from gateway.cli.common import console


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
    files: list[Path] = typer.Argument(..., help="FHIR resources or Bundles (JSON or XML)"),
    profile: str = typer.Option(None, "--profile", help="Canonical URL to validate against (default: meta.profile)"),
    details: bool = typer.Option(False, "--details", help="List every issue, not only the summary"),
) -> None:
    """Validate files against their profiles; exit 1 when any has errors."""
    from gateway.services.validation import validate_resource
    from mappings.issues import IssueError

    summary = Table(title="validation")
    for column in ("file", "resource", "errors", "warnings", "first error"):
        summary.add_column(column, overflow="fold")
    failed = 0
    for path in track(files, description="validating", console=console, disable=len(files) < 5):
        try:
            resource = read_fhir_file(path)
            label = f"{resource.get('resourceType')}/{resource.get('id', '')}"
            issues = list(validate_resource(resource, profile=profile).issues)
        except (IssueError, ValueError, OSError) as error:
            failed += 1
            summary.add_row(str(path), "?", "1", "0", str(error)[:100])
            continue
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        warnings = [i for i in issues if i.severity == "warning"]
        failed += bool(errors)
        first = f"{errors[0].expression}: {errors[0].diagnostics}"[:100] if errors else ""
        summary.add_row(str(path), label, str(len(errors)), str(len(warnings)), first)
        if details:
            for issue in issues:
                console.print(f"{path}: {issue.severity} {issue.expression or ''} {issue.diagnostics}")
    console.print(summary)
    if failed:
        raise typer.Exit(1)
