"""Numbers that are unique and never reused: batches, invoices, credit memos, receipts, write-offs, refunds."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from core.db import guarded
from core.models import Batch, CreditMemo, Invoice, NumberSequence, Receipt, Refund, WriteOff

SERIES = {
    "batch": (Batch.__table__.c.number),
    "invoice": (Invoice.__table__.c.seq),
    "credit_memo": (CreditMemo.__table__.c.number),
    "receipt": (Receipt.__table__.c.number),
    "write_off": (WriteOff.__table__.c.number),
    "refund": (Refund.__table__.c.number),
}


def next_numbers(session: Session, series: str, count: int = 1) -> range:
    """Reserve `count` consecutive numbers; concurrent callers queue on the series' row lock."""
    if series not in SERIES:
        raise ValueError(f"unknown numbering series {series!r}")
    t = NumberSequence.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(t).values(name=series, last_value=0).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(t).values(name=series, last_value=0).on_conflict_do_nothing())
    elif session.execute(sa.select(t.c.name).where(t.c.name == series)).first() is None:
        session.execute(sa.insert(t).values(name=series, last_value=0))
    last = session.execute(
        sa.update(t).where(t.c.name == series).values(last_value=t.c.last_value + count).returning(t.c.last_value)
    ).scalar_one()
    return range(last - count + 1, last + 1)


@guarded
def numbering_gaps(session: Session) -> dict[str, list[int]]:
    """For each series, the numbers handed out but not in use (a rolled-back or removed record)."""
    t = NumberSequence.__table__
    last = dict(session.execute(sa.select(t.c.name, t.c.last_value)).all())
    gaps: dict[str, list[int]] = {}
    for series, column in SERIES.items():
        used = set(session.execute(sa.select(column)).scalars())
        gaps[series] = [n for n in range(1, int(last.get(series, 0)) + 1) if n not in used]
    return gaps


def printed_invoice_number(number: sa.ColumnElement[str], times_batched: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """The number a sending prints, in SQL: INV-000010 the first time, INV-000010-2 on the first resend."""
    return sa.case((times_batched == 1, number), else_=number + "-" + sa.cast(times_batched, sa.String))


def invoice_number(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:06d}"


def credit_memo_number(number: int) -> str:
    return f"CM-{number:06d}"


def receipt_number(number: int) -> str:
    return f"RCT-{number:06d}"


def write_off_number(number: int) -> str:
    return f"WO-{number:06d}"


def refund_number(number: int) -> str:
    return f"RF-{number:06d}"
