"""A whole-database fingerprint, and the check every refusal test makes with it.

A refused action must change nothing, even for a caller who catches the error and commits anyway
(a notebook cell does exactly that). So the check commits the caller's session after the refusal and
compares every row of every table, read on a connection of its own, with what was there before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import InvoiceDeskError

# SQLite's FTS5 index mirrors batch_item (its shadow tables too); sqlite_* are SQLite's own.
_SKIP_PREFIXES = ("batch_item_fts", "sqlite_")


# Reflected tables per database; a test never changes the schema, so reflect once per engine.
_reflected: dict[str, list[sa.Table]] = {}


def _tables(engine: Engine, conn: sa.Connection) -> list[sa.Table]:
    key = engine.url.render_as_string(hide_password=False)
    if key not in _reflected:
        metadata = sa.MetaData()
        names = [n for n in sa.inspect(conn).get_table_names() if not n.startswith(_SKIP_PREFIXES)]
        metadata.reflect(conn, only=names)
        _reflected[key] = [metadata.tables[n] for n in sorted(names)]
    return _reflected[key]


def fingerprint(engine: Engine) -> dict[str, str]:
    """Table name -> SHA-256 of all its rows in primary-key order, as committed."""
    digests: dict[str, str] = {}
    with engine.connect() as conn:
        for table in _tables(engine, conn):
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa.select(table).order_by(*order)).all()
            digests[table.name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    return digests


def commit_anyway(session: Session) -> None:
    """What a careless caller does after catching a refusal: commit whatever the session holds."""
    try:
        session.commit()
    except (sa.exc.InvalidRequestError, sa.exc.DBAPIError):
        session.rollback()


def assert_refused_unchanged(session: Session, action: Callable[[], object], match: str) -> InvoiceDeskError:
    """The action raises InvoiceDeskError matching `match`, and the database is exactly as before."""
    session.commit()
    engine = session.get_bind()
    before = fingerprint(engine)
    with pytest.raises(InvoiceDeskError, match=match) as refused:
        action()
    assert str(refused.value).strip(), "a refusal must say why"
    commit_anyway(session)
    after = fingerprint(engine)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"a refused action changed {changed}"
    return refused.value
