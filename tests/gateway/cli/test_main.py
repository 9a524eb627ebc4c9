"""`gateway` failures read as one actionable line (the traceback only with `--debug`); `db upgrade` says what it did.

Each case runs `gateway.cli.main` as the console script does, with its own arguments and environment.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from gateway.cli import main
from gateway.store.database import alembic_config, make_engine
from mappings.issues import IssueError
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    return tmp_path / "data"


def gateway(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `gateway ARGS...`."""
    argv = sys.argv
    sys.argv = ["gateway", *args]
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


def one_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, _, err = gateway(capsys, *args)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense", "'nonsense' is not a database URL; expected e.g. postgresql+psycopg://"),
        ("postgres://me@127.0.0.1/gateway", "'postgres' in postgres://me@127.0.0.1/gateway is not a database kind"),
        ("postgresql+psycopg://me@127.0.0.1:1/gateway", "Cannot reach the PostgreSQL server at 127.0.0.1:1 (conn"),
    ],
)
def test_database_url_problems_are_one_line(
    capsys: pytest.CaptureFixture[str], data_dir: Path, url: str, says: str
) -> None:
    assert says in one_error(capsys, "messages", "list", "--database-url", url)


@pytest.mark.postgres
def test_a_missing_postgresql_database_says_how_to_create_it(
    capsys: pytest.CaptureFixture[str], data_dir: Path, postgres_url: str
) -> None:
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/no_such_gateway_db"
    line = one_error(capsys, "db", "upgrade", "--database-url", url)
    assert "The database 'no_such_gateway_db' does not exist on the PostgreSQL server at 127.0.0.1:5432" in line
    assert "createdb -h 127.0.0.1 no_such_gateway_db" in line


def test_reading_commands_never_create_a_database(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    line = one_error(capsys, "messages", "list")
    assert line.startswith(f"Error: No database at {data_dir / 'gateway.db'}: run this where `gateway serve` ran")
    assert not data_dir.exists()


def test_an_unmigrated_database_names_db_upgrade(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    data_dir.mkdir()
    sqlite3.connect(data_dir / "gateway.db").close()
    line = one_error(capsys, "messages", "list")
    assert line.endswith(
        "has no gateway schema yet: run `gateway db upgrade` (or start `gateway serve`, which migrates)"
    )


def test_a_database_newer_than_the_gateway_is_refused(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    assert gateway(capsys, "db", "upgrade")[0] == 0
    with sqlite3.connect(data_dir / "gateway.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    line = one_error(capsys, "db", "upgrade")
    assert "has schema revision 9999, newer than this gateway knows" in line


def test_db_upgrade_says_created_migrated_or_current(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    where = data_dir / "gateway.db"
    engine = make_engine(f"sqlite:///{where}")
    config = alembic_config(str(engine.url))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert gateway(capsys, "db", "upgrade") == (0, f"database {where}: created (schema revision {head})\n", "")
    assert gateway(capsys, "db", "upgrade") == (0, f"database {where}: already current (schema revision {head})\n", "")
    command.downgrade(config, "0001")
    engine.dispose()
    assert gateway(capsys, "db", "upgrade")[1] == f"database {where}: migrated from schema revision 0001 to {head}\n"


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    sys.argv, argv = ["gateway", "--debug", "messages", "list", "--database-url", "nonsense"], sys.argv
    try:
        with pytest.raises(IssueError, match="is not a database URL"):
            main()
    finally:
        sys.argv = argv


def test_an_unreadable_client_registry_is_one_line_with_its_place(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    data_dir.mkdir()
    (data_dir / "clients.yaml").write_text("clients: [\n  {client_id: a\n", "utf-8")
    line = one_error(capsys, "token", "create")
    assert line.startswith(f"Error: Client registry {data_dir / 'clients.yaml'} is not valid YAML/JSON: line 3,")


def test_a_signing_key_others_can_read_is_refused_with_the_fix(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    assert gateway(capsys, "token", "create")[0] == 0
    key = data_dir / "keys" / "signing-key.pem"
    os.chmod(key, 0o644)
    line = one_error(capsys, "token", "create")
    assert line == f"Error: The signing key {key} is readable by other users; run: chmod 600 {key}"


def test_serve_refuses_to_start_on_an_unreadable_directory(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "directory.yaml"
    directory.write_text("recipients:\n  - name: [unclosed\n", "utf-8")
    monkeypatch.setenv("GATEWAY_DIRECTORY_FILE", str(directory))
    line = one_error(capsys, "serve", "--port", "1")
    assert line.startswith(f"Error: Recipient directory {directory} is not valid YAML/JSON: line 3,")


ENGINE = ("clients", "add", "region-integration", "--name", "Integrationsplatform", "--sor", "265161000016000",
          "--gln", "5790000209354", "--scope", "system/Messages.c")  # fmt: skip


def test_clients_add_registers_an_engine_that_sends_for_a_department(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gateway.security.clients import ClientRegistry

    code, out, err = gateway(capsys, *ENGINE, "--sends-as", "329631000016003", "--data-dir", str(tmp_path))
    assert code == 0, err
    engine = ClientRegistry.from_file(tmp_path / "clients.yaml").get("region-integration")
    assert engine is not None and engine.sends_as == {"329631000016003"}


def test_clients_add_refuses_a_sender_that_is_no_sor_code_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = one_error(capsys, *ENGINE, "--sends-as", "Afsnit Ø", "--data-dir", str(tmp_path))
    assert line == "Error: 'Afsnit Ø' is not a SOR code (11-18 digits)"
    assert not (tmp_path / "clients.yaml").exists()


def test_a_lease_no_longer_than_a_send_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A send still running when its lease ends is claimed again and sent twice: the settings say so at start."""
    monkeypatch.setenv("GATEWAY_DELIVERY_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("GATEWAY_DELIVERY_LEASE_SECONDS", "30")
    line = one_error(capsys, "messages", "list", "--data-dir", str(tmp_path))
    assert line.startswith("Error: settings: Value error, delivery_lease_seconds (30) must be longer than ")


def test_a_setting_of_the_wrong_kind_is_named_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "eighty")
    line = one_error(capsys, "messages", "list", "--data-dir", str(tmp_path))
    assert line == "Error: setting port: Input should be a valid integer, unable to parse string as an integer"
