"""Invoices: creating them and their lines, their one due date, their live totals and status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col

from core import clock
from core.db import guarded
from core.errors import ConcurrencyError, NotFoundError
from core.models import Batch, Encounter, Invoice, InvoiceLine, InvoiceProfile, InvoiceStatus, Party
from core.money import from_cents
from core.numbering import invoice_number, next_numbers


def due_date(first_sent_on: date, terms_days: int) -> date:
    """An invoice's one due date: its first sending plus the profile's terms (domain rule 14)."""
    return first_sent_on + timedelta(days=terms_days)


def status(balance_cents: int) -> InvoiceStatus:
    """The one rule for "paid": nothing left to pay."""
    return InvoiceStatus.PAID if balance_cents == 0 else InvoiceStatus.OPEN


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
    writeoffs: Decimal = Decimal("0.00")

    @property
    def written_off(self) -> bool:
        return self.writeoffs > 0

    @property
    def flags(self) -> list[str]:
        return list(flag_names(self.partially_paid, self.credited, self.written_off, self.overdue))


def flag_names(partially_paid: bool, credited: bool, written_off: bool, overdue: bool) -> tuple[str, ...]:
    """An invoice's flags as pages, exports and the history name them, in that order."""
    return tuple(name for name, on in (("partially paid", partially_paid), ("credited", credited),
                                       ("written off", written_off), ("overdue", overdue)) if on)


def balance_status_flags(billed: int, payments: int, credits: int, writeoffs: int, due_on: date | None,
                         as_of: date) -> tuple[int, InvoiceStatus, tuple[str, ...]]:
    """What totals_from_cents says of cents, without the Totals object: (balance cents, status, flags), for
    pages of rows read many at a time (invoice history)."""
    balance = billed - payments - credits - writeoffs
    return balance, status(balance), flag_names(payments > 0 and balance > 0, credits > 0, writeoffs > 0,
                                                balance > 0 and due_on is not None and due_on < as_of)


def totals_from_cents(billed: int, payments: int, credits: int, due_on: date | None = None,
                      as_of: date | None = None, writeoffs: int = 0) -> Totals:
    """The one place cents become Totals, so pages, PDFs, charts and exports agree."""
    balance = billed - payments - credits - writeoffs
    return Totals(
        billed=from_cents(billed), payments=from_cents(payments), credits=from_cents(credits),
        balance_due=from_cents(balance), status=status(balance),
        partially_paid=payments > 0 and balance > 0, credited=credits > 0,
        overdue=balance > 0 and due_on is not None and due_on < (as_of or clock.today()),
        writeoffs=from_cents(writeoffs),
    )


@guarded
def invoice_totals(session: Session, invoice_id: int) -> Totals:
    inv = session.execute(
        sa.select(col(Invoice.billed_cents), col(Invoice.payments_cents), col(Invoice.credits_cents),
                  col(Invoice.writeoffs_cents), col(Invoice.due_on))
        .where(col(Invoice.id) == invoice_id)
    ).first()
    if inv is None:
        raise NotFoundError(f"There is no invoice with id {invoice_id}.")
    return totals_from_cents(inv.billed_cents, inv.payments_cents, inv.credits_cents, inv.due_on,
                             clock.today(session), inv.writeoffs_cents)


def insert_invoices(session: Session, batch: Batch, party_ids: list[int], eligible: sa.ColumnElement[bool]) -> None:
    """One new invoice per party, first sent by this batch, with a line for every eligible encounter of the party.

    The caller holds the parties' locks. An invoice with no line is never committed (domain rule 15).
    """
    profile = session.get_one(InvoiceProfile, batch.profile_id)
    seqs = next_numbers(session, "invoice", len(party_ids))
    due_on = due_date(batch.sent_on, profile.terms_days)
    inv = Invoice.__table__
    session.execute(sa.insert(inv), [
        {"seq": seq, "number": invoice_number(profile.number_prefix, seq), "party_id": pid, "batch_id": batch.id,
         "last_batch_id": batch.id, "first_sent_on": batch.sent_on, "due_on": due_on, "created_at": batch.created_at,
         "times_batched": 1, "encounter_count": 0, "billed_cents": 0, "payments_cents": 0, "credits_cents": 0, "writeoffs_cents": 0,
         "balance_cents": 0, "paid": False}
        for seq, pid in zip(seqs, party_ids, strict=True)
    ])
    # Every eligible encounter onto its party's new invoice, in one INSERT ... SELECT.
    lines = InvoiceLine.__table__
    source = (sa.select(inv.c.id, col(Encounter.id), col(Encounter.total_cents), sa.true())
              .select_from(Encounter)
              .join(Party, col(Party.id) == col(Encounter.party_id))
              .join(inv, sa.and_(inv.c.party_id == col(Encounter.party_id), inv.c.batch_id == batch.id))
              .where(eligible)
              .order_by(inv.c.id, col(Encounter.id)))  # line ids in one order on every database
    session.execute(sa.insert(lines).from_select(["invoice_id", "encounter_id", "amount_cents", "live"], source))
    billed = sa.select(sa.func.coalesce(sa.func.sum(lines.c.amount_cents), 0)).where(
        lines.c.invoice_id == inv.c.id).scalar_subquery()
    count = sa.select(sa.func.count()).where(lines.c.invoice_id == inv.c.id).scalar_subquery()
    session.execute(sa.update(inv).where(inv.c.batch_id == batch.id).values(
        billed_cents=billed, balance_cents=billed, encounter_count=count))
    # Nothing empty is ever committed (domain rule 15): an invoice with no line means the encounters moved.
    empty = session.execute(sa.select(sa.func.count()).where(inv.c.batch_id == batch.id,
                                                             inv.c.encounter_count == 0)).scalar_one()
    if empty:
        raise ConcurrencyError("Another manager changed these encounters at the same moment; nothing was created. "
                               "Preview again and retry.")
