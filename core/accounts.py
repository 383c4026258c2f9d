"""A party's account as of a day: open balance, unapplied money, aging, last payment and days to pay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import as_of as as_of_sql
from core import clock
from core.dates import to_date
from core.db import guarded
from core.models import AgingBasis
from core.money import from_cents
from core.parties import get_party

AGING_BUCKETS = as_of_sql.FIRST_SENT_BUCKETS


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
    as_of: date | None = None
    aging_basis: str = AgingBasis.FIRST_SENT

    @property
    def unapplied(self) -> Decimal:
        return self.unapplied_receipts + self.unapplied_credits

    @property
    def aging_label(self) -> str:
        """What the aging counts: "days since first sent" or "days past due"."""
        return as_of_sql.basis_label(self.aging_basis)


def aging_bucket(days: int, basis: str = AgingBasis.FIRST_SENT) -> str:
    return as_of_sql.bucket(days, basis)


def aging_basis(session: Session) -> str:
    """The invoice profile's aging basis: by date first sent (the default) or by due date."""
    from core.settings import current_profile

    profile = current_profile(session)
    return profile.aging_basis if profile is not None else AgingBasis.FIRST_SENT


def aging_of(rows, day: date, basis: str) -> dict[str, Decimal]:
    """Open balances into the basis's buckets, from rows with first_sent_on, due_on and balance (cents)."""
    aging = dict.fromkeys(as_of_sql.buckets(basis), Decimal("0.00"))
    for row in rows:
        start = row.due_on if basis == AgingBasis.DUE_DATE else row.first_sent_on
        aging[as_of_sql.bucket((day - start).days, basis)] += from_cents(row.balance)
    return aging


@guarded
def party_account(session: Session, *, party_id: int, as_of: date | None = None) -> AccountSummary:
    """A party's account as of a day (default the practice's today): only what was sent, received, allocated,
    credited, written off or refunded on or before it counts, and ages count from it."""
    get_party(session, party_id)
    day = to_date(as_of, "As of") or clock.today(session)
    basis = aging_basis(session)
    balances = as_of_sql.invoice_balances(day, party_id=party_id).subquery()
    open_rows = session.execute(sa.select(balances).where(balances.c.balance > 0)).all()
    receipts = as_of_sql.receipts(day, party_id=party_id).subquery()
    memos = as_of_sql.credit_memos(day, party_id=party_id).subquery()
    unapplied_receipts = session.execute(sa.select(sa.func.coalesce(sa.func.sum(receipts.c.unapplied), 0))).scalar_one()
    unapplied_credits = session.execute(sa.select(sa.func.coalesce(sa.func.sum(memos.c.unapplied), 0))).scalar_one()
    last = session.execute(sa.select(receipts.c.received_date, receipts.c.amount)
                           .order_by(receipts.c.received_date.desc(), receipts.c.id.desc()).limit(1)).first()
    # Days to pay: from first sending to the receipt that brought each invoice paid by that day to zero.
    paid = as_of_sql.paid_invoices(day, party_id=party_id).subquery()
    paid_count, paid_days = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(paid.c.days),
                                                                                         0))).one()
    return AccountSummary(
        party_id=party_id, open_balance=from_cents(sum(row.balance for row in open_rows)),
        open_invoices=len(open_rows), unapplied_receipts=from_cents(unapplied_receipts),
        unapplied_credits=from_cents(unapplied_credits), aging=aging_of(open_rows, day, basis),
        last_payment_on=last.received_date if last else None,
        last_payment_amount=from_cents(last.amount) if last else None,
        average_days_to_pay=round(paid_days / paid_count, 1) if paid_count else None, as_of=day, aging_basis=basis,
    )
