"""A party's account: open balance, unapplied money, aging, last payment and days to pay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import clock
from core.allocations import unapplied_total
from core.db import guarded
from core.models import Allocation, Invoice, Receipt
from core.money import from_cents
from core.parties import get_party

AGING_BUCKETS = ("0-30", "31-60", "61-90", "91-120", "over 120")


@dataclass(frozen=True)
class AccountSummary:
    party_id: int
    open_balance: Decimal
    open_invoices: int
    unapplied_receipts: Decimal
    unapplied_credits: Decimal
    aging: dict[str, Decimal]
    last_payment_on: date | None
    last_payment_amount: Decimal | None
    average_days_to_pay: float | None

    @property
    def unapplied(self) -> Decimal:
        return self.unapplied_receipts + self.unapplied_credits


def aging_bucket(days: int) -> str:
    for limit, name in ((30, "0-30"), (60, "31-60"), (90, "61-90"), (120, "91-120")):
        if days <= limit:
            return name
    return "over 120"


@guarded
def party_account(session: Session, *, party_id: int, as_of: date | None = None) -> AccountSummary:
    get_party(session, party_id)
    as_of = as_of or clock.today(session)
    inv, r, a = Invoice.__table__, Receipt.__table__, Allocation.__table__
    aging = dict.fromkeys(AGING_BUCKETS, Decimal("0.00"))
    open_count, open_cents = 0, 0
    for first_sent, balance in session.execute(sa.select(inv.c.first_sent_on, inv.c.balance_cents).where(
            inv.c.party_id == party_id, inv.c.paid == sa.false())):
        aging[aging_bucket((as_of - first_sent).days)] += from_cents(balance)
        open_count, open_cents = open_count + 1, open_cents + balance
    unapplied_receipts, unapplied_credits = unapplied_total(session, party_id=party_id)
    last = session.execute(sa.select(r.c.received_date, r.c.amount_cents).where(
        r.c.party_id == party_id, r.c.voided == sa.false()).order_by(r.c.received_date.desc(), r.c.id.desc())
        .limit(1)).first()
    # Days to pay: from first sending to the receipt that brought each paid invoice to zero.
    paid_on = (sa.select(inv.c.id, inv.c.first_sent_on, sa.func.max(r.c.received_date).label("paid_on"))
               .join(a, a.c.invoice_id == inv.c.id).join(r, r.c.id == a.c.receipt_id)
               .where(inv.c.party_id == party_id, inv.c.paid == sa.true(), a.c.live == sa.true())
               .group_by(inv.c.id, inv.c.first_sent_on))
    days = [max(0, (row.paid_on - row.first_sent_on).days) for row in session.execute(paid_on)]
    return AccountSummary(
        party_id=party_id, open_balance=from_cents(open_cents), open_invoices=open_count,
        unapplied_receipts=from_cents(unapplied_receipts), unapplied_credits=from_cents(unapplied_credits),
        aging=aging, last_payment_on=last.received_date if last else None,
        last_payment_amount=from_cents(last.amount_cents) if last else None,
        average_days_to_pay=round(sum(days) / len(days), 1) if days else None,
    )
