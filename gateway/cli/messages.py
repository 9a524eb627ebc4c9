"""`gateway messages`: where every message is; replay and retry.

Every id `list` prints is whole and is accepted by `show`, as is any unique prefix of it; `show` of a notice id
shows the inbound message it was made from, with all its notices.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import typer
from rich.progress import track

from gateway.cli.common import (
    DATA_DIR,
    DATABASE_SETTINGS,
    DATABASE_URL,
    JSON,
    console,
    errors,
    print_json,
    print_rows,
    settings_help,
)
from gateway.config import load_settings
from gateway.delivery.outbox import NoticeState

SETTINGS = settings_help(*DATABASE_SETTINGS)
messages_app = typer.Typer(help="Where every message is; replay and retry", no_args_is_help=True)
NOTICE_COLUMNS = ("notice", "inbound message", "kind", "recipient", "state", "attempts", "resends", "last error")


def _message_service(database_url: str | None, data_dir: str | None) -> Any:
    from gateway.clock import SystemClock
    from gateway.services.delivery import MessageService
    from gateway.store.connect import open_database, require_current_schema

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    engine = open_database(settings.effective_database_url(), create=False)
    require_current_schema(engine)
    return MessageService(engine, SystemClock())


def print_notices(records: list[Any], json_output: bool) -> None:
    """Notices as JSON (the API's shape) or as whole-id columns."""
    from gateway.services.delivery import notice_summary

    if json_output:
        print_json([notice_summary(record) for record in records])
        return
    print_rows(
        NOTICE_COLUMNS,
        [
            (r.id, r.inbound_message_id, r.kind, r.recipient, r.state.value, r.attempts, r.resends, r.last_error)
            for r in records
        ],
    )


@messages_app.command("list", epilog=SETTINGS)
def messages_list(
    state: NoticeState = typer.Option(None, help="Only notices in this state"),
    limit: int = typer.Option(50, metavar="N", help="At most this many, oldest first"),
    wait: float = typer.Option(
        0,
        metavar="SECONDS",
        help="First wait up to this long until no notice is pending, sending or awaiting its acknowledgement "
        "(delivery is asynchronous); exit 1 if some still are",
    ),
    json_output: bool = JSON,
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Notices in the outbox, oldest first, with whole ids (`messages show` takes any of them, or a prefix)."""
    service = _message_service(database_url, data_dir)
    settled = asyncio.run(_wait_until_settled(service, wait)) if wait > 0 else True
    print_notices(asyncio.run(service.list_notices(state, limit=limit)), json_output)
    if not settled:
        errors.print(f"[red]after {wait:g} s some notices are still on their way[/red]")
        raise typer.Exit(1)


async def _wait_until_settled(service: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds  # a person's patience, not a domain time: no Clock
    while not await service.settled():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.5)
    return True


@messages_app.command("show", epilog=SETTINGS)
def messages_show(
    message_id: str = typer.Argument(
        ..., metavar="ID", help="An inbound message id or a notice id (as `messages list` prints it), or a prefix"
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the full record as JSON"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """An inbound message, its notices, every attempt and acknowledgement."""
    service = _message_service(database_url, data_dir)
    shown = asyncio.run(_show(service, message_id))
    if json_output:
        print_json(shown)
        return
    inbound = shown["inbound"]
    typer.echo(f"inbound message {inbound['id']}, received {inbound['receivedAt']} ({inbound['contentType']})")
    for notice in shown["notices"]:
        ack = f", acknowledgement {notice['ack']['code']}" if notice["ack"] else ""
        typer.echo(f"\nnotice {notice['id']}: {notice['kind']} to {notice['recipient']}, {notice['state']}{ack}")
        print_rows(
            ("#", "bundle id", "finished", "outcome", "status", "detail"),
            [
                (a["number"], a["bundleId"], a["finishedAt"], a["outcome"], a["status"], a["detail"] or a["failure"])
                for a in notice["attempts"]
            ],
        )


async def _show(service: Any, reference: str) -> dict[str, Any]:
    shown: dict[str, Any] = await service.show(await service.resolve(reference))
    return shown


@messages_app.command("replay", epilog=SETTINGS)
def messages_replay(
    message_ids: list[str] = typer.Argument(..., metavar="ID...", help="Inbound message ids"),
    json_output: bool = JSON,
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Send inbound messages' notices again: same MessageHeader.id, new Bundle.id (MedCom resend rules)."""
    service = _message_service(database_url, data_dir)
    replayed: list[Any] = []
    for message_id in track(message_ids, description="replaying", console=console, disable=len(message_ids) < 2):
        replayed += asyncio.run(service.replay_inbound(message_id))
    print_notices(replayed, json_output)


@messages_app.command("retry-dead", epilog=SETTINGS)
def messages_retry_dead(
    notice_ids: list[str] = typer.Argument(None, metavar="[NOTICE-ID]...", help="Only these notices (default: all)"),
    json_output: bool = JSON,
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Dead-lettered notices back to pending with a fresh attempt budget."""
    service = _message_service(database_url, data_dir)
    print_notices(asyncio.run(service.retry_dead(notice_ids or None)), json_output)
