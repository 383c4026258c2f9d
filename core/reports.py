"""Figures and chart data for the dashboards, from the same live totals as every other page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import clock
from core.accounts import AGING_BUCKETS, aging_bucket
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


@guarded
def headline(session: Session, *, now: datetime | None = None) -> Headline:
    if now is not None and now.tzinfo is None:
        raise InvoiceDeskError("The moment for the headline figures must carry its time zone (stored moments are UTC).")
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
                    week)


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
    """Invoices by the month they were first sent: what was billed, what is settled, what is still open."""
    if not 1 <= months <= 120:
        raise InvoiceDeskError(f"Show from 1 to 120 months, not {months}.")
    today = to_date(today, "Today") or clock.today(session)
    start = date(today.year, today.month, 1)
    for _ in range(months - 1):
        start = (start - timedelta(days=1)).replace(day=1)
    inv = Invoice.__table__
    q = sa.select(inv.c.first_sent_on, inv.c.billed_cents, inv.c.balance_cents).where(
        inv.c.first_sent_on >= start, inv.c.first_sent_on <= today)
    if party_id is not None:
        q = q.where(inv.c.party_id == party_id)
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
def open_aging(session: Session, *, party_id: int | None = None, today: date | None = None) -> dict[str, Decimal]:
    today = today or clock.today(session)
    inv = Invoice.__table__
    q = sa.select(inv.c.first_sent_on, inv.c.balance_cents).where(inv.c.paid == sa.false())
    if party_id is not None:
        q = q.where(inv.c.party_id == party_id)
    aging = dict.fromkeys(AGING_BUCKETS, Decimal("0.00"))
    for sent, balance in session.execute(q):
        aging[aging_bucket((today - sent).days)] += from_cents(balance)
    return aging
