"""Sign-in links and sessions: single use, short-lived, idle timeout, and only hashes in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.clock import FixedClock, SequenceSecrets
from gateway.store.database import make_engine, upgrade
from gateway.store.tables import web_session, web_sign_in
from gateway.web.sessions import PendingLogin, SessionStore, SessionTimes

TIMES = SessionTimes(link=timedelta(minutes=10), idle=timedelta(minutes=15), absolute=timedelta(hours=8))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock) -> SessionStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade(engine)
    return SessionStore(engine, clock, SequenceSecrets(), TIMES)


def test_a_link_opens_one_session_once(store: SessionStore) -> None:
    link = store.create_link("citizen", "2509479989")
    opened = store.redeem_link(link)
    assert opened is not None
    cookie, session = opened
    assert (session.kind, session.subject) == ("citizen", "2509479989")
    assert store.get(cookie) == session
    assert store.redeem_link(link) is None


def test_a_link_expires(store: SessionStore, clock: FixedClock) -> None:
    link = store.create_link("organisation", "region")
    clock.advance(TIMES.link + timedelta(seconds=1))
    assert store.redeem_link(link) is None


def test_only_hashes_are_stored(store: SessionStore) -> None:
    link = store.create_link("citizen", "2509479989")
    cookie, session = store.redeem_link(link) or ("", None)
    with store.engine.connect() as connection:
        stored = [*connection.execute(select(web_sign_in)).all(), *connection.execute(select(web_session)).all()]
    assert stored and not any(link in str(row) or cookie in str(row) for row in stored)
    assert session is not None and session.csrf not in (link, cookie)


def test_idle_sessions_end_and_active_ones_last_until_the_absolute_limit(
    store: SessionStore, clock: FixedClock
) -> None:
    idle_cookie, _ = store.open("citizen", "2509479989")
    busy_cookie, _ = store.open("citizen", "2509479989")
    for _ in range(3):
        clock.advance(TIMES.idle - timedelta(minutes=1))
        assert store.get(busy_cookie) is not None
    assert store.get(idle_cookie) is None
    clock.advance(TIMES.absolute)
    assert store.get(busy_cookie) is None


def test_sign_out_ends_the_session_and_csrf_is_compared_exactly(store: SessionStore) -> None:
    cookie, session = store.open("organisation", "region")
    assert session.csrf_ok(session.csrf) and not session.csrf_ok(session.csrf + "x") and not session.csrf_ok(None)
    store.close(session)
    assert store.get(cookie) is None


def test_a_pending_openid_login_is_recalled_once(store: SessionStore) -> None:
    store.remember_login("state-1", PendingLogin("nonce-1", "verifier-1"))
    assert store.recall_login("state-1") == PendingLogin("nonce-1", "verifier-1")
    assert store.recall_login("state-1") is None
    assert store.recall_login("never-issued") is None


def test_signing_in_clears_ended_sessions_and_old_links(store: SessionStore, clock: FixedClock) -> None:
    store.create_link("citizen", "2509479989")
    store.open("citizen", "2509479989")
    clock.advance(TIMES.absolute + timedelta(minutes=1))
    store.open("organisation", "region")
    with store.engine.connect() as connection:
        sessions = connection.execute(select(web_session.c.subject)).scalars().all()
        links = connection.execute(select(web_sign_in)).all()
    assert (sessions, links) == (["region"], [])
