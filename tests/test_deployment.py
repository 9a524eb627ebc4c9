"""The deployment recipe (compose.yaml, deploy/, Dockerfile) checked against the code, since Docker does not run
here: every command it runs exists with the options it passes, every GATEWAY_* variable is a real setting with a
valid value, nginx's upstreams are the API services, the directory loads. The same topology (two API instances,
two workers, the fixtures, one PostgreSQL) runs as real processes in tests/e2e/test_regional_scale.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from gateway.cli import app
from gateway.config import Settings
from gateway.delivery.directory import RecipientDirectory

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
GATEWAY_SERVICES = sorted(name for name, service in SERVICES.items() if service.get("image") == "careplan-gateway")


def cli_command(tokens: list[str]) -> tuple[Any, list[str]]:
    """The (click) command a `gateway ...` command line names, and the options it passes."""
    assert tokens[0] == "gateway", tokens
    command: Any = typer.main.get_command(app)
    rest = tokens[1:]
    while hasattr(command, "commands"):  # a group (typer may bring its own click: no isinstance)
        assert rest and rest[0] in command.commands, f"{tokens}: no such command"
        command, rest = command.commands[rest[0]], rest[1:]
    return command, [token for token in rest if token.startswith("--")]


def test_compose_runs_the_whole_topology() -> None:
    assert {"postgres", "redis", "migrate", "proxy", "fixtures"} <= set(SERVICES)
    apis = [n for n in GATEWAY_SERVICES if SERVICES[n]["command"][1] == "serve"]
    workers = [n for n in GATEWAY_SERVICES if SERVICES[n]["command"][1] == "worker"]
    assert len(apis) >= 2 and len(workers) >= 2
    for name, service in SERVICES.items():
        for needed in service.get("depends_on", {}):
            assert needed in SERVICES, f"{name} depends on an unknown service {needed}"
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("name", GATEWAY_SERVICES)
def test_every_gateway_command_and_option_exists(name: str) -> None:
    command, options = cli_command(SERVICES[name]["command"])
    known = {option for parameter in command.params for option in parameter.opts + parameter.secondary_opts}
    assert set(options) <= known, f"{name}: unknown options {set(options) - known}"


@pytest.mark.parametrize("name", GATEWAY_SERVICES)
def test_every_setting_is_a_real_setting_with_a_valid_value(name: str, tmp_path: Path) -> None:
    environment = SERVICES[name].get("environment", {})
    settings = {key.removeprefix("GATEWAY_").lower(): value for key, value in environment.items()}
    assert all(key.startswith("GATEWAY_") for key in environment)
    assert set(settings) <= set(Settings.model_fields), set(settings) - set(Settings.model_fields)
    Settings(**settings)  # values that would not validate fail here, as they would at start


def test_the_dockerfile_starts_a_real_command() -> None:
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text("utf-8"), re.MULTILINE)
    assert cmd is not None
    command, options = cli_command(yaml.safe_load(cmd.group(1)))
    assert set(options) <= {o for p in command.params for o in p.opts + p.secondary_opts}


def test_the_image_is_built_with_the_compiled_validator() -> None:
    """The wheel is built where a C compiler is (setup.py compiles the validator; without one the install still
    succeeds, pure Python and twice as slow), from every file the build reads."""
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    build_stage = dockerfile.split("\nFROM ")[1]  # [0] is the comment above the first stage
    assert re.search(r"apt-get install [^\n]*\bgcc\b", build_stage)
    copied = {
        name for line in re.findall(r"^COPY (?!--from)(.+) \S+$", build_stage, re.MULTILINE) for name in line.split()
    }
    assert {"pyproject.toml", "setup.py", "README.md", "gateway"} <= copied
    assert "pip wheel" in build_stage and "COPY --from=build /wheels" in dockerfile


def test_nginx_balances_over_the_api_services() -> None:
    config = (ROOT / "deploy" / "nginx.conf").read_text("utf-8")
    upstreams = re.findall(r"^\s*server (\S+):(\d+)", config, re.MULTILINE)
    apis = {n for n in GATEWAY_SERVICES if SERVICES[n]["command"][1] == "serve"}
    assert {host for host, _port in upstreams} == apis
    for host, port in upstreams:
        command = SERVICES[host]["command"]
        assert command[command.index("--port") + 1] == port
    assert "X-Forwarded-For" in config, "the failed-login limit needs the client's address"
    assert SERVICES["proxy"]["volumes"][0].startswith("./deploy/nginx.conf:")


def test_the_directory_names_the_fixture_service() -> None:
    RecipientDirectory.from_file(ROOT / "deploy" / "directory.yaml")  # loads as the gateway loads it
    data = yaml.safe_load((ROOT / "deploy" / "directory.yaml").read_text("utf-8"))
    endpoints = {recipient["endpoint"] for recipient in data["recipients"]}
    command = SERVICES["fixtures"]["command"]
    first = int(command[command.index("--port") + 1])  # --role both: the GP on the port, the municipality next
    assert endpoints == {f"http://fixtures:{port}/fhir/$process-message" for port in (first, first + 1)}
