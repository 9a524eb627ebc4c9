"""`gateway clients` and `gateway token`: who may call the API, and tokens signed by the local key."""

from __future__ import annotations

from typing import Any

import typer

from gateway.cli.common import DATA_DIR, errors, settings_help
from gateway.config import Settings, load_settings

LOCAL_ADMIN = "local-admin"
token_app = typer.Typer(help="Access tokens signed by this gateway's local key", no_args_is_help=True)
clients_app = typer.Typer(
    help="The client registry (who may call the API, for which organisation)", no_args_is_help=True
)


@clients_app.command("add", epilog=settings_help("data_dir", "clients_file"))
def clients_add(
    client_id: str = typer.Argument(..., metavar="CLIENT-ID", help="The client's id (its tokens' client_id)"),
    name: str = typer.Option(..., "--name", metavar="TEXT", help="The organisation's name"),
    sor: str = typer.Option(..., "--sor", metavar="SOR", help="The organisation's SOR code"),
    gln: str = typer.Option(..., "--gln", metavar="GLN", help="The organisation's GLN (EAN location number)"),
    municipality: str = typer.Option(
        None, "--municipality", metavar="CODE", help="Municipality code, for a municipality"
    ),
    provider_number: str = typer.Option(
        None, "--provider-number", metavar="NUMBER", help="GP provider number (ydernummer)"
    ),
    scopes: list[str] = typer.Option(
        ..., "--scope", metavar="SCOPE", help="SMART v2 scope, repeatable (system/CarePlan.rs ...)"
    ),
    plan_sources: list[str] = typer.Option(
        None, "--plan-source", metavar="URI", help="A plan source system the organisation owns, repeatable"
    ),
    sends_as: list[str] = typer.Option(
        None, "--sends-as", metavar="SOR", help="Another sender its messages may name (SOR code), repeatable"
    ),
    data_dir: str = DATA_DIR,
) -> None:
    """Register (or replace) a client in the registry file.

    Every organisation owns the plan source system https://sor2.sum.dsdn.dk/#id=<its SOR code>; `--plan-source`
    registers further ones (its EHR's own URIs), which no other organisation may then use. A message it posts may
    name only its own organisation as the sender, and those `--sends-as` lists (an integration engine's departments)."""
    settings = load_settings(data_dir=data_dir)
    organisation = {
        "name": name,
        "sor": sor,
        "gln": gln,
        "municipality": municipality,
        "provider_number": provider_number,
    }
    entry: dict[str, Any] = {"client_id": client_id, "organisation": organisation, "scopes": scopes}
    if plan_sources:
        entry["plan_sources"] = plan_sources
    if sends_as:
        entry["sends_as"] = sends_as
    _save_client(settings, entry)
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


@token_app.command(
    "create",
    epilog=settings_help("data_dir", "clients_file", "token_issuer", "token_audience", "token_lifetime_seconds"),
)
def token_create(
    client: str = typer.Option(LOCAL_ADMIN, "--client", metavar="CLIENT-ID", help="A registered client id"),
    scopes: list[str] = typer.Option(
        None, "--scope", metavar="SCOPE", help="Ask for these scopes, repeatable (default: all the client has)"
    ),
    lifetime: int = typer.Option(
        None,
        "--lifetime",
        metavar="SECONDS",
        help="How long the token is valid (default: GATEWAY_TOKEN_LIFETIME_SECONDS)",
    ),
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
        errors.print(f"Error: client {client!r} is not registered in {path}; add it with `gateway clients add`")
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
