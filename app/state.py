"""The engine, cached once per server process, and sessions for one user action."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, tzinfo

import sqlalchemy as sa
import streamlit as st
from sqlmodel import Session

from core import Actor, clock, load_demo_data, open_engine, party_count, read_session, transaction

DEMO_ENV = "INVOICE_DESK_DEMO"


@st.cache_resource(show_spinner="Opening the database...")
def engine() -> sa.Engine:
    eng = open_engine()
    if os.environ.get(DEMO_ENV) == "1":
        with transaction(eng) as s:
            if party_count(s) == 0:
                load_demo_data(s)
    return eng


@contextmanager
def reading() -> Iterator[Session]:
    with read_session(engine()) as s:
        yield s


@contextmanager
def writing() -> Iterator[Session]:
    """One user action: one transaction; cached reads are cleared after it commits."""
    with transaction(engine()) as s:
        yield s
    st.cache_data.clear()


@st.cache_data(ttl=60, show_spinner=False)
def practice_zone() -> tzinfo:
    """Settings > Time zone; every write clears it with the other cached reads."""
    with reading() as s:
        return clock.zone(s)


def today() -> date:
    """The practice's today (Settings > Time zone), the default of every date a manager picks."""
    return clock.now().astimezone(practice_zone()).date()


def local_time(moment: datetime) -> str:
    """A stored moment (UTC) as the practice's wall clock reads it: 2026-11-27 14:05."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(practice_zone()):%Y-%m-%d %H:%M}"


def actor() -> str | Actor:
    """Who is acting: the signed-in person with their role, or local mode's user (app.auth)."""
    from app import auth

    return auth.current()


ROUTED = "_invoice_desk_routed"


def routed_run() -> None:
    """Called by the router before it runs a page: this run came through st.navigation."""
    st.session_state[ROUTED] = True


def require_router() -> None:
    """First line of every page: a page file run without the router reruns through it.

    With a pages/ folder beside the entry point, a fresh server starts in Streamlit's legacy
    multipage mode until st.navigation has run once: the first visit after a start, if it is a deep
    link (/employer?party_id=6), runs the page file alone. The page then switches the legacy mode
    off and reruns, so the same URL comes back through the router with its search box and banner.
    """
    if st.session_state.pop(ROUTED, False):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except ImportError:  # a Streamlit without the legacy mode
        pass
    st.rerun()
