"""The one locking rule (domain rule 15): a write that touches a party's encounters or money first locks
that party's row (several parties: in id order), and only then reads what it computes from.

On PostgreSQL the lock is `SELECT ... FOR NO KEY UPDATE` on the party rows, ordered by id, so two writers
on one party take turns and two writers on overlapping sets of parties never deadlock. Every statement
run after the lock is granted reads a snapshot that includes the previous holder's committed work (READ
COMMITTED takes a new snapshot per statement), which is why the reads come after the lock. It is NO KEY
UPDATE, not UPDATE, so rows that merely reference the party (a receipt's foreign key) are not blocked.

On SQLite every write transaction begins IMMEDIATE (core.db), so the database's one write lock is held
before the first read; the statements below cost nothing there.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import ConcurrencyError
from core.models import Party

# Bind parameters per statement when a list of ids goes into IN (...): far below SQLite's and PostgreSQL's limits.
CHUNK = 5_000
# Imports create patients and parties that no existing row guards; they take turns on this advisory key.
_IMPORT_LOCK = 7_274_202


def lock_parties(session: Session, party_ids: Iterable[int | None]) -> list[int]:
    """Lock the rows of these parties, lowest id first; returns the ids that exist, in that order."""
    ids = sorted({i for i in party_ids if i is not None})
    p = Party.__table__
    locked: list[int] = []
    # In ascending chunks, so a whole file's parties keep the global order and no statement has too many parameters.
    for start in range(0, len(ids), CHUNK):
        locked += session.execute(sa.select(p.c.id).where(p.c.id.in_(ids[start:start + CHUNK])).order_by(p.c.id)
                                  .with_for_update(key_share=True)).scalars()
    return locked


def lock_group(session: Session, group_id: int) -> list[int]:
    """Lock every party of an employer group (by id); the batch then works on exactly these parties."""
    p = Party.__table__
    return list(session.execute(sa.select(p.c.id).where(p.c.group_id == group_id).order_by(p.c.id)
                                .with_for_update(key_share=True)).scalars())


def lock_imports(session: Session) -> None:
    """Make imports take turns (two files creating the same new patients or parties)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})


def require_locked(locked: Iterable[int], party_ids: Iterable[int | None]) -> None:
    """Refuse when a row moved to a party this action did not lock (it changed between look and lock)."""
    if {i for i in party_ids if i is not None} - set(locked):
        raise ConcurrencyError("Another manager moved some of these records to another party at the same moment; "
                               "nothing was changed. Try again.")
