"""Page sessions: single-use sign-in links and server-side sessions behind an opaque cookie.

- A sign-in link (`gateway sign-in-link`) carries a random token; only its SHA-256 is stored, with its kind
  (citizen or organisation), its subject (the CPR number or the registered client id) and a short expiry. Redeeming
  it marks it used in the same statement that checks it (`UPDATE ... WHERE used_at IS NULL`), so two clicks cannot
  both open a session.
- A session is a row keyed by the SHA-256 of the cookie's value (OWASP Session Management Cheat Sheet: the id is
  meaningless, unguessable and stored server-side), with its own CSRF token (synchronizer token pattern), an idle
  timeout and an absolute lifetime; signing out deletes the row.
- A pending OpenID Connect login (state, nonce and PKCE verifier) is kept the same way, keyed by the hash of
  `state`, so the browser holds nothing but the state the identity provider hands back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypeVar

from sqlalchemy import Connection, Engine, delete, insert, select, update

from gateway.clock import Clock, SecretSource
from gateway.store.database import IMMEDIATE
from gateway.store.dates import format_instant
from gateway.store.tables import web_session, web_sign_in

SessionKind = Literal["citizen", "organisation"]
#: How stale `last_seen_at` may get before a request writes it again (the idle timeout's resolution).
TOUCH = timedelta(minutes=1)
T = TypeVar("T")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: a citizen (subject = CPR number) or an organisation's user (subject = client id)."""

    kind: SessionKind
    subject: str
    csrf: str
    token_hash: str

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(submitted, self.csrf)


@dataclass(frozen=True, slots=True)
class SessionTimes:
    link: timedelta
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the callback of an OpenID Connect login needs back (OpenID Connect Core 1.0 §3.1.2, RFC 7636)."""

    nonce: str
    code_verifier: str
    kind: SessionKind = "citizen"


class SessionStore:
    def __init__(self, engine: Engine, clock: Clock, secrets: SecretSource, times: SessionTimes) -> None:
        self.engine = engine
        self.clock = clock
        self.secrets = secrets
        self.times = times

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{IMMEDIATE: True})
            with connection.begin():
                return work(connection)

    # -- sign-in links -----------------------------------------------------------------------------------------

    def create_link(self, kind: SessionKind, subject: str) -> str:
        """A new single-use sign-in token; the caller prints it inside a URL and forgets it."""
        token = self.secrets.new_secret()
        self._insert_sign_in(token, kind, subject, self.times.link)
        return token

    def _insert_sign_in(self, token: str, kind: str, subject: str, lifetime: timedelta) -> None:
        expires = format_instant(self.clock.now() + lifetime)
        row = {"token_hash": token_hash(token), "kind": kind, "subject": subject, "expires_at": expires}
        self._write(lambda connection: connection.execute(insert(web_sign_in).values(**row)))

    def _redeem(self, token: str, kinds: tuple[str, ...]) -> tuple[str, str] | None:
        now = format_instant(self.clock.now())
        hashed = token_hash(token)

        def work(connection: Connection) -> tuple[str, str] | None:
            claimed = connection.execute(
                update(web_sign_in)
                .where(
                    web_sign_in.c.token_hash == hashed,
                    web_sign_in.c.used_at.is_(None),
                    web_sign_in.c.expires_at > now,
                    web_sign_in.c.kind.in_(kinds),
                )
                .values(used_at=now)
            )
            if claimed.rowcount != 1:
                return None
            row = connection.execute(
                select(web_sign_in.c.kind, web_sign_in.c.subject).where(web_sign_in.c.token_hash == hashed)
            ).one()
            return str(row.kind), str(row.subject)

        return self._write(work)

    def redeem_link(self, token: str) -> tuple[str, Session] | None:
        """A new session for a valid, unused, unexpired link (which is used up); None otherwise."""
        found = self._redeem(token, ("citizen", "organisation"))
        if found is None:
            return None
        kind, subject = found
        return self.open(kind, subject)  # type: ignore[arg-type]

    # -- pending OpenID Connect logins --------------------------------------------------------------------------

    def remember_login(self, state: str, pending: PendingLogin) -> None:
        data = json.dumps({"nonce": pending.nonce, "code_verifier": pending.code_verifier, "kind": pending.kind})
        self._insert_sign_in(state, "oidc", data, self.times.link)

    def recall_login(self, state: str) -> PendingLogin | None:
        found = self._redeem(state, ("oidc",))
        if found is None:
            return None
        data = json.loads(found[1])
        kind: SessionKind = "organisation" if data.get("kind") == "organisation" else "citizen"
        return PendingLogin(str(data["nonce"]), str(data["code_verifier"]), kind)

    # -- sessions ----------------------------------------------------------------------------------------------

    def open(self, kind: SessionKind, subject: str) -> tuple[str, Session]:
        """A new session: (the cookie value, the session)."""
        token, csrf = self.secrets.new_secret(), self.secrets.new_secret()
        now = self.clock.now()
        row = {
            "token_hash": token_hash(token),
            "kind": kind,
            "subject": subject,
            "csrf": csrf,
            "created_at": format_instant(now),
            "last_seen_at": format_instant(now),
            "expires_at": format_instant(now + self.times.absolute),
        }

        def work(connection: Connection) -> None:
            # Sign-in is also when the dead rows go: ended sessions and links past their time (used or not).
            stale = format_instant(now - self.times.idle)
            connection.execute(
                delete(web_session).where(
                    (web_session.c.expires_at <= row["created_at"]) | (web_session.c.last_seen_at < stale)
                )
            )
            connection.execute(delete(web_sign_in).where(web_sign_in.c.expires_at <= row["created_at"]))
            connection.execute(insert(web_session).values(**row))

        self._write(work)
        return token, Session(kind, subject, csrf, row["token_hash"])

    def get(self, token: str | None) -> Session | None:
        """The live session behind a cookie value (its idle clock restarted), or None (unknown, idle, expired).

        Reading a session is a read; its `last_seen_at` is written at most once a minute (TOUCH), so a page view
        does not serialise on a write lock (SQLite has one writer)."""
        if not token:
            return None
        hashed = token_hash(token)
        now = self.clock.now()
        with self.engine.connect() as connection, connection.begin():
            row = connection.execute(select(web_session).where(web_session.c.token_hash == hashed)).first()
        if row is None:
            return None
        if row.expires_at <= format_instant(now) or row.last_seen_at < format_instant(now - self.times.idle):
            self._write(lambda c: c.execute(delete(web_session).where(web_session.c.token_hash == hashed)))
            return None
        if row.last_seen_at < format_instant(now - TOUCH):
            self._write(
                lambda c: c.execute(
                    update(web_session)
                    .where(web_session.c.token_hash == hashed)
                    .values(last_seen_at=format_instant(now))
                )
            )
        return Session(row.kind, row.subject, row.csrf, hashed)

    def close(self, session: Session) -> None:
        self._write(
            lambda connection: connection.execute(
                delete(web_session).where(web_session.c.token_hash == session.token_hash)
            )
        )
