"""`gateway messages`: where every message is; replay and retry."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.progress import track
from rich.table import Table

from gateway.cli.common import DATA_DIR, DATABASE_URL, console
from gateway.config import load_settings
from gateway.delivery.outbox import NoticeState

messages_app = typer.Typer(help="Where every message is; replay and retry", no_args_is_help=True)


def _message_service(database_url: str | None, data_dir: str | None) -> Any:
    from gateway.api.app import profile_check
    from gateway.clock import SystemClock, UuidSource
    from gateway.services.delivery import MessageService
    from gateway.store.database import make_engine, upgrade

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    engine = make_engine(settings.effective_database_url())
    upgrade(engine)
    return MessageService(engine, SystemClock(), UuidSource(), check=profile_check)


def _operator(service: Any) -> Any:
    """What an operator does here is audited like an API client's action, with the OS user as the agent."""
    from gateway.security.operator import OperatorAccess
    from gateway.store.sql import SqlResourceStore

    store = SqlResourceStore(service.outbox.engine, service.clock)
    return OperatorAccess(getpass.getuser(), store, service.clock, service.ids)


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
            _state(r),
            str(r.attempts),
            str(r.resends),
            r.last_error or "",
        )
    return table


def _state(record: Any) -> str:
    if record.held_behind:
        return f"{record.state.value}: held behind a dead notice ({record.held_behind})"
    if record.refused:
        return f"{record.state.value}: refused (fatal-error); correct or skip it"
    return str(record.state.value)


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
        replayed += asyncio.run(service.replay_inbound(message_id, access=_operator(service)))
    console.print(_notice_table(replayed, f"{len(replayed)} notices queued again"))


@messages_app.command("retry-dead")
def messages_retry_dead(
    notice_ids: list[str] = typer.Argument(None, help="Only these notices (default: all)"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Dead-lettered notices back to pending with a fresh attempt budget (refused ones: correct or skip them)."""
    from mappings.issues import IssueError

    service = _message_service(database_url, data_dir)
    try:
        revived = asyncio.run(service.retry_dead(notice_ids or None, access=_operator(service)))
    except IssueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(_notice_table(revived, f"{len(revived)} notices back to pending"))
    refused = [r for r in asyncio.run(service.list_notices(NoticeState.DEAD, limit=500)) if r.refused]
    if refused:
        console.print(
            f"{len(refused)} notices refused with fatal-error stay dead: "
            "`gateway messages correct ID` or `gateway messages skip ID --reason ...`"
        )


@messages_app.command("skip")
def messages_skip(
    notice_id: str,
    reason: str = typer.Option(..., "--reason", help="Why the notice is given up (kept in the audit trail)"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Give up a dead notice for good; the notices held behind it go on (audited with the reason)."""
    from mappings.issues import IssueError

    service = _message_service(database_url, data_dir)
    try:
        skipped = asyncio.run(service.skip(notice_id, reason, access=_operator(service)))
    except IssueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(_notice_table([skipped], "skipped"))


@messages_app.command("correct")
def messages_correct(
    notice_id: str,
    file: Path = typer.Option(None, "--file", help="The corrected message Bundle (JSON); default: as refused"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Send a dead (refused) notice as a new message in its place: a new MessageHeader.id, a Provenance naming the
    refused one (revision), validated before it is queued (audited)."""
    from mappings.issues import IssueError

    service = _message_service(database_url, data_dir)
    try:
        corrected = orjson.loads(file.read_bytes()) if file is not None else None
        record = asyncio.run(service.correct(notice_id, corrected, access=_operator(service)))
    except (IssueError, OSError, orjson.JSONDecodeError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(_notice_table([record], f"queued as MessageHeader {record.message_header_id}"))
