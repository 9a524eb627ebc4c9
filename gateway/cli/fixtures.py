"""`gateway fixtures serve`: the GP and municipality fixture receivers for integration testers."""

from __future__ import annotations

import asyncio
from typing import Literal

import typer
import uvicorn

fixtures_app = typer.Typer(
    help="Fixture servers (a GP system and a municipal EHR) for integration testers", no_args_is_help=True
)

#: The receivers read these themselves (`fixtures.receiver.ReceiverSettings`: uvicorn starts them by import string,
#: so `gateway` cannot pass settings in); a test holds this list to that class.
FIXTURE_SETTINGS = {
    "FIXTURE_NAME": "The receiving organisation's name (default: 'Fixture GP', 'Plejecenter Herlev (fixture)')",
    "FIXTURE_SOR": "Its SOR code, as MessageHeader.destination must name it (default: per role)",
    "FIXTURE_GLN": "Its GLN (EAN location number) (default: per role)",
    "FIXTURE_ORGANIZATION_ID": "The Organization id in its acknowledgements (default: per role)",
    "FIXTURE_BASE_URL": "Base of the fullUrls in its acknowledgements (default: https://<role>.fixture.invalid/fhir)",
    "FIXTURE_VALIDATE_PROFILES": "Check every message against its MedCom profile (true/false) (default: true)",
    "FIXTURE_FAULTS": "Faults to apply from the start, a JSON list, e.g. "
    '\'[{"kind":"status","status":503,"count":2}]\' (kinds: status, delay, negative-ack, drop; '
    "also POST /faults) (default: none)",
}
EPILOG = "\n\n".join(
    ["Settings (environment variables; both receivers read the same ones):"]
    + [f"{name}  {meaning}" for name, meaning in FIXTURE_SETTINGS.items()]
    + ["Inspect what arrived: GET /received (each message once, as a user sees it; ?brief=true without bodies), "
       "GET /received/raw (every delivery), DELETE /received."]
)  # fmt: skip


@fixtures_app.command("serve", epilog=EPILOG)
def fixtures_serve(
    role: Literal["gp", "municipality", "both"] = typer.Option(
        "both", help="Which receiver; both: the GP on PORT, the municipality on PORT+1"
    ),
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Bind address"),
    port: int = typer.Option(8081, metavar="PORT", help="Port (the demo directory expects GP 8081, municipality 8082)"),
) -> None:
    """Start the fixture receivers: they take MedCom messages at /fhir/$process-message and acknowledge them."""
    roles = ["gp", "municipality"] if role == "both" else [role]
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
