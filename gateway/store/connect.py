"""Opening the database for a command: one-line errors a person can act on, and what a migration did.

SQLAlchemy's URL errors and the drivers' connection errors are translated here, at this seam, into `IssueError`s
with a stable message id (`database.*`); the CLI prints their diagnostics as one line and the traceback only with
`--debug`. Commands that only read (`gateway messages ...`) open with `create=False`: a SQLite file that does not
exist is an error naming the folder, not a new empty database, and a schema that is not current is an error
naming `gateway db upgrade` (they never migrate behind an operator's back). `gateway serve`, `gateway worker` and
`gateway db upgrade` migrate; `upgrade_reporting` says what that did.
"""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from gateway.store.database import alembic_config, make_engine, upgrade
from mappings.issues import IssueCode, IssueError

WHERE_FROM = "--database-url / GATEWAY_DATABASE_URL, or --data-dir / GATEWAY_DATA_DIR for SQLite"


def _problem(code: IssueCode, message_id: str, text: str) -> IssueError:
    return IssueError.single(code, text, message_id=message_id)


def describe(url: URL) -> str:
    """How a database is named to a person: the SQLite file, or the URL without its password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def open_database(url: str, *, create: bool) -> Engine:
    """An engine on `url` whose database answers; `IssueError` (one line, `database.*`) when it does not.

    `create=False` refuses a SQLite file that does not exist instead of creating an empty one.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _problem(
            "invalid",
            "database.url-invalid",
            f"{url!r} is not a database URL; expected e.g. postgresql+psycopg://user@host:5432/db or "
            f"sqlite:///path/gateway.db ({WHERE_FROM})",
        ) from None
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file not in (None, "", ":memory:") and not create and not Path(str(sqlite_file)).is_file():
        raise _problem(
            "not-found",
            "database.missing",
            f"No database at {sqlite_file}: run this where `gateway serve` ran, name its data folder with "
            "--data-dir / GATEWAY_DATA_DIR, or create one with `gateway db upgrade`",
        )
    try:
        engine = make_engine(url)
    except NoSuchModuleError:
        raise _problem(
            "invalid",
            "database.url-unknown-kind",
            f"{parsed.drivername!r} in {describe(parsed)} is not a database kind this gateway knows; use "
            "postgresql+psycopg://... or sqlite:///...",
        ) from None
    except OSError as error:
        raise _problem(
            "exception", "database.unopenable", f"Cannot create the folder for {describe(parsed)}: {error.strerror}"
        ) from None
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        engine.dispose()
        raise _connection_problem(parsed, error) from None
    return engine


def _connection_problem(url: URL, error: OperationalError) -> IssueError:
    """The driver's reason, in one line, with what to do about it."""
    reason = " ".join(str(error.orig).split())
    if url.get_backend_name() == "sqlite":
        return _problem(
            "exception", "database.unopenable", f"Cannot open the SQLite database {describe(url)}: {reason}"
        )
    server = f"{url.host or 'localhost'}:{url.port or 5432}"
    if f'database "{url.database}" does not exist' in reason:
        return _problem(
            "not-found",
            "database.missing",
            f"The database {url.database!r} does not exist on the PostgreSQL server at {server}: create it "
            f"(createdb -h {url.host or 'localhost'} {url.database}) or correct {WHERE_FROM.split(',')[0]}",
        )
    if "authentication failed" in reason or ("role" in reason and "does not exist" in reason):
        return _problem(
            "security", "database.refused", f"The PostgreSQL server at {server} refused user {url.username!r}: {reason}"
        )
    return _problem(
        "transient",
        "database.unreachable",
        f"Cannot reach the PostgreSQL server at {server} ({_short(reason)}): is it running, and is "
        f"{WHERE_FROM.split(',')[0]} right?",
    )


def _short(reason: str) -> str:
    for known in ("Connection refused", "timeout expired", "Name or service not known", "No route to host"):
        if known.lower() in reason.lower():
            return known.lower()
    return reason


def schema_revision(engine: Engine) -> str | None:
    """The database's migration revision; `None` for a database without the gateway's schema."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _scripts(engine: Engine) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))


def _refuse_unknown(engine: Engine, current: str | None, scripts: ScriptDirectory) -> None:
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise _problem(
            "not-supported",
            "database.schema-newer",
            f"The database {describe(engine.url)} has schema revision {current}, newer than this gateway knows "
            f"({scripts.get_current_head()}): install the newer gateway",
        )


def require_current_schema(engine: Engine) -> None:
    """Refuse a database whose schema is missing, older or newer than this gateway's (read-only commands)."""
    scripts = _scripts(engine)
    current, newest = schema_revision(engine), scripts.get_current_head()
    _refuse_unknown(engine, current, scripts)
    if current == newest:
        return
    state = "has no gateway schema yet" if current is None else f"has schema revision {current}, not {newest}"
    raise _problem(
        "not-supported",
        "database.unmigrated",
        f"The database {describe(engine.url)} {state}: run `gateway db upgrade` (or start `gateway serve`, "
        "which migrates)",
    )


def upgrade_reporting(engine: Engine) -> str:
    """Migrate to the newest schema and say what happened: created, migrated from X to Y, or already current."""
    scripts = _scripts(engine)
    before = schema_revision(engine)
    _refuse_unknown(engine, before, scripts)
    upgrade(engine)
    after = schema_revision(engine)
    where = describe(engine.url)
    if before is None:
        return f"database {where}: created (schema revision {after})"
    if before == after:
        return f"database {where}: already current (schema revision {after})"
    return f"database {where}: migrated from schema revision {before} to {after}"


__all__ = ["describe", "open_database", "require_current_schema", "schema_revision", "upgrade_reporting"]
