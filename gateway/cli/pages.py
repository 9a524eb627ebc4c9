"""`gateway sign-in-link`: a short-lived, single-use link to the pages when no identity provider is configured."""

from __future__ import annotations

import typer

from gateway.cli.common import DATA_DIR, DATABASE_URL, console
from gateway.config import load_settings


def sign_in_link(
    cpr: str = typer.Option(None, "--cpr", help="Sign in as this citizen (CPR number)"),
    client: str = typer.Option(None, "--client", help="Sign in as a user of this registered client"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
) -> None:
    """Print a link that signs one person in to the pages once, within GATEWAY_WEB_SIGN_IN_LINK_SECONDS.

    Only the link's SHA-256 is stored; hand the link to the person by a channel you trust.
    """
    from datetime import timedelta

    from gateway.clock import SystemClock, SystemSecrets
    from gateway.security.clients import ClientRegistry
    from gateway.store.database import make_engine, upgrade
    from gateway.web.sessions import SessionStore, SessionTimes
    from mappings.documents.plan import Citizen

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    if (cpr is None) == (client is None):
        console.print("[red]give exactly one of --cpr or --client[/red]")
        raise typer.Exit(2)
    if cpr is not None:
        try:
            Citizen.model_validate({"cpr": cpr, "name": {"given": ["x"], "family": "x"}, "municipality_code": "0101"})
        except ValueError:
            console.print("[red]--cpr must be 10 digits starting with a valid DDMM[/red]")
            raise typer.Exit(2) from None
    if client is not None:
        path = settings.effective_clients_file()
        registry = ClientRegistry.from_file(path) if path.is_file() else ClientRegistry({})
        if registry.get(client) is None:
            console.print(f"[red]client {client!r} is not registered in {path}; see `gateway clients add`[/red]")
            raise typer.Exit(1)
    engine = make_engine(settings.effective_database_url())
    upgrade(engine)
    seconds = settings.web_sign_in_link_seconds
    times = SessionTimes(timedelta(seconds=seconds), timedelta(seconds=1), timedelta(seconds=1))
    store = SessionStore(engine, SystemClock(), SystemSecrets(), times)
    token = store.create_link("citizen", cpr) if cpr is not None else store.create_link("organisation", client)
    typer.echo(f"{settings.effective_public_url()}/app/sign-in/{token}")
