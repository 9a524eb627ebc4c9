"""`gateway fixtures serve`: the GP and municipality fixture receivers for integration testers."""

from __future__ import annotations

import asyncio

import typer
import uvicorn

fixtures_app = typer.Typer(
    help="Fixture servers (a GP system and a municipal EHR) for integration testers", no_args_is_help=True
)


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
