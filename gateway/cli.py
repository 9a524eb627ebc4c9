"""The `gateway` command line (typer). Commands call the same services as the API."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import orjson
import typer
import uvicorn
from rich.console import Console
from rich.progress import track
from rich.table import Table

from gateway.config import Settings, load_settings
from gateway.delivery.outbox import NoticeState

app = typer.Typer(help="Care-plan interoperability gateway", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
fixtures_app = typer.Typer(
    help="Fixture servers (a GP system and a municipal EHR) for integration testers", no_args_is_help=True
)
messages_app = typer.Typer(help="Where every message is; replay and retry", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(messages_app, name="messages")
console = Console()

LOOPBACK = ("127.0.0.1", "::1", "localhost")
LOCAL_ADMIN = "local-admin"
token_app = typer.Typer(help="Access tokens signed by this gateway's local key", no_args_is_help=True)
clients_app = typer.Typer(
    help="The client registry (who may call the API, for which organisation)", no_args_is_help=True
)
app.add_typer(token_app, name="token")
app.add_typer(clients_app, name="clients")

DATABASE_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL (env GATEWAY_DATABASE_URL)")
DATA_DIR = typer.Option(None, "--data-dir", help="Folder for the SQLite database (env GATEWAY_DATA_DIR)")


def _logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default 127.0.0.1; env GATEWAY_HOST)"),
    port: int = typer.Option(None, help="Port (default 8080; env GATEWAY_PORT)"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
    worker: bool = typer.Option(None, "--worker/--no-worker", help="Run the delivery worker in this process"),
    insecure_no_auth: bool = typer.Option(
        None, "--insecure-no-auth", help="Serve without authentication (loopback addresses only)"
    ),
) -> None:
    """Run the gateway (FHIR API, plans, messages) with uvicorn; creates and migrates the database on start."""
    from gateway.api import create_app
    from gateway.security.masking import install_privacy_filter

    settings = load_settings(
        host=host,
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        worker_enabled=worker,
        insecure_no_auth=insecure_no_auth,
    )
    _logging(settings)
    install_privacy_filter()
    if settings.insecure_no_auth:
        if settings.host not in LOOPBACK:
            console.print(f"[red]--insecure-no-auth is refused on {settings.host}: bind to 127.0.0.1 or ::1[/red]")
            raise typer.Exit(2)
        logging.getLogger("gateway.security").warning(
            "AUTHENTICATION IS OFF (--insecure-no-auth): anyone who can reach %s:%s reads and writes everything",
            settings.host,
            settings.port,
        )
    application = create_app(settings, run_worker=settings.worker_enabled)
    typer.echo(
        f"gateway: FHIR base http://{settings.host}:{settings.port}/fhir, database "
        f"{application.state.engine.url.render_as_string(hide_password=True)}, delivery worker "
        f"{'on' if settings.worker_enabled else 'off'}"
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


@app.command("worker")
def run_worker(database_url: str = DATABASE_URL, data_dir: str = DATA_DIR) -> None:
    """Run only the delivery worker (for a deployment that separates intake from delivery)."""
    from gateway.clock import SystemClock, UuidSource
    from gateway.delivery.outbox_sql import SqlOutbox
    from gateway.services.delivery import build_worker, delivery_audit, http_client
    from gateway.store.database import make_engine, upgrade

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    _logging(settings)
    engine = make_engine(settings.effective_database_url())
    upgrade(engine)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with http_client(settings) as client:
            clock, ids = SystemClock(), UuidSource()
            outbox = SqlOutbox(engine, on_attempt=delivery_audit(clock, ids))
            await build_worker(outbox, client, settings, clock, ids).run(stop)

    typer.echo("gateway worker: delivering; Ctrl-C stops after the current send")
    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(database_url: str = DATABASE_URL, data_dir: str = DATA_DIR) -> None:
    """Create or migrate the database schema to the newest version."""
    from gateway.store.database import make_engine, upgrade

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    upgrade(make_engine(settings.effective_database_url()))
    typer.echo("database schema is current")


@fixtures_app.command("serve")
def fixtures_serve(
    role: str = typer.Option("both", help="gp, municipality or both (both: gp on PORT, municipality on PORT+1)"),
    host: str = typer.Option("127.0.0.1", help="Bind address"),
    port: int = typer.Option(8081, help="Port (the example directory expects gp 8081, municipality 8082)"),
) -> None:
    """Start the fixture receivers; settings and faults from FIXTURE_* variables (see fixtures/receiver.py)."""
    roles = ["gp", "municipality"] if role == "both" else [role]
    if any(r not in ("gp", "municipality") for r in roles):
        raise typer.BadParameter("role must be gp, municipality or both", param_hint="--role")
    servers = [
        # By import string, so `gateway` never imports `fixtures` (STYLE.md: dependencies run one way).
        uvicorn.Server(uvicorn.Config(f"fixtures.{r}:create_app", factory=True, host=host, port=port + i))
        for i, r in enumerate(roles)
    ]
    for i, r in enumerate(roles):
        typer.echo(f"fixture {r}: http://{host}:{port + i}/fhir/$process-message (inspect: GET /received)")

    async def main() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(main())


def _message_service(database_url: str | None, data_dir: str | None) -> Any:
    from gateway.clock import SystemClock
    from gateway.services.delivery import MessageService
    from gateway.store.database import make_engine, upgrade

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    engine = make_engine(settings.effective_database_url())
    upgrade(engine)
    return MessageService(engine, SystemClock())


def _notice_table(records: list[Any], title: str) -> Table:
    table = Table(title=title)
    for column in ("notice", "inbound message", "kind", "recipient", "state", "attempts", "resends", "last error"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.id,
            r.inbound_message_id,
            r.kind,
            r.recipient,
            r.state.value,
            str(r.attempts),
            str(r.resends),
            r.last_error or "",
        )
    return table


@messages_app.command("list")
def messages_list(
    state: NoticeState = typer.Option(None, help="Only notices in this state"),
    limit: int = typer.Option(50),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Notices in the outbox, oldest first."""
    service = _message_service(database_url, data_dir)
    records = asyncio.run(service.list_notices(state, limit=limit))
    console.print(_notice_table(records, f"{len(records)} notices"))


@messages_app.command("show")
def messages_show(
    message_id: str,
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
    json_output: bool = typer.Option(False, "--json", help="Print the full record as JSON"),
) -> None:
    """An inbound message, its notices, every attempt and acknowledgement."""
    from mappings.issues import IssueError

    service = _message_service(database_url, data_dir)
    try:
        shown = asyncio.run(service.show(message_id))
    except IssueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    if json_output:
        typer.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(
        f"inbound {shown['inbound']['id']} received {shown['inbound']['receivedAt']} "
        f"({shown['inbound']['contentType']})"
    )
    for notice in shown["notices"]:
        table = Table(
            title=f"{notice['kind']} → {notice['recipient']}: {notice['state']}"
            + (f", ack {notice['ack']['code']}" if notice["ack"] else "")
        )
        for column in ("#", "bundle id", "finished", "outcome", "status", "detail"):
            table.add_column(column)
        for attempt in notice["attempts"]:
            table.add_row(
                str(attempt["number"]),
                attempt["bundleId"],
                attempt["finishedAt"],
                attempt["outcome"],
                str(attempt["status"] or ""),
                attempt["detail"] or (attempt["failure"] or ""),
            )
        console.print(table)


@messages_app.command("replay")
def messages_replay(message_ids: list[str], database_url: str = DATABASE_URL, data_dir: str = DATA_DIR) -> None:
    """Send inbound messages' notices again: same MessageHeader.id, new Bundle.id (MedCom resend rules)."""
    service = _message_service(database_url, data_dir)
    replayed: list[Any] = []
    for message_id in track(message_ids, description="replaying", console=console, disable=len(message_ids) < 2):
        replayed += asyncio.run(service.replay_inbound(message_id))
    console.print(_notice_table(replayed, f"{len(replayed)} notices queued again"))


@messages_app.command("retry-dead")
def messages_retry_dead(
    notice_ids: list[str] = typer.Argument(None, help="Only these notices (default: all)"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Dead-lettered notices back to pending with a fresh attempt budget."""
    service = _message_service(database_url, data_dir)
    revived = asyncio.run(service.retry_dead(notice_ids or None))
    console.print(_notice_table(revived, f"{len(revived)} notices back to pending"))


@clients_app.command("add")
def clients_add(
    client_id: str = typer.Argument(..., help="The client's id (its tokens' client_id)"),
    name: str = typer.Option(..., "--name", help="The organisation's name"),
    sor: str = typer.Option(..., "--sor", help="The organisation's SOR code"),
    gln: str = typer.Option(..., "--gln", help="The organisation's GLN (EAN location number)"),
    municipality: str = typer.Option(None, "--municipality", help="Municipality code, for a municipality"),
    provider_number: str = typer.Option(None, "--provider-number", help="GP provider number (ydernummer)"),
    scopes: list[str] = typer.Option(..., "--scope", help="SMART v2 scope, repeatable (system/CarePlan.rs ...)"),
    data_dir: str = DATA_DIR,
) -> None:
    """Register (or replace) a client in the registry file."""
    settings = load_settings(data_dir=data_dir)
    organisation = {
        "name": name,
        "sor": sor,
        "gln": gln,
        "municipality": municipality,
        "provider_number": provider_number,
    }
    _save_client(settings, {"client_id": client_id, "organisation": organisation, "scopes": scopes})
    typer.echo(f"client {client_id} registered in {settings.effective_clients_file()}")


def _save_client(settings: Settings, entry: dict[str, Any]) -> None:
    import yaml

    from gateway.security.clients import ClientRegistry

    path = settings.effective_clients_file()
    data: dict[str, Any] = (yaml.safe_load(path.read_text("utf-8")) if path.is_file() else None) or {"clients": []}
    entry["organisation"] = {k: v for k, v in entry["organisation"].items() if v is not None}
    data["clients"] = [c for c in data.get("clients", []) if c.get("client_id") != entry["client_id"]] + [entry]
    ClientRegistry.from_data(data)  # refuse to write a registry the gateway would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


@token_app.command("create")
def token_create(
    client: str = typer.Option(LOCAL_ADMIN, "--client", help="A registered client id"),
    scopes: list[str] = typer.Option(None, "--scope", help="Ask for these scopes (default: all the client has)"),
    lifetime: int = typer.Option(None, "--lifetime", help="Seconds (default GATEWAY_TOKEN_LIFETIME_SECONDS)"),
    data_dir: str = DATA_DIR,
) -> None:
    """Print an access token for a client, signed with the gateway's local key (created on first use).

    `local-admin` is registered on first use: an administrator on this machine, for everything but the audit trail.
    """
    from datetime import timedelta

    from gateway.clock import SystemClock
    from gateway.security.clients import ClientRegistry
    from gateway.security.tokens import LocalSigningKey, issue_token

    settings = load_settings(data_dir=data_dir)
    path = settings.effective_clients_file()
    registry = ClientRegistry.from_file(path) if path.is_file() else ClientRegistry({})
    record = registry.get(client)
    if record is None and client == LOCAL_ADMIN:
        _save_client(settings, LOCAL_ADMIN_ENTRY)
        record = ClientRegistry.from_file(path).get(client)
    if record is None:
        console.print(f"[red]client {client!r} is not registered in {path}; see `gateway clients add`[/red]")
        raise typer.Exit(1)
    token = issue_token(
        LocalSigningKey.load_or_create(settings.data_dir),
        client_id=record.client_id,
        scopes=" ".join(scopes) if scopes else record.scopes,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        now=SystemClock().now(),
        lifetime=timedelta(seconds=lifetime or settings.token_lifetime_seconds),
    )
    typer.echo(token)


# The local administrator's organisation is a placeholder (all-zero SOR and GLN, a valid GS1 check digit): it is
# nobody in SOR, so consent never discloses a citizen's plan to it; it sees what it wrote itself.
LOCAL_ADMIN_ENTRY: dict[str, Any] = {
    "client_id": LOCAL_ADMIN,
    "organisation": {"name": "Local administrator (this machine)", "sor": "000000000000", "gln": "0000000000000"},
    "scopes": ["system/*.cruds", "system/Messages.cru"],
}


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


@app.command("validate")
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


@app.command("convert")
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


def main() -> None:
    app()
