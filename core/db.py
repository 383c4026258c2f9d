"""Opening the database: engine set-up for SQLite and PostgreSQL, migrations to head, sessions."""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import os
import threading
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pydantic import ConfigDict, TypeAdapter, ValidationError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.errors import ConcurrencyError, InvoiceDeskError

DATABASE_URL_ENV = "INVOICE_DESK_DATABASE_URL"
DEFAULT_SQLITE_FILE = "invoice_desk.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "invoice_desk_read_only"
# Any constant works; it only has to be the same for every app server of one deployment.
_PG_MIGRATION_LOCK = 7_274_201

_upgrade_lock = threading.Lock()


def database_url(url: str | None = None) -> str:
    """The URL given, else INVOICE_DESK_DATABASE_URL, else a SQLite file in the working folder."""
    url = url or os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def open_engine(url: str | None = None, *, migrate: bool = True) -> Engine:
    """An engine for the URL (see database_url), with the schema brought to the newest migration."""
    url = database_url(url)
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _configure_sqlite(engine)
        else:
            # Stored moments are UTC whatever zone the server or the practice is in. Every statement is planned for
            # its own values: psycopg prepares a statement after its fifth run, and PostgreSQL's generic plan for
            # a contains-search cannot know how rare the text is, so a history page went from 12 ms to 48 ms once
            # prepared (issue 16).
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args={
                "options": "-c timezone=UTC -c plan_cache_mode=force_custom_plan"})
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise InvoiceDeskError(f"{url.split('@')[-1][:200]!r} is not a database URL Invoice Desk can open "
                               "(sqlite:///path/desk.db or postgresql+psycopg://user:password@host/name).") from exc
    if migrate:
        try:
            upgrade(engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            where = engine.url.render_as_string(hide_password=True)
            engine.dispose()
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
            hint = " (does its folder exist?)" if url.startswith("sqlite") else ""
            raise InvoiceDeskError(f"Cannot open the database {where}: {reason}{hint}.") from exc
    return engine


def _configure_sqlite(engine: Engine) -> None:
    # SQLAlchemy's recipe: let SQLAlchemy, not pysqlite, emit BEGIN, and make writes IMMEDIATE so two
    # writers queue on the busy timeout instead of failing half-way with "database is locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # A REPLACE that removes a row fires its delete triggers, which refuse it on the ledger and the audit log.
        cursor.execute("PRAGMA recursive_triggers = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to a revision (head by default), once even if several servers start at once."""
    cfg = alembic_config(engine)
    try:
        with _upgrade_lock, engine.connect() as conn:
            # SQLite's way to change a table is to copy it and swap; with foreign keys on, dropping a table that
            # others point at fails. They are off for the migration (it cannot change inside a transaction) and
            # a migration that copies tables checks them itself (PRAGMA foreign_key_check) before it commits.
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
            finally:
                if sqlite:
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise InvoiceDeskError(
            f"The database needs migrating to {revision}, and {engine.url.username or 'this role'} may not change "
            "the schema (the app's role owns no table). Run `./desk migrate` with INVOICE_DESK_DATABASE_URL set "
            "to the schema owner's URL, then start the app again.") from exc


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no head revision"
    return head


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One user action: commit when the block ends, roll everything back when it raises.

    A database error a race can cause (a lock wait that gave up, a deadlock, a number or an encounter
    taken at the same moment) reaches the caller as ConcurrencyError; nothing is ever half-saved.
    """
    with new_session(engine) as session:
        try:
            yield session
            session.commit()
        except sa.exc.DBAPIError as exc:
            session.rollback()
            raise database_error(exc) from exc
        except BaseException:
            session.rollback()
            raise


_log = logging.getLogger("invoice_desk")
# PostgreSQL SQLSTATEs that mean "someone else got there first": retrying the whole action is safe.
_RACE_STATES = {
    "40001": "another manager's change to the same records was saved first",  # serialization_failure
    "40P01": "two managers' changes waited on each other",  # deadlock_detected
    "55P03": "the records are being changed by another manager",  # lock_not_available
    "57014": "the database took too long waiting for another manager's change",  # query_canceled
    "23505": "another manager saved the same record at the same moment",  # unique_violation
}


def database_error(exc: sa.exc.DBAPIError) -> InvoiceDeskError:
    """The manager's words for a database error: ConcurrencyError for a race, InvoiceDeskError otherwise."""
    state = getattr(exc.orig, "sqlstate", None)
    text = str(exc.orig).lower()
    if state in _RACE_STATES:
        why = _RACE_STATES[state]
    elif "database is locked" in text or "database is busy" in text:
        why = "another manager's change held the database longer than the wait allows"
    elif "unique constraint failed" in text:
        why = _RACE_STATES["23505"]
    else:
        _log.error("database error reached core's guard", exc_info=exc)
        if isinstance(exc, sa.exc.OperationalError):
            return InvoiceDeskError("The database could not be reached or gave up on this action; nothing was "
                                    "saved. Try again in a moment; if it keeps happening, tell your administrator.")
        return InvoiceDeskError("The database refused this change, so nothing was saved. This should not "
                                "happen; please tell your administrator what you were doing.")
    return ConcurrencyError(f"Nothing was saved: {why}. Look again at the figures and retry.")


P = ParamSpec("P")
R = TypeVar("R")
_BIGINT = 2**63 - 1
_KINDS = {int: "a whole number", str: "text", bool: "True or False", float: "a number", Decimal: "an amount",
          date: "a date", datetime: "a moment (a datetime)", bytes: "bytes", type(None): "nothing (None)"}


# Kinds of argument checked before the call as well: ids, counts and dates, which SQLite would compare with
# anything (finding nothing) where PostgreSQL refuses the statement. Text, flags and amounts each have a check
# of their own, in their own words (core.validation, core.money).
_CHECKED_FIRST = (int, date, datetime)


def _checked_first(hint: object) -> bool:
    members = [h for h in (typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType)
                           else (hint,)) if h is not type(None)]
    return bool(members) and all(h in _CHECKED_FIRST or (typing.get_origin(h) is list and typing.get_args(h) == (int,))
                                 for h in members)


@functools.cache
def _first(fn: Callable) -> frozenset[str]:
    """The parameters checked before the call (see _CHECKED_FIRST)."""
    hints = typing.get_type_hints(fn)
    return frozenset(name for name in _adapters(fn) if _checked_first(hints.get(name)))


@functools.cache
def _adapters(fn: Callable) -> dict[str, tuple[TypeAdapter, str]]:
    """Per keyword-only parameter: a strict pydantic validator of its annotation, and its words for the message."""
    hints = typing.get_type_hints(fn)
    out = {}
    for position, param in enumerate(inspect.signature(fn).parameters.values()):
        hint = hints.get(param.name)
        checked = param.kind is param.KEYWORD_ONLY or (param.kind is param.POSITIONAL_OR_KEYWORD and position > 0)
        if checked and hint is not None and hint is not typing.Any:
            config = ConfigDict(strict=True, arbitrary_types_allowed=True)
            out[param.name] = (TypeAdapter(hint, config=config), _describe(hint))
    return out


def _describe(hint: object) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(h) for h in typing.get_args(hint) if h.__class__.__name__ != "EnumMeta"
                                         and h is not type(None))) or "nothing"
    if origin in (list, tuple, set):
        return "a list of " + _describe(typing.get_args(hint)[0]).removeprefix("a ").removeprefix("an ")
    if origin is dict:
        return "a mapping of ids to amounts" if typing.get_args(hint)[0] is int else "a mapping"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(str(v.value) for v in hint)
    return _KINDS.get(hint, getattr(hint, "__name__", str(hint)))  # type: ignore[call-overload]


def _too_big(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > _BIGINT
    if isinstance(value, (list, tuple, set)):
        return any(_too_big(v) for v in value)
    if isinstance(value, dict):
        return any(_too_big(k) or _too_big(v) for k, v in value.items())
    return False


@functools.cache
def _signature(fn: Callable) -> inspect.Signature:
    return inspect.signature(fn)


def _named(fn: Callable, args: tuple, kwargs: dict[str, object]) -> dict[str, object]:
    """Every argument by its parameter's name (the session, first, is not checked)."""
    if len(args) <= 1:
        return kwargs
    try:
        return dict(_signature(fn).bind_partial(*args, **kwargs).arguments)
    except TypeError:
        return kwargs  # a call Python itself will refuse


def _argument_problem(fn: Callable, kwargs: dict[str, object], *, before: bool = False) -> str | None:
    """The first argument that does not fit its annotation, in words; None when they all fit.

    Before the call a None is left to the function, which says what is required in its own words.
    """
    for name, value in kwargs.items():
        checker = _adapters(fn).get(name)
        if checker is None or (before and (value is None or name not in _first(fn))):
            continue
        if name in ("limit", "offset") and isinstance(value, int) and not isinstance(value, bool) and value < 0:
            return f"{name.capitalize()} {value} is below zero; use 0 or more."
        adapter, expected = checker
        label = name.replace("_", " ").capitalize()
        try:
            adapter.validate_python(value, strict=True)
        except ValidationError:
            return f"{label} {_shown(value)} is not {expected}."
        if _too_big(value):
            return f"{label} {_shown(value)} is larger than any id or number the database holds."
    return None


def _shown(value: object) -> str:
    text = repr(value).replace("\\x00", "")
    return text if len(text) <= 40 else text[:37] + "..."


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """A public core function answers with its result or an InvoiceDeskError, never a raw error.

    A database error becomes InvoiceDeskError (ConcurrencyError for a race). A Python error from a value of the
    wrong kind (a list where an id goes, an id beyond BIGINT) becomes a message naming that argument and what it
    must be, found by checking every argument against its annotation. Either way the session's transaction is
    rolled back, so a caller that commits anyway saves nothing of the refused action.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # Checked before the call too, so both databases answer alike: SQLite would compare 'abc' with an id
        # and find nothing where PostgreSQL refuses the statement.
        problem = _argument_problem(fn, _named(fn, args, kwargs), before=True)
        if problem:
            raise InvoiceDeskError(problem)
        try:
            return fn(*args, **kwargs)
        except InvoiceDeskError:
            raise
        except sa.exc.DBAPIError as exc:
            _rollback(args, kwargs)
            problem = _argument_problem(fn, _named(fn, args, kwargs))
            raise (InvoiceDeskError(problem) if problem else database_error(exc)) from exc
        except _WRONG_KIND as exc:
            _rollback(args, kwargs)
            problem = _argument_problem(fn, _named(fn, args, kwargs))
            if problem is None:
                _log.error("a Python error reached core's guard", exc_info=exc)
                problem = ("This could not be done with the values given, so nothing was changed. Check them and "
                           "try again; if it keeps happening, tell your administrator.")
            raise InvoiceDeskError(problem) from exc

    return wrapper


# What a value of the wrong kind makes Python or SQLAlchemy raise before (or instead of) a database error.
_WRONG_KIND = (TypeError, ValueError, OverflowError, AttributeError, ArithmeticError, LookupError,
               sa.exc.StatementError, sa.exc.ArgumentError)


def _rollback(args: tuple, kwargs: dict) -> None:
    session = args[0] if args else kwargs.get("session")
    if isinstance(session, Session):
        session.rollback()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reading only; on SQLite it does not queue behind writers.

    It ends by closing, not rolling back: closing releases the transaction without expiring what was
    read, so records it returned stay readable after the block.
    """
    with new_session(engine) as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


def get_record(session: Session, model, record_id):
    """The record with that id, or None when there is none or the value is not an id (True is not record 1)."""
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        return None
    return session.get(model, record_id)


def expire_loaded(session: Session, model: type, ids: Iterable[int] | None = None) -> None:
    """Expire loaded instances of rows a set-based statement just changed, so callers never read stale values.

    With ids=None every loaded instance of the model is expired.
    """
    wanted = None if ids is None else set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, model) and (wanted is None or getattr(obj, "id", None) in wanted):
            session.expire(obj)
