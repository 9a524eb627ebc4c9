"""Every command's help speaks to a person: no Python type names, choices spelled out, its settings listed."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fixtures.receiver import ReceiverSettings
from gateway import __version__
from gateway.cli import app
from gateway.config import Settings

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
#: What typer >= 0.27 prints for a parameter's type: `<str>`, `<bool>`, `<list[Path]>`, `<int>` (issue 17).
PYTHON_TYPE = re.compile(r"<(str|int|float|bool|path|Path|list\[[^\]]*\]|[a-z]+\|[a-z|]+)>")


def commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under a (typer's own click) group, groups included."""
    found = [prefix]
    for name, command in group.commands.items():
        found += commands(command, (*prefix, name)) if hasattr(command, "commands") else [(*prefix, name)]
    return found


COMMANDS = commands(typer.main.get_group(app))


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command) or "gateway")
def test_help_names_no_python_types_and_no_source_files(command: tuple[str, ...]) -> None:
    text = help_of(*command)
    assert not PYTHON_TYPE.search(text), PYTHON_TYPE.search(text)
    assert not re.search(r"\w+/\w+\.py\b", text), "help points at a source file"


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        (("convert",), "[json|xml]"),
        (("fixtures", "serve"), "[gp|municipality|both]"),
        (("messages", "list"), "[pending|sending|sent|acknowledged|dead]"),
    ],
)
def test_help_spells_out_the_choices(command: tuple[str, ...], choices: str) -> None:
    assert choices in help_of(*command)


def test_serve_help_lists_every_setting() -> None:
    text = " ".join(help_of("serve").split())
    missing = [name for name in Settings.model_fields if f"GATEWAY_{name.upper()}" not in text]
    assert not missing


def test_fixture_help_lists_every_fixture_setting() -> None:
    text = help_of("fixtures", "serve")
    missing = [name for name in ReceiverSettings.model_fields if f"FIXTURE_{name.upper()}" not in text]
    assert not missing


DATABASE_COMMANDS = [c for c in COMMANDS if c[:1] in (("messages",), ("db",)) and len(c) > 1] + [("worker",)]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_database_commands_name_their_settings(command: tuple[str, ...]) -> None:
    text = help_of(*command)
    assert "GATEWAY_DATABASE_URL" in text and "GATEWAY_DATA_DIR" in text


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"gateway {__version__}\n")
