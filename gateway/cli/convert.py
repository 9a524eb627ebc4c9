"""`gateway convert`: inputs to the notices intake would make, offline (nothing stored or sent, ever).

Letters and their XBIN01 binaries are converted together (`gateway convert LETTER.xml BINARY.xml`): every XBIN01
among the files lends its objects to the letters that reference them. Without a recipient directory the notices
show their recipients by identifier (endpoint unknown) and the profile issues the directory would have prevented
are listed as gaps, not failures (`gateway.services.offline`). `--explain` prints, for every element of every
notice, where it came from; `--explain-format json` prints the same as one JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import typer

from gateway.cli.common import DATA_DIR, DATABASE_URL, print_rows
from gateway.cli.common import errors as err
from gateway.cli.files import said_once
from gateway.config import load_settings
from mappings.documents.discharge import BinaryLetter, BinaryObject
from mappings.issues import Issue, IssueError

SUFFIX_MEDIA = {
    ".xml": "application/xml",
    ".hl7": "x-application/hl7-v2+er7",
    ".er7": "x-application/hl7-v2+er7",
    ".txt": "text/plain",
    ".json": "application/fhir+json",
}


@dataclass
class _Report:
    """One input file's outcome for `--explain-format json`."""

    file: str
    notices: list[dict[str, Any]] = field(default_factory=list)
    withheld: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def convert_files(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE...", help="Inputs: .xml (OIOXML, XBIN01 too), .hl7/.er7/.txt (HL7 v2), .json (FHIR)"
    ),
    out: Path = typer.Option(None, "--out", metavar="DIR", help="Folder for the notices (default: print to stdout)"),
    output_format: Literal["json", "xml"] = typer.Option("json", "--format", help="Notice format"),
    explain: bool = typer.Option(False, "--explain", help="Print where every element of every notice came from"),
    explain_format: Literal["table", "json"] = typer.Option(
        "table", "--explain-format", help="How --explain prints (json implies --explain)"
    ),
    plan: Path = typer.Option(
        None, "--plan", metavar="FILE", help="The citizen's plan document (JSON) instead of the database's"
    ),
    directory: Path = typer.Option(
        None, "--directory", metavar="FILE", help="Recipient directory (default: the configured one)"
    ),
    first_of_stay: bool = typer.Option(
        False, "--first-of-stay", help="The stay began before this gateway reported it (see README)"
    ),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Convert inputs to the notices intake would make (validated; nothing is stored or sent)."""
    from gateway.api.app import profile_check
    from gateway.clock import SystemClock, UuidSource
    from gateway.services.preview import preview_intake

    as_json = explain_format == "json"
    settings = load_settings(database_url=database_url, data_dir=data_dir)
    try:
        intake = preview_intake(
            settings, SystemClock(), UuidSource(), profile_check, plan_file=plan, directory_file=directory
        )
    except IssueError as error:
        for issue in error.issues:
            err.print(said_once(issue), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    binaries, letters = _binaries(intake, files)
    reports: list[_Report] = []
    failures = 0
    for path in letters:
        report = _Report(str(path))
        reports.append(report)
        try:
            preview = intake.preview(
                path.read_bytes(),
                SUFFIX_MEDIA.get(path.suffix.lower(), "application/octet-stream"),
                explain=explain or as_json,
                binaries=binaries,
                first_of_stay=first_of_stay,
            )
        except (IssueError, OSError) as error:
            failures += 1
            report.errors = _errors(error)
            for item in report.errors:
                where = f"{item['expression']}: " if item["expression"] else ""
                err.print(f"{path}: {where}{item['diagnostics']}", markup=False, soft_wrap=True)
            continue
        failures += _show(path, preview, report, out, output_format, explain, as_json)
    if as_json:
        typer.echo(orjson.dumps({"inputs": [r.__dict__ for r in reports]}, option=orjson.OPT_INDENT_2).decode())
    if failures:
        raise typer.Exit(1)


def _binaries(intake: Any, files: list[Path]) -> tuple[tuple[BinaryObject, ...], list[Path]]:
    """The XBIN01 objects among `files` (announced on stderr) and the other files, in their order."""
    objects: list[BinaryObject] = []
    letters: list[Path] = []
    for path in files:
        if path.suffix.lower() == ".xml" and b"/2012/03/28/" in path.read_bytes()[:400]:
            try:
                _kind, document = intake.parse(path.read_bytes(), "application/xml")
            except IssueError:
                letters.append(path)  # reported with the others
                continue
            if isinstance(document, BinaryLetter):
                objects += document.objects
                keys = ", ".join(item.object_identifier for item in document.objects)
                err.print(f"{path}: XBIN01 with {len(document.objects)} object(s) ({keys})")
                continue
        letters.append(path)
    return tuple(objects), letters


def _errors(error: IssueError | OSError) -> list[dict[str, str]]:
    if isinstance(error, OSError):
        return [{"expression": "", "diagnostics": str(error), "messageId": "convert.unreadable"}]
    return [
        {"expression": i.expression or "", "diagnostics": i.diagnostics, "messageId": i.message_id or ""}
        for i in error.issues
    ]


def _show(path: Path, preview: Any, report: _Report, out: Path | None, fmt: str, explain: bool, as_json: bool) -> int:
    """Print or write each notice, its explanation and its profile issues; 1 when a notice has real errors."""
    from gateway.services.offline import split_offline_gaps

    failed = 0
    report.withheld = [w.to_json() for w in preview.withheld]
    report.notes = list(preview.notes)
    if preview.offline:
        report.notes.append("no recipient directory: recipients by identifier, endpoints unknown")
    for note in report.notes:
        err.print(f"{path}: {note}")
    for index, (notice, issues) in enumerate(zip(preview.notices, preview.issues, strict=True)):
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        gaps, problems = (
            split_offline_gaps(notice.message, errors, notice.explained) if preview.offline else ([], errors)
        )
        failed |= bool(problems)
        recipient = f"{notice.recipient.name} (endpoint {notice.recipient.endpoint})"
        err.print(f"{path} → {notice.kind} to {recipient}")
        for issue in problems:
            err.print(f"{path}: notice {index}: {said_once(issue)}", markup=False, soft_wrap=True)
        if gaps:
            err.print(f"[yellow]{path}: notice {index}: {len(gaps)} profile issue(s) the directory would fill[/yellow]")
        report.notices.append(_notice_json(notice, gaps, problems, include_message=out is None))
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            target = out / f"{path.stem}.{index}.{notice.kind}.{fmt}"
            target.write_text(_render_notice(notice.message, fmt), encoding="utf-8")
            err.print(f"{path} → {target}")
        elif not as_json:
            typer.echo(_render_notice(notice.message, fmt))
        if explain and not as_json:
            _explain_table(path, index, notice)
    return int(failed)


def _notice_json(notice: Any, gaps: list[Issue], problems: list[Issue], *, include_message: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "kind": notice.kind,
        "recipient": notice.recipient.name,
        "endpoint": notice.recipient.endpoint,
        "messageHeaderId": notice.message["entry"][0]["resource"]["id"],
        "disclosure": notice.disclosure,
        "elements": [item.to_json() for item in notice.explained],
        "offlineGaps": [f"{i.expression}: {i.diagnostics}" for i in gaps],
        "errors": [f"{i.expression}: {i.diagnostics}" for i in problems],
    }
    if include_message:
        found["message"] = notice.message
    return found


def _explain_table(path: Path, index: int, notice: Any) -> None:
    """Plain columns on stdout, never cut to a terminal's width (they are read and piped)."""
    typer.echo(f"{path}: notice {index} ({notice.kind}): where each element came from")
    print_rows(
        ("output element", "origin", "input field"),
        [(i.path, i.origin.kind, i.origin.source) for i in notice.explained],
    )


def _render_notice(message: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return orjson.dumps(message, option=orjson.OPT_INDENT_2).decode()
    from fhir.resources.R4B.bundle import Bundle

    xml: bytes | str = Bundle.model_validate(message).model_dump_xml()
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml
