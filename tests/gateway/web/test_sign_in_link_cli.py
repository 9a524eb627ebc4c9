"""`gateway sign-in-link`: prints a working single-use link; refuses what it cannot sign in."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from typer.testing import CliRunner

from gateway.api import create_app
from gateway.cli import app as cli
from gateway.config import Settings

runner = CliRunner(env={"COLUMNS": "300"})


async def test_the_printed_link_signs_the_citizen_in(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["sign-in-link", "--cpr", "2509479989", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("http://127.0.0.1:8080/app/sign-in/")
    app = create_app(Settings(data_dir=tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        path = link.removeprefix("http://127.0.0.1:8080")
        assert (await client.post(path)).headers["location"] == "/app/mig"
        assert (await client.post(path)).status_code == 400


def test_unknown_clients_and_bad_cpr_numbers_are_refused(tmp_path: Path) -> None:
    (tmp_path / "clients.yaml").write_text(yaml.safe_dump({"clients": []}), "utf-8")
    unknown = runner.invoke(cli, ["sign-in-link", "--client", "nobody", "--data-dir", str(tmp_path)])
    assert unknown.exit_code == 1 and "not registered" in unknown.output
    bad = runner.invoke(cli, ["sign-in-link", "--cpr", "3299999999", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "valid DDMM" in bad.output
    neither = runner.invoke(cli, ["sign-in-link", "--data-dir", str(tmp_path)])
    assert neither.exit_code == 2
