"""Live invoice totals: billed, payments, credits, balance due and status, from one ledger rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import clock
from core.errors import NotFoundError
from core.models import Invoice
from core.money import from_cents

PAID, OPEN = "Paid", "Open"


@dataclass(frozen=True)
class Totals:
    billed: Decimal
    payments: Decimal
    credits: Decimal
    balance_due: Decimal
    status: str
    partially_paid: bool = False
    credited: bool = False
    overdue: bool = False

    @property
    def flags(self) -> list[str]:
        return [name for name, on in (("partially paid", self.partially_paid), ("credited", self.credited),
                                      ("overdue", self.overdue)) if on]


def totals_from_cents(billed: int, payments: int, credits: int, due_on: date | None = None,
                      as_of: date | None = None) -> Totals:
    """The one place cents become Totals, so pages, PDFs, charts and exports agree."""
    balance = billed - payments - credits
    return Totals(
        billed=from_cents(billed), payments=from_cents(payments), credits=from_cents(credits),
        balance_due=from_cents(balance), status=PAID if balance == 0 else OPEN,
        partially_paid=payments > 0 and balance > 0, credited=credits > 0,
        overdue=balance > 0 and due_on is not None and due_on < (as_of or clock.today()),
    )


def invoice_totals(session: Session, invoice_id: int) -> Totals:
    inv = session.execute(
        sa.select(Invoice.billed_cents, Invoice.payments_cents, Invoice.credits_cents, Invoice.due_on)
        .where(Invoice.id == invoice_id)
    ).first()
    if inv is None:
        raise NotFoundError(f"There is no invoice with id {invoice_id}.")
    return totals_from_cents(inv.billed_cents, inv.payments_cents, inv.credits_cents, inv.due_on,
                             clock.today(session))
