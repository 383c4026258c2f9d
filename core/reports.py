"""Figures and chart data for the dashboards, from the same live totals as every other page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import as_of as as_of_sql
from core import clock
from core.accounts import aging_basis, aging_of
from core.allocations import unapplied_total
from core.dates import to_date
from core.db import guarded
from core.errors import InvoiceDeskError
from core.models import Batch, Invoice, Receipt
from core.money import from_cents


@dataclass(frozen=True)
class Headline:
    open_invoices: int
    open_balance: Decimal
    overdue_invoices: int
    overdue_balance: Decimal
    paid_last_30_days: Decimal
    unapplied: Decimal
    last_batch_number: int | None
    last_batch_at: datetime | None
    batches_last_24_hours: int
    batches_last_7_days: int
    as_of: date | None = None


@guarded
def headline(session: Session, *, now: datetime | None = None, as_of: date | None = None) -> Headline:
    """The dashboard's figures now, or as they stood at the end of a past day (`as_of`)."""
    if now is not None and now.tzinfo is None:
        raise InvoiceDeskError("The moment for the headline figures must carry its time zone (stored moments are UTC).")
    day = to_date(as_of, "As of")
    if day is not None:
        return _headline_as_of(session, day)
    now = now or clock.now()
    today = clock.day_of(now, session)
    inv, r, b = Invoice.__table__, Receipt.__table__, Batch.__table__
    open_count, open_cents = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
        inv.c.balance_cents), 0)).where(inv.c.paid == sa.false())).one()
    overdue_count, overdue_cents = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
        inv.c.balance_cents), 0)).where(inv.c.paid == sa.false(), inv.c.due_on < today)).one()
    paid = session.execute(sa.select(sa.func.coalesce(sa.func.sum(r.c.amount_cents), 0)).where(
        r.c.voided == sa.false(), r.c.received_date > today - timedelta(days=30))).scalar_one()
    unapplied = sum(unapplied_total(session))
    last = session.execute(sa.select(b.c.number, b.c.created_at).order_by(b.c.created_at.desc(), b.c.id.desc())
                           .limit(1)).first()
    day = session.execute(sa.select(sa.func.count()).where(b.c.created_at >= now - timedelta(hours=24))).scalar_one()
    week = session.execute(sa.select(sa.func.count()).where(b.c.created_at >= now - timedelta(days=7))).scalar_one()
    return Headline(open_count, from_cents(open_cents), overdue_count, from_cents(overdue_cents), from_cents(paid),
                    from_cents(unapplied), last.number if last else None, last.created_at if last else None, day,
                    week, as_of=today)


def _headline_as_of(session: Session, day: date) -> Headline:
    """The headline as of the end of a day, from the ledger's days (core.as_of); batches counted up to its end."""
    balances = as_of_sql.invoice_balances(day).subquery()
    open_ = balances.c.balance > 0
    open_count, open_cents, overdue_count, overdue_cents = session.execute(sa.select(
        sa.func.count().filter(open_), sa.func.coalesce(sa.func.sum(balances.c.balance).filter(open_), 0),
        sa.func.count().filter(open_, balances.c.due_on < day),
        sa.func.coalesce(sa.func.sum(balances.c.balance).filter(open_, balances.c.due_on < day), 0))).one()
    receipts = as_of_sql.receipts(day).subquery()
    memos = as_of_sql.credit_memos(day).subquery()
    paid = session.execute(sa.select(sa.func.coalesce(sa.func.sum(receipts.c.amount), 0)).where(
        receipts.c.received_date > day - timedelta(days=30))).scalar_one()
    unapplied = (session.execute(sa.select(sa.func.coalesce(sa.func.sum(receipts.c.unapplied), 0))).scalar_one()
                 + session.execute(sa.select(sa.func.coalesce(sa.func.sum(memos.c.unapplied), 0))).scalar_one())
    b = Batch.__table__
    end = clock.day_after_start(day, session)
    last = session.execute(sa.select(b.c.number, b.c.created_at).where(b.c.created_at < end)
                           .order_by(b.c.created_at.desc(), b.c.id.desc()).limit(1)).first()
    counted = [session.execute(sa.select(sa.func.count()).where(b.c.created_at < end,
                                                                b.c.created_at >= end - span)).scalar_one()
               for span in (timedelta(hours=24), timedelta(days=7))]
    return Headline(open_count, from_cents(open_cents), overdue_count, from_cents(overdue_cents), from_cents(paid),
                    from_cents(unapplied), last.number if last else None, last.created_at if last else None,
                    counted[0], counted[1], as_of=day)


@dataclass(frozen=True)
class MonthFigures:
    month: date
    invoices: int
    billed: Decimal
    paid_or_credited: Decimal
    open: Decimal


@guarded
def invoices_by_month(session: Session, *, months: int = 12, party_id: int | None = None,
                      today: date | None = None) -> list[MonthFigures]:
    """Invoices by the month they were first sent: what was billed, what is settled, what was still open at the end of
    `today` (a past day gives the figures as they stood then)."""
    if not 1 <= months <= 120:
        raise InvoiceDeskError(f"Show from 1 to 120 months, not {months}.")
    today = to_date(today, "Today") or clock.today(session)
    start = date(today.year, today.month, 1)
    for _ in range(months - 1):
        start = (start - timedelta(days=1)).replace(day=1)
    balances = as_of_sql.invoice_balances(today, party_id=party_id).subquery()
    q = sa.select(balances.c.first_sent_on, balances.c.billed, balances.c.balance).where(
        balances.c.first_sent_on >= start)
    buckets: dict[date, list[int]] = {}
    month = start
    while month <= today:
        buckets[month] = [0, 0, 0]
        month = (month + timedelta(days=32)).replace(day=1)
    for sent, billed, balance in session.execute(q):
        b = buckets[date(sent.year, sent.month, 1)]
        b[0] += 1
        b[1] += billed
        b[2] += balance
    return [MonthFigures(m, n, from_cents(billed), from_cents(billed - balance), from_cents(balance))
            for m, (n, billed, balance) in sorted(buckets.items())]


@guarded
def open_aging(session: Session, *, party_id: int | None = None, today: date | None = None,
               as_of: date | None = None) -> dict[str, Decimal]:
    """The open balance by age as of a day (`as_of`, or `today` as the first release named it), in the buckets of
    the profile's aging basis (core.aging_basis: by date first sent or by due date)."""
    day = to_date(as_of, "As of") or to_date(today, "Today") or clock.today(session)
    balances = as_of_sql.invoice_balances(day, party_id=party_id).subquery()
    rows = session.execute(sa.select(balances.c.first_sent_on, balances.c.due_on, balances.c.balance)
                           .where(balances.c.balance > 0)).all()
    return aging_of(rows, day, aging_basis(session))
